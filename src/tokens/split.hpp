#pragma once
// Pre-tokenisation: the regex split that tiktoken runs before BPE, for the two patterns of
// cl100k_base and o200k_base (quoted in split.cpp). Internal to src/tokens.

#include <cstddef>
#include <string_view>

namespace aas::tokens::detail {

// The end of the piece that starts at `pos` (< text.size()); `text` must be valid UTF-8. Every
// position starts a piece of at least one character, so calling this from 0 on until the end cuts
// the text exactly as tiktoken's find_iter does.
std::size_t next_piece_cl100k(std::string_view text, std::size_t pos);
std::size_t next_piece_o200k(std::string_view text, std::size_t pos);

}  // namespace aas::tokens::detail
