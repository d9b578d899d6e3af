#pragma once
// The data tables generated at build time by src/tokens/data/generate.mjs (see CMakeLists.txt).
// Internal to src/tokens: users go through tokenizer.hpp.

#include <cstdint>
#include <span>
#include <string_view>

namespace aas::tokens::detail {

struct SpecialToken {
  std::string_view text;
  std::uint32_t id;
};

// One encoding's mergeable tokens: token r is bytes[offset(r), offset(r) + lengths[r]), where
// offset(r) is the sum of the lengths before it. Ranks are 0..count-1 and double as token ids.
struct RankData {
  std::string_view bytes;
  const unsigned char* lengths;
  std::size_t count;
  std::span<const SpecialToken> specials;
};

extern const RankData cl100k_base_data;
extern const RankData o200k_base_data;

// Unicode 16.0 classes of every code point (the version npm tiktoken's regex engine uses), as a
// two-stage table: unicode_class_blocks[unicode_class_block_index[cp >> 8] * 256 + (cp & 255)].
// The flags are tokenizer.cpp's CharClass bits.
extern const unsigned short* const unicode_class_block_index;
extern const unsigned char* const unicode_class_blocks;
extern const char* const unicode_version;
extern const char* const tiktoken_version;

}  // namespace aas::tokens::detail
