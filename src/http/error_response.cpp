#include "http/error_response.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <string>

namespace aas::http {

Response error_response(const Error& e, std::string_view request_id) {
  // A stack buffer for the JSON tree; monotonic_resource falls back to the heap when a message is
  // long.
  unsigned char buffer[2048];
  boost::json::monotonic_resource arena(buffer, sizeof buffer);
  boost::json::object body(&arena);
  body["success"] = false;
  boost::json::object& error = body["error"].emplace_object();
  error["code"] = code_name(e.code);
  error["message"] = e.message;
  body["requestId"] = request_id;

  Response res;
  res.status = http_status(e.code);
  res.body = boost::json::serialize(body);
  if (e.retry_after_seconds) {
    res.headers.push_back({"retry-after", std::to_string(*e.retry_after_seconds)});
  }
  if (e.rate_limit) {
    res.headers.push_back({"ratelimit-limit", std::to_string(e.rate_limit->limit)});
    res.headers.push_back({"ratelimit-remaining", std::to_string(e.rate_limit->remaining)});
    res.headers.push_back({"ratelimit-reset", std::to_string(e.rate_limit->reset_seconds)});
  }
  if (e.code == errc::unauthorized) res.headers.push_back({"www-authenticate", "Bearer"});
  return res;
}

Response json_ok(std::string data_json, int status) {
  static constexpr std::string_view prefix = R"({"success":true,"data":)";
  Response res;
  res.status = status;
  res.body.reserve(prefix.size() + data_json.size() + 1);
  res.body.append(prefix).append(data_json).push_back('}');
  return res;
}

}  // namespace aas::http
