#pragma once
// The framing rules of RFC 9112 that Beast's parser leaves to its user. Beast reads a
// Transfer-Encoding that does not end in `chunked` (`x`, `chunked, identity`) as "no body" and
// takes a repeated Content-Length with the same value, so the body of such a request would run as
// a second request on the connection (request smuggling, when a proxy frames it differently).
// Only server.cpp (and its tests) include this: Beast stays inside src/http.
#include <boost/beast/http/message.hpp>

#include <optional>
#include <string_view>

namespace aas::http {

// Why a request head must be refused (400, then the connection closes because its framing
// cannot be trusted), or nullopt. Checked before the body is read:
// - Transfer-Encoding: only a lone `chunked` (any case), in HTTP/1.1, without Content-Length
//   (RFC 9112 §6.1, §6.3: anything else, e.g. a coding we do not decode, leaves the length unknown);
// - Content-Length: one field holding one decimal number (no list, not repeated);
// - Host and Authorization: at most once (which one counts would depend on who reads them).
std::optional<std::string_view> framing_error(const boost::beast::http::request_header<>& head);

}  // namespace aas::http
