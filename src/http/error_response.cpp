#include "http/error_response.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <string>

namespace aas::http {

namespace {

// OpenAI's error types (what its SDKs and tools built on them read beside the status).
std::string_view openai_type(errc code) {
  switch (code) {
    case errc::unauthorized: return "authentication_error";
    case errc::forbidden: return "permission_error";
    case errc::not_found: return "not_found_error";
    case errc::rate_limited: return "rate_limit_error";
    case errc::budget_exceeded: return "insufficient_quota";
    case errc::internal:
    case errc::upstream_error:
    case errc::unavailable:
    case errc::upstream_timeout: return "server_error";
    default: return "invalid_request_error";
  }
}

// Anthropic's error types, as its API documents them per status.
std::string_view anthropic_type(errc code) {
  switch (code) {
    case errc::unauthorized: return "authentication_error";
    case errc::forbidden: return "permission_error";
    case errc::not_found: return "not_found_error";
    case errc::payload_too_large: return "request_too_large";
    case errc::rate_limited:
    case errc::budget_exceeded: return "rate_limit_error";
    case errc::upstream_timeout: return "timeout_error";
    case errc::unavailable: return "overloaded_error";
    case errc::internal:
    case errc::upstream_error: return "api_error";
    default: return "invalid_request_error";
  }
}

// The field a 400 is about: the service's messages name it first, in quotes ("'model' is
// required", "'messages[0].role' must be a string").
boost::json::value param_of(const Error& e) {
  if (e.code != errc::invalid_request) return nullptr;
  const std::string_view m = e.message;
  if (m.size() < 3 || m.front() != '\'') return nullptr;
  const std::size_t end = m.find('\'', 1);
  if (end == std::string_view::npos || end == 1) return nullptr;
  return boost::json::string(m.substr(1, end - 1));
}

// "model 'x' does not exist" (the gateway's unknown model): OpenAI's own code and type for it.
bool is_unknown_model(const Error& e) {
  return e.code == errc::not_found && std::string_view(e.message).starts_with("model '");
}

}  // namespace

ErrorShape error_shape_for(std::string_view path) noexcept {
  constexpr std::string_view gateway = "/api/ai/v1/";
  if (!path.starts_with(gateway)) return ErrorShape::service;
  const std::string_view rest = path.substr(gateway.size());
  if (rest == "messages" || rest.starts_with("messages/") || rest.starts_with("messages?"))
    return ErrorShape::anthropic;
  return ErrorShape::openai;
}

boost::json::object openai_error_object(const Error& e) {
  if (is_unknown_model(e))
    return boost::json::object{
        {"message", e.message}, {"type", "invalid_request_error"}, {"param", "model"}, {"code", "model_not_found"}};
  return boost::json::object{{"message", e.message},
                             {"type", openai_type(e.code)},
                             {"param", param_of(e)},
                             {"code", code_name(e.code)}};
}

boost::json::object anthropic_error_body(const Error& e, std::string_view request_id) {
  boost::json::object body{
      {"type", "error"},
      {"error", boost::json::object{{"type", anthropic_type(e.code)}, {"message", e.message}}}};
  if (!request_id.empty()) body["request_id"] = request_id;
  return body;
}

Response error_response(const Error& e, std::string_view request_id, ErrorShape shape) {
  Response res;
  res.status = http_status(e.code);
  if (shape == ErrorShape::openai) {
    res.body = boost::json::serialize(boost::json::object{{"error", openai_error_object(e)}});
  } else if (shape == ErrorShape::anthropic) {
    res.body = boost::json::serialize(anthropic_error_body(e, request_id));
    // Anthropic's SDK reads the request id from this header (OpenAI's from X-Request-Id, which
    // every response carries).
    res.headers.push_back({"request-id", std::string(request_id)});
  } else {
    // A stack buffer for the JSON tree; monotonic_resource falls back to the heap when a message
    // is long.
    unsigned char buffer[2048];
    boost::json::monotonic_resource arena(buffer, sizeof buffer);
    boost::json::object body(&arena);
    body["success"] = false;
    boost::json::object& error = body["error"].emplace_object();
    error["code"] = code_name(e.code);
    error["message"] = e.message;
    body["requestId"] = request_id;
    res.body = boost::json::serialize(body);
  }
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
