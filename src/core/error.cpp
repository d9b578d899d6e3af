#include "core/error.hpp"

#include <boost/assert/source_location.hpp>

#include <stdexcept>

namespace aas {

std::string_view code_name(errc code) noexcept {
  switch (code) {
    case errc::invalid_request: return "invalid_request";
    case errc::unauthorized: return "unauthorized";
    case errc::forbidden: return "forbidden";
    case errc::not_found: return "not_found";
    case errc::method_not_allowed: return "method_not_allowed";
    case errc::conflict: return "conflict";
    case errc::payload_too_large: return "payload_too_large";
    case errc::unsupported_media_type: return "unsupported_media_type";
    case errc::rate_limited: return "rate_limited";
    case errc::budget_exceeded: return "budget_exceeded";
    case errc::internal: return "internal";
    case errc::upstream_error: return "upstream_error";
    case errc::unavailable: return "unavailable";
    case errc::upstream_timeout: return "upstream_timeout";
  }
  return "internal";
}

int http_status(errc code) noexcept {
  switch (code) {
    case errc::invalid_request: return 400;
    case errc::unauthorized: return 401;
    case errc::forbidden: return 403;
    case errc::not_found: return 404;
    case errc::method_not_allowed: return 405;
    case errc::conflict: return 409;
    case errc::payload_too_large: return 413;
    case errc::unsupported_media_type: return 415;
    case errc::rate_limited: return 429;
    case errc::budget_exceeded: return 429;
    case errc::internal: return 500;
    case errc::upstream_error: return 502;
    case errc::unavailable: return 503;
    case errc::upstream_timeout: return 504;
  }
  return 500;
}

Error make_error(errc code, std::string message, std::string detail) {
  return Error{code, std::move(message), std::move(detail), std::nullopt, std::nullopt};
}

void throw_exception_from_error(Error const& e, boost::source_location const&) {
  throw std::runtime_error(std::string(code_name(e.code)) + ": " + e.message +
                           (e.detail.empty() ? "" : " (" + e.detail + ")"));
}

}  // namespace aas
