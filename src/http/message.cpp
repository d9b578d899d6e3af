#include "http/message.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace aas::http {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Form-style decoding of one query key or value: "%41" -> 'A', '+' -> ' '. A malformed escape
// is kept literally rather than rejected, so one bad parameter cannot hide the others.
std::string decode_query_part(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 &&
               hex_value(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

std::optional<std::string_view> Request::header(std::string_view lower_name) const {
  for (const Header& h : headers) {
    if (h.name == lower_name) return std::string_view(h.value);
  }
  return std::nullopt;
}

std::optional<std::string> Request::query(std::string_view key) const {
  std::string_view rest = query_string;
  while (!rest.empty()) {
    const std::size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);

    const std::size_t eq = pair.find('=');
    const std::string_view raw_key = pair.substr(0, eq);
    const bool plain = raw_key.find_first_of("%+") == std::string_view::npos;
    if (plain ? raw_key != key : decode_query_part(raw_key) != key) continue;
    if (eq == std::string_view::npos) return std::string{};
    return decode_query_part(pair.substr(eq + 1));
  }
  return std::nullopt;
}

std::optional<std::string> Request::query_param_with_nul() const {
  // Only an escape can carry a NUL into a request target.
  if (query_string.find('%') == std::string::npos) return std::nullopt;
  std::string_view rest = query_string;
  while (!rest.empty()) {
    const std::size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    if (decode_query_part(pair).find('\0') != std::string::npos) {
      std::string key = decode_query_part(pair.substr(0, pair.find('=')));
      std::replace(key.begin(), key.end(), '\0', '?');  // the name goes into a message
      return key;
    }
  }
  return std::nullopt;
}

boost::asio::awaitable<void> client_gone(BodyWriter& out) {
  namespace asio = boost::asio;
  asio::steady_timer told(co_await asio::this_coro::executor, asio::steady_timer::time_point::max());
  bool gone = false;  // a writer whose client is gone already calls back at once
  out.on_closed([&] {
    gone = true;
    told.cancel();
  });
  if (!gone) co_await told.async_wait(asio::as_tuple(asio::use_awaitable));
  out.on_closed(nullptr);
}

}  // namespace aas::http
