#pragma once
#include "core/error.hpp"
#include "http/message.hpp"

#include <string_view>

namespace aas::http {

// The one place an Error becomes HTTP: status from the taxonomy, body
// {"success":false,"error":{"code","message"},"requestId"}, Retry-After when set.
Response error_response(const Error& e, std::string_view request_id);

// {"success":true,"data":<data_json>} with the given status.
Response json_ok(std::string data_json, int status = 200);

}  // namespace aas::http
