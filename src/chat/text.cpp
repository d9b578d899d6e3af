#include "chat/chat_service.hpp"

namespace aas::chat {

std::size_t count_code_points(std::string_view utf8) noexcept {
  std::size_t n = 0;
  for (unsigned char c : utf8)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

bool is_valid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    std::size_t len;
    std::uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    else return false;
    if (i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
      return false;
    i += len;
  }
  return true;
}

bool is_blank(std::string_view s) noexcept {
  for (char c : s)
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v') return false;
  return true;
}

std::string title_from_message(std::string_view message) {
  constexpr std::size_t max_points = 80;
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  std::size_t b = 0;
  while (b < message.size() && is_space(message[b])) ++b;
  std::string_view line = message.substr(b);
  line = line.substr(0, line.find('\n'));
  while (!line.empty() && is_space(line.back())) line.remove_suffix(1);
  if (count_code_points(line) <= max_points) return std::string(line);
  // Too long: keep max_points - 1 code points and mark the cut.
  std::size_t points = 0, end = 0;
  while (end < line.size()) {
    if ((static_cast<unsigned char>(line[end]) & 0xC0) != 0x80 && points++ == max_points - 1) break;
    ++end;
  }
  return std::string(line.substr(0, end)) + "…";
}

}  // namespace aas::chat
