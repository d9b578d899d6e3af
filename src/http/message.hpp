#pragma once
// Our own request/response types: handlers and the api layer use these, so Beast stays inside
// src/http (session.cpp) and out of every other translation unit.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aas::http {

struct Header {
  std::string name;  // lowercase
  std::string value;
};

struct Request {
  std::string method;        // "GET", "POST", ...
  std::string target;        // as sent: path + query
  std::string path;          // percent-decoded path, no query
  std::string query_string;  // raw, without '?'
  std::vector<Header> headers;
  std::string body;
  std::string remote_address;

  // Header lookup; `lower_name` must be lowercase.
  std::optional<std::string_view> header(std::string_view lower_name) const;
  // Query parameter, percent-decoded; the first occurrence wins.
  std::optional<std::string> query(std::string_view key) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<Header> headers;
  std::string body;
};

}  // namespace aas::http
