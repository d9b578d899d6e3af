#include "tokens/bpe.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace aas::tokens::detail {

RankTable::RankTable(const RankData& data) : data_(data) {
  offsets_.resize(data.count + 1);
  std::uint32_t offset = 0;
  for (std::size_t rank = 0; rank < data.count; ++rank) {
    offsets_[rank] = offset;
    offset += data.lengths[rank];
  }
  offsets_[data.count] = offset;
  if (offset != data.bytes.size()) throw std::logic_error("tokens: generated rank tables are inconsistent");

  // The smallest power of two at most 4/5 full (0.76 for both encodings: 2 MB of slots for cl100k,
  // 4 MB for o200k). A table twice as large measured no faster: a probe chain mostly stays within a
  // cache line or two.
  unsigned bits = 1;
  while ((std::size_t{1} << bits) < data.count + data.count / 4) ++bits;
  slots_.assign(std::size_t{1} << bits, Slot{0, kNoRank, 0});
  shift_ = 64 - bits;
  const std::size_t mask = slots_.size() - 1;
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.bytes.data());
  for (std::uint32_t rank = 0; rank < data.count; ++rank) {
    const unsigned char* key = bytes + offsets_[rank];
    const std::size_t size = data.lengths[rank];
    const std::uint64_t key_head = head(key, size);
    std::size_t i = hash(key_head, key, size) >> shift_;
    while (slots_[i].size != 0) i = (i + 1) & mask;
    slots_[i] = Slot{key_head, rank, static_cast<std::uint32_t>(size)};
  }
  for (unsigned b = 0; b < 256; ++b) {
    const auto byte = static_cast<unsigned char>(b);
    byte_ranks_[b] = rank(&byte, 1);
    if (byte_ranks_[b] == kNoRank) throw std::logic_error("tokens: a byte has no token");
  }
}

// The key's bytes as a little-endian word, zero-padded below 8 bytes (overlapping loads instead
// of a byte loop); longer keys keep their first 8 bytes.
std::uint64_t RankTable::head(const unsigned char* p, std::size_t n) {
  std::uint64_t word = 0;
  if (n >= 8) {
    std::memcpy(&word, p, 8);
    return word;
  }
  if (n >= 4) {
    std::uint32_t low;
    std::uint32_t high;
    std::memcpy(&low, p, 4);
    std::memcpy(&high, p + n - 4, 4);
    return low | (std::uint64_t{high} << ((n - 4) * 8));
  }
  return p[0] | (std::uint64_t{p[n / 2]} << (n / 2 * 8)) | (std::uint64_t{p[n - 1]} << ((n - 1) * 8));
}

std::uint64_t RankTable::hash(std::uint64_t key_head, const unsigned char* p, std::size_t n) {
  std::uint64_t h = key_head + n * 0x9E3779B97F4A7C15ull;
  if (n > 8) {
    std::uint64_t tail;
    std::memcpy(&tail, p + n - 8, 8);
    h ^= tail * 0xC2B2AE3D27D4EB4Full;
  }
  // murmur3's finaliser; the table index is taken from the top bits
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDull;
  h ^= h >> 33;
  h *= 0xC4CEB9FE1A85EC53ull;
  h ^= h >> 33;
  return h;
}

std::uint32_t RankTable::rank(const unsigned char* p, std::size_t n) const {
  const std::uint64_t key_head = head(p, n);
  const std::size_t mask = slots_.size() - 1;
  const auto* bytes = reinterpret_cast<const unsigned char*>(data_.bytes.data());
  for (std::size_t i = hash(key_head, p, n) >> shift_;; i = (i + 1) & mask) {
    const Slot& slot = slots_[i];
    if (slot.size == 0) return kNoRank;
    if (slot.head == key_head && slot.size == n &&
        (n <= 8 || std::memcmp(bytes + offsets_[slot.rank] + 8, p + 8, n - 8) == 0)) {
      return slot.rank;
    }
  }
}

std::size_t RankTable::merge_short(const unsigned char* p, std::size_t n, std::uint32_t* tokens) const {
  // Part i is bytes [start[i], start[i + 1]) and has token tokens[i]; pair[i] is the rank of parts
  // i and i + 1 joined (kNoRank when that is no token).
  std::uint32_t start[kShortPiece + 1];
  std::uint32_t pair[kShortPiece];
  for (std::uint32_t i = 0; i < n; ++i) {
    start[i] = i;
    tokens[i] = byte_ranks_[p[i]];
  }
  start[n] = static_cast<std::uint32_t>(n);
  for (std::size_t i = 0; i + 1 < n; ++i) pair[i] = rank(p + i, 2);

  std::size_t parts = n;
  for (;;) {
    std::uint32_t best = kNoRank;
    std::size_t at = 0;
    for (std::size_t i = 0; i + 1 < parts; ++i) {
      if (pair[i] < best) {
        best = pair[i];
        at = i;
      }
    }
    if (best == kNoRank) break;
    // Join parts `at` and `at + 1`, then re-rank the two pairs the new part belongs to.
    tokens[at] = best;
    for (std::size_t i = at + 1; i < parts; ++i) start[i] = start[i + 1];
    for (std::size_t i = at + 1; i + 1 < parts; ++i) tokens[i] = tokens[i + 1];
    for (std::size_t i = at + 1; i + 2 < parts; ++i) pair[i] = pair[i + 1];
    --parts;
    pair[at] = at + 1 < parts ? rank(p + start[at], start[at + 2] - start[at]) : kNoRank;
    if (at > 0) pair[at - 1] = rank(p + start[at - 1], start[at + 1] - start[at - 1]);
  }
  return parts;
}

void RankTable::merge_long(const unsigned char* p, std::size_t n, std::vector<std::uint32_t>& out) const {
  // Parts form a linked list over their start offsets. Candidate joins wait in a min-heap ordered
  // by (rank, start), so the lowest rank is joined first and the leftmost among equals, as in the
  // quadratic loop; a candidate whose parts have changed since it was pushed is skipped.
  std::vector<std::uint32_t> next(n);
  std::vector<std::uint32_t> prev(n);
  std::vector<std::uint32_t> token(n);
  std::vector<bool> alive(n, true);
  for (std::uint32_t i = 0; i < n; ++i) {
    next[i] = i + 1;
    prev[i] = i - 1;  // unused for part 0
    token[i] = byte_ranks_[p[i]];
  }
  struct Candidate {
    std::uint32_t rank;
    std::uint32_t left;  // start of the left part
    std::uint32_t end;   // end of the right part
  };
  const auto later = [](const Candidate& a, const Candidate& b) {
    return a.rank != b.rank ? a.rank > b.rank : a.left > b.left;
  };
  std::vector<Candidate> heap;
  const auto push = [&](std::uint32_t left, std::uint32_t end) {
    if (const std::uint32_t r = rank(p + left, end - left); r != kNoRank) {
      heap.push_back({r, left, end});
      std::push_heap(heap.begin(), heap.end(), later);
    }
  };
  for (std::uint32_t i = 0; i + 1 < n; ++i) push(i, i + 2);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const Candidate c = heap.back();
    heap.pop_back();
    if (!alive[c.left] || next[c.left] >= n || next[next[c.left]] != c.end) continue;
    alive[next[c.left]] = false;
    next[c.left] = c.end;
    if (c.end < n) prev[c.end] = c.left;
    token[c.left] = c.rank;
    if (c.left > 0) push(prev[c.left], c.end);
    if (c.end < n) push(c.left, next[c.end]);
  }
  for (std::uint32_t i = 0; i < n; i = next[i]) out.push_back(token[i]);
}

}  // namespace aas::tokens::detail
