#pragma once
#include "core/error.hpp"
#include "http/message.hpp"

#include <string_view>

namespace boost::json { class object; }

namespace aas::http {

// Which API's error body a route answers with. The vendor-compatible routes speak their vendor's
// shape so that each official SDK raises its own typed errors and retries as against the vendor.
enum class ErrorShape {
  service,    // {"success":false,"error":{"code","message"},"requestId"}
  openai,     // {"error":{"message","type","param","code"}}: /api/ai/v1/* (OpenAI's routes)
  anthropic,  // {"type":"error","error":{"type","message"},"request_id"}: /api/ai/v1/messages
};

// The shape of a request path's errors: decided by the path alone, so that 401, 404, 405, 415
// and timeouts answered before or without a handler speak the same shape as the handler's own.
ErrorShape error_shape_for(std::string_view path) noexcept;

// The one place an Error becomes HTTP: status from the taxonomy, the body in `shape`,
// Retry-After and RateLimit-* when set. The request id also goes in the body where the vendor
// puts it (service: requestId; Anthropic: request_id; OpenAI has it only in the header).
Response error_response(const Error& e, std::string_view request_id, ErrorShape shape = ErrorShape::service);

// The `error` object of OpenAI's shape, also sent as an in-stream error event by the gateway:
// type as OpenAI names it, param when the message names a field ('model' ...), code our own.
boost::json::object openai_error_object(const Error& e);
// The whole body of Anthropic's shape ({"type":"error","error":{...}}), also its stream's
// `error` event; request_id omitted when empty.
boost::json::object anthropic_error_body(const Error& e, std::string_view request_id);

// {"success":true,"data":<data_json>} with the given status.
Response json_ok(std::string data_json, int status = 200);

}  // namespace aas::http
