#pragma once
// The one error taxonomy of the service. Expected failures travel as Result<T>; the HTTP layer maps
// an Error to a status and a JSON envelope in exactly one place (http/error_response.cpp).

#include <boost/system/result.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace boost { struct source_location; }

namespace aas {

enum class errc {
  invalid_request,         // 400
  unauthorized,            // 401
  forbidden,               // 403
  not_found,               // 404
  method_not_allowed,      // 405
  conflict,                // 409
  payload_too_large,       // 413
  unsupported_media_type,  // 415
  rate_limited,            // 429 (+ Retry-After)
  budget_exceeded,         // 429
  internal,                // 500
  upstream_error,          // 502
  unavailable,             // 503
  upstream_timeout,        // 504
};

// The stable code that clients see in `error.code`, e.g. "not_found".
std::string_view code_name(errc code) noexcept;
int http_status(errc code) noexcept;

// `message` is shown to the client, so it never holds secrets, stack traces or internals; what
// only operators should see goes into `detail`, which is logged and never sent.
struct Error {
  errc code = errc::internal;
  std::string message;
  std::string detail;
  std::optional<int> retry_after_seconds;
  // A per-user limit's state, sent as RateLimit-Limit / -Remaining / -Reset on a refusal.
  struct RateLimit {
    std::int64_t limit = 0;
    std::int64_t remaining = 0;
    std::int64_t reset_seconds = 0;
  };
  std::optional<RateLimit> rate_limit;
  // The HTTP status an upstream answered with, when the error came from one (retry decisions).
  std::optional<int> upstream_status;
};

Error make_error(errc code, std::string message, std::string detail = {});

// boost::system::result<T, Error>::value() calls this (found by ADL) when it holds an error.
[[noreturn]] void throw_exception_from_error(Error const& e, boost::source_location const& loc);

template <class T>
using Result = boost::system::result<T, Error>;

}  // namespace aas
