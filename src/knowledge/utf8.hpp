#pragma once
// UTF-8 walking for the loaders and the chunker. Internal to src/knowledge.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace aas::knowledge::detail {

// The length of the valid UTF-8 sequence at text[pos] (1..4), or 0 when the bytes there are not one
// (overlong forms, surrogates and code points above U+10FFFF included). `cp` receives the code point.
std::size_t utf8_sequence(std::string_view text, std::size_t pos, char32_t& cp);

// How many bytes of `text` belong to no valid sequence.
std::size_t invalid_utf8_bytes(std::string_view text);

// Each invalid byte becomes U+FFFD; valid sequences are kept byte for byte.
std::string replace_invalid_utf8(std::string_view text);

// Code points in text (valid UTF-8).
std::size_t code_points(std::string_view text);

// The largest code point boundary <= pos (pos itself when it is one), for valid UTF-8.
std::size_t boundary_at_or_before(std::string_view text, std::size_t pos);

void append_utf8(std::string& out, char32_t cp);

// ASCII whitespace as the C locale's isspace: ' ', '\t', '\n', '\v', '\f', '\r' (the last five are
// 9..13), for the builder's word splitting and the chunker's sentence trimming alike.
inline bool is_ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

// "\r\n" and a lone "\r" become "\n", in place: one line-end convention for every loader.
void normalise_newlines(std::string& text);

}  // namespace aas::knowledge::detail
