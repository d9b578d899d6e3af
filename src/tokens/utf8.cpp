#include "tokens/utf8.hpp"

#include <cstdint>
#include <cstring>

// Written here rather than taken from a library because what matters is replacing invalid input
// exactly as JavaScript does (that is what reaches npm tiktoken), and the WHATWG decoder is short.
namespace aas::tokens::detail {
namespace {

// Follows the WHATWG UTF-8 decoder: the length of the valid sequence at `pos`, or the number of
// bytes (at least 1) that make up the maximal invalid subsequence there, flagged by `valid`.
std::size_t scan(std::string_view s, std::size_t pos, bool& valid) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char b0 = byte(pos);
  valid = true;
  if (b0 < 0x80) return 1;
  std::size_t needed = 0;
  unsigned char lower = 0x80;
  unsigned char upper = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    needed = 1;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    needed = 2;
    if (b0 == 0xE0) lower = 0xA0;  // overlong
    if (b0 == 0xED) upper = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    needed = 3;
    if (b0 == 0xF0) lower = 0x90;  // overlong
    if (b0 == 0xF4) upper = 0x8F;  // beyond U+10FFFF
  } else {
    valid = false;
    return 1;
  }
  std::size_t i = pos + 1;
  for (std::size_t seen = 0; seen < needed; ++seen, ++i) {
    if (i >= s.size() || byte(i) < lower || byte(i) > upper) {
      valid = false;  // the offending byte is not part of the subsequence: it is looked at again
      return i - pos;
    }
    lower = 0x80;
    upper = 0xBF;
  }
  return i - pos;
}

}  // namespace

bool is_valid_utf8(std::string_view s) {
  std::size_t pos = 0;
  while (pos < s.size()) {
    // ASCII eight bytes at a time: most text is mostly ASCII.
    if (pos + 8 <= s.size()) {
      std::uint64_t word;
      std::memcpy(&word, s.data() + pos, 8);
      if ((word & 0x8080808080808080ull) == 0) {
        pos += 8;
        continue;
      }
    }
    bool valid;
    pos += scan(s, pos, valid);
    if (!valid) return false;
  }
  return true;
}

std::string replace_invalid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 16);
  std::size_t pos = 0;
  while (pos < s.size()) {
    bool valid;
    const std::size_t n = scan(s, pos, valid);
    if (valid) {
      out.append(s.substr(pos, n));
    } else {
      out.append("\xEF\xBF\xBD");
    }
    pos += n;
  }
  return out;
}

}  // namespace aas::tokens::detail
