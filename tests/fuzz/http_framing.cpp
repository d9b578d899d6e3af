// Raw bytes from a client -> Beast's request parser (as src/http/server.cpp configures it) ->
// framing_error (src/http/framing.cpp) -> the query readers of http::Request. Nothing may crash,
// and a head framing_error accepts must have a length Beast and we agree on.
#include "http/framing.hpp"
#include "http/message.hpp"

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace bhttp = boost::beast::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  bhttp::request_parser<bhttp::string_body> parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(64 * 1024);
  parser.eager(false);
  boost::system::error_code ec;
  std::size_t used = 0;
  // The head first, as the server reads it before deciding whether to read the body at all.
  while (used < bytes.size() && !parser.is_header_done()) {
    const std::size_t n = parser.put(boost::asio::buffer(bytes.data() + used, bytes.size() - used), ec);
    if (ec == bhttp::error::need_more) ec = {};
    if (ec || n == 0) break;
    used += n;
  }
  if (ec || !parser.is_header_done()) return 0;
  const auto problem = aas::http::framing_error(parser.get().base());
  if (problem) return 0;
  // An accepted head is chunked, has one decimal Content-Length, or has no body: never two at once.
  const auto& head = parser.get().base();
  if (parser.chunked() && head.count(bhttp::field::content_length) != 0) std::abort();

  aas::http::Request req;
  req.target = std::string(head.target());
  const auto q = req.target.find('?');
  req.path = req.target.substr(0, q);
  if (q != std::string::npos) req.query_string = req.target.substr(q + 1);
  for (const auto& field : head) req.headers.push_back({std::string(field.name_string()), std::string(field.value())});
  (void)req.query("limit");
  (void)req.query("cursor");
  (void)req.query_param_with_nul();
  (void)req.header("authorization");
  return 0;
}
