#include "tokens/split.hpp"

#include <cstdint>

#include "tokens/tables.hpp"

// tiktoken splits text with these patterns (Rust fancy-regex: leftmost-first alternation,
// backtracking, Unicode 16.0 classes; \s is White_Space):
//
// cl100k_base  (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}
//              | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// o200k_base   [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//              |[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//              |\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// They are matched by hand rather than with a regex library: std::regex has neither lookahead nor
// \p{..}, and PCRE2 (the Debian choice that has both) carries Unicode 14 tables, so it would split
// letters added in Unicode 15 and 16 (CJK extensions H and I, among others) differently from
// tiktoken. Matching by hand also avoids a regex engine's per-match overhead, which dominates
// tiktoken's own run time. Each function below follows the order in which a backtracking engine
// tries the alternatives, so the first match it finds is the one tiktoken takes.

namespace aas::tokens::detail {
namespace {

// Flags of the generated Unicode table (generate.mjs writes the same values).
enum : std::uint8_t {
  kUpper = 1,        // Lu, Lt
  kLower = 2,        // Ll
  kOtherLetter = 4,  // Lm, Lo
  kMark = 8,         // M
  kNumber = 16,      // N
  kSpace = 32,       // White_Space (\s)
};
constexpr std::uint8_t kLetter = kUpper | kLower | kOtherLetter;  // \p{L}
constexpr std::uint8_t kUpperish = kUpper | kOtherLetter | kMark;  // [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]
constexpr std::uint8_t kLowerish = kLower | kOtherLetter | kMark;  // [\p{Ll}\p{Lm}\p{Lo}\p{M}]

struct Char {
  std::uint32_t cp;
  std::uint32_t len;  // bytes; 0 past the end of the text
  std::uint8_t cls;
};

inline std::uint8_t class_of(std::uint32_t cp) {
  return unicode_class_blocks[unicode_class_block_index[cp >> 8] * 256u + (cp & 255u)];
}

// The character at `pos` of valid UTF-8 (the tokenizer replaces invalid sequences beforehand).
inline Char char_at(std::string_view s, std::size_t pos) {
  if (pos >= s.size()) return {0, 0, 0};
  const auto* p = reinterpret_cast<const unsigned char*>(s.data()) + pos;
  std::uint32_t cp;
  std::uint32_t len;
  if (p[0] < 0x80) {
    cp = p[0];
    len = 1;
  } else if (p[0] < 0xE0) {
    cp = ((p[0] & 0x1Fu) << 6) | (p[1] & 0x3Fu);
    len = 2;
  } else if (p[0] < 0xF0) {
    cp = ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
    len = 3;
  } else {
    cp = ((p[0] & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3Fu);
    len = 4;
  }
  return {cp, len, class_of(cp)};
}

inline bool is_newline(Char c) { return c.cp == '\r' || c.cp == '\n'; }

// [^\r\n\p{L}\p{N}]: the optional character in front of a word.
inline bool is_word_prefix(Char c) { return c.len != 0 && !is_newline(c) && !(c.cls & (kLetter | kNumber)); }

// [^\s\p{L}\p{N}]
inline bool is_punct(Char c) { return c.len != 0 && !(c.cls & (kSpace | kLetter | kNumber)); }

// The end of the run of characters having any flag of `mask`, from `pos`.
std::size_t run_end(std::string_view s, std::size_t pos, std::uint8_t mask) {
  for (Char c = char_at(s, pos); c.cls & mask; c = char_at(s, pos)) pos += c.len;
  return pos;
}

// (?i:'s|'t|'re|'ve|'m|'ll|'d) at `pos`: its length, or 0. Under Unicode case folding 's' also
// matches U+017F LATIN SMALL LETTER LONG S; no other letter of these has a non-ASCII fold.
std::size_t contraction(std::string_view s, std::size_t pos) {
  if (pos + 1 >= s.size() || s[pos] != '\'') return 0;
  const auto lower = [&](std::size_t i) { return i < s.size() ? char(s[i] | 0x20) : '\0'; };
  switch (lower(pos + 1)) {  // `| 0x20` lowers only A-Z onto a-z among the letters tested here
    case 's': case 't': case 'm': case 'd': return 2;
    case 'r': case 'v': return lower(pos + 2) == 'e' ? 3 : 0;
    case 'l': return lower(pos + 2) == 'l' ? 3 : 0;
    default: break;
  }
  if (pos + 2 < s.size() && static_cast<unsigned char>(s[pos + 1]) == 0xC5 &&
      static_cast<unsigned char>(s[pos + 2]) == 0xBF) {
    return 3;
  }
  return 0;
}

// \p{N}{1,3} from a number character c0 at `pos`.
std::size_t number(std::string_view s, std::size_t pos, Char c0) {
  pos += c0.len;
  for (int n = 1; n < 3; ++n) {
    const Char c = char_at(s, pos);
    if (!(c.cls & kNumber)) break;
    pos += c.len;
  }
  return pos;
}

// ` ?[^\s\p{L}\p{N}]+[\r\n]*` (cl100k) or ` ?[^\s\p{L}\p{N}]+[\r\n/]*` (o200k): its end, or 0.
std::size_t punctuation(std::string_view s, std::size_t pos, Char c0, Char c1, bool slash) {
  if (c0.cp == ' ' && is_punct(c1)) {
    pos += 1;
  } else if (!is_punct(c0)) {
    return 0;
  }
  for (Char c = char_at(s, pos); is_punct(c); c = char_at(s, pos)) pos += c.len;
  while (pos < s.size() && (s[pos] == '\r' || s[pos] == '\n' || (slash && s[pos] == '/'))) ++pos;
  return pos;
}

// \s*[\r\n]+|\s+(?!\S)|\s+ at a whitespace character.
std::size_t whitespace(std::string_view s, std::size_t pos) {
  const std::size_t start = pos;
  std::size_t last_char = pos;     // where the run's last character starts
  std::size_t after_newline = pos;  // just after the run's last \r or \n
  for (Char c = char_at(s, pos); c.cls & kSpace; c = char_at(s, pos)) {
    last_char = pos;
    pos += c.len;
    if (is_newline(c)) after_newline = pos;
  }
  if (pos == start) return start + char_at(s, start).len;  // unreachable: callers pass whitespace
  // \s*[\r\n]+: \s* backs off until [\r\n]+ can match, i.e. to the run's last newline.
  if (after_newline != start) return after_newline;
  // \s+(?!\S): the whole run at the end of the text; before \S, all of it but the last character
  // (which then starts the next piece, e.g. " word"). A single character falls to \s+.
  if (pos == s.size() || last_char == start) return pos;
  return last_char;
}

// o200k [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+ at `pos`: its end, or 0. The
// greedy first class takes the whole upper-ish run, then gives characters back until the second
// can match; Lm, Lo and M are in both classes, so the match may end inside the run ("中A" -> "中").
std::size_t lower_word(std::string_view s, std::size_t pos) {
  std::size_t last_lowerish_end = 0;
  Char c = char_at(s, pos);
  for (; c.cls & kUpperish; c = char_at(s, pos)) {
    pos += c.len;
    if (c.cls & kLowerish) last_lowerish_end = pos;
  }
  if (c.cls & kLowerish) return run_end(s, pos, kLowerish);
  return last_lowerish_end;
}

// o200k [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]* at `pos`: its end, or 0.
std::size_t upper_word(std::string_view s, std::size_t pos) {
  const std::size_t upper_end = run_end(s, pos, kUpperish);
  return upper_end == pos ? 0 : run_end(s, upper_end, kLowerish);
}

}  // namespace

std::size_t next_piece_cl100k(std::string_view s, std::size_t pos) {
  const Char c0 = char_at(s, pos);
  if (c0.cp == '\'') {
    if (const std::size_t n = contraction(s, pos)) return pos + n;
  }
  const Char c1 = char_at(s, pos + c0.len);
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (c0.cls & kLetter) return run_end(s, pos + c0.len, kLetter);
  if (is_word_prefix(c0) && (c1.cls & kLetter)) return run_end(s, pos + c0.len + c1.len, kLetter);
  if (c0.cls & kNumber) return number(s, pos, c0);
  if (const std::size_t end = punctuation(s, pos, c0, c1, false)) return end;
  return whitespace(s, pos);
}

std::size_t next_piece_o200k(std::string_view s, std::size_t pos) {
  const Char c0 = char_at(s, pos);
  const bool prefix = is_word_prefix(c0);
  std::size_t end = 0;
  // The two word alternatives, each first with the optional prefix character, then without it
  // (which only matters when c0 is a mark: a mark is both a prefix and a word character).
  if ((prefix && (end = lower_word(s, pos + c0.len))) ||
      ((c0.cls & (kUpperish | kLowerish)) && (end = lower_word(s, pos))) ||
      (prefix && (end = upper_word(s, pos + c0.len))) ||
      ((c0.cls & kUpperish) && (end = upper_word(s, pos)))) {
    return end + contraction(s, end);  // (?i:'s|'t|'re|'ve|'m|'ll|'d)?
  }
  if (c0.cls & kNumber) return number(s, pos, c0);
  if ((end = punctuation(s, pos, c0, char_at(s, pos + c0.len), true))) return end;
  return whitespace(s, pos);
}

}  // namespace aas::tokens::detail
