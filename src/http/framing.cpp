#include "http/framing.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>

#include <algorithm>

namespace aas::http {

namespace bhttp = boost::beast::http;

std::optional<std::string_view> framing_error(const bhttp::request_header<>& head) {
  if (head.count(bhttp::field::host) > 1) return "duplicate Host header";
  if (head.count(bhttp::field::authorization) > 1) return "duplicate Authorization header";
  const std::size_t lengths = head.count(bhttp::field::content_length);
  if (lengths > 1) return "duplicate Content-Length header";
  if (lengths == 1) {
    const auto value = head[bhttp::field::content_length];
    if (value.empty() || !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return "Content-Length must be one decimal number";
  }
  const std::size_t codings = head.count(bhttp::field::transfer_encoding);
  if (codings == 0) return std::nullopt;
  if (head.version() < 11) return "Transfer-Encoding in an HTTP/1.0 request";
  if (lengths > 0) return "both Transfer-Encoding and Content-Length";
  // Beast has trimmed the field value; two fields are a list, which we refuse like "x, chunked".
  if (codings > 1 || !boost::beast::iequals(head[bhttp::field::transfer_encoding], "chunked"))
    return "only the chunked transfer coding is accepted";
  return std::nullopt;
}

}  // namespace aas::http
