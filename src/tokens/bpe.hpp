#pragma once
// Byte-pair encoding of one piece of text with tiktoken's ranks. Internal to src/tokens.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "tokens/tables.hpp"

namespace aas::tokens::detail {

inline constexpr std::uint32_t kNoRank = 0xFFFFFFFF;

// Every mergeable token of an encoding, found by its bytes. An open-addressing hash table built
// from the generated RankData on first use: the lookup is the hot loop of BPE, and storing each
// key's first 8 bytes in its slot settles nearly every probe without touching the token bytes.
class RankTable {
 public:
  explicit RankTable(const RankData& data);

  std::uint32_t rank(const unsigned char* bytes, std::size_t size) const;
  std::uint32_t byte_rank(unsigned char byte) const { return byte_ranks_[byte]; }
  std::size_t size() const { return offsets_.size() - 1; }
  std::string_view token(std::uint32_t rank) const {
    return data_.bytes.substr(offsets_[rank], offsets_[rank + 1] - offsets_[rank]);
  }

  // Calls sink(rank) for each token of `piece`, merging the lowest-ranked adjacent pair first (the
  // leftmost among equals) until no pair is a token: tiktoken's byte_pair_encode, same ids.
  template <class Sink>
  void encode(std::string_view piece, Sink&& sink) const;

 private:
  struct Slot {
    std::uint64_t head;  // the key's first 8 bytes (see head())
    std::uint32_t rank;
    std::uint32_t size;  // 0: empty slot
  };

  static std::uint64_t head(const unsigned char* bytes, std::size_t size);
  static std::uint64_t hash(std::uint64_t head, const unsigned char* bytes, std::size_t size);
  std::size_t merge_short(const unsigned char* bytes, std::size_t size, std::uint32_t* tokens) const;
  void merge_long(const unsigned char* bytes, std::size_t size, std::vector<std::uint32_t>& tokens) const;

  const RankData& data_;
  std::vector<std::uint32_t> offsets_;
  std::vector<Slot> slots_;
  unsigned shift_ = 0;
  std::uint32_t byte_ranks_[256];
};

// Pieces up to this many bytes merge in place on the stack (tiktoken's quadratic loop, the fastest
// for short pieces); longer ones (long runs of spaces, digits of a hash) use a heap, O(n log n).
inline constexpr std::size_t kShortPiece = 64;

template <class Sink>
void RankTable::encode(std::string_view piece, Sink&& sink) const {
  const auto* bytes = reinterpret_cast<const unsigned char*>(piece.data());
  if (piece.size() == 1) {
    sink(byte_ranks_[bytes[0]]);
    return;
  }
  if (const std::uint32_t whole = rank(bytes, piece.size()); whole != kNoRank) {
    sink(whole);
    return;
  }
  if (piece.size() <= kShortPiece) {
    std::uint32_t tokens[kShortPiece];
    const std::size_t n = merge_short(bytes, piece.size(), tokens);
    for (std::size_t i = 0; i < n; ++i) sink(tokens[i]);
    return;
  }
  std::vector<std::uint32_t> tokens;
  merge_long(bytes, piece.size(), tokens);
  for (const std::uint32_t token : tokens) sink(token);
}

}  // namespace aas::tokens::detail
