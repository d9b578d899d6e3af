#pragma once
// Lexical search (BM25) from in-process inverted indexes, one per knowledge base: a cache of the
// chunks' term counts in the database (kb_chunks.terms), built on a base's first search and again
// whenever its lexical_version moved (a document indexed or deleted, by this process or another
// replica: the version is read from the database at each search, so replicas stay in step without
// a message). The database stays the source of truth; ranking is the same on SQLite and
// PostgreSQL because it happens here.
//
// Ranking is exact BM25 (knowledge/bm25.hpp; statistics over the bases searched, and only those),
// top k by score, ties by chunk id. Terms go rarest first with MaxScore: once the k-th best score
// so far exceeds what the remaining (frequent, low-idf) terms could add, no chunk not yet seen can
// enter the top k, so those terms' long posting lists are only probed (binary search) for the
// chunks still in the running instead of read whole.
#include "core/error.hpp"
#include "knowledge/types.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace aas::knowledge {

class KnowledgeStore;

class LexicalIndex {
 public:
  // `chunks` in chunk id order (as load_lexical returns them).
  explicit LexicalIndex(const std::vector<LexicalChunk>& chunks);

  struct Postings {
    std::vector<std::uint32_t> chunks;  // ascending
    std::vector<std::uint16_t> tf;      // saturated at 65,535 (BM25's tf factor is flat long before)
  };

  std::size_t size() const { return lengths_.size(); }
  std::int64_t total_length() const { return total_length_; }
  std::uint32_t length(std::uint32_t chunk) const { return lengths_[chunk]; }
  std::string_view chunk_id(std::uint32_t chunk) const;
  // nullptr: no chunk holds the term.
  const Postings* find(std::string_view term) const;
  // Bytes held (postings, ids, dictionary), roughly.
  std::size_t memory_bytes() const;

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, Postings, Hash, std::equal_to<>> terms_;
  std::vector<std::uint32_t> lengths_;
  std::string ids_;                    // chunk ids, concatenated
  std::vector<std::uint32_t> id_ends_;  // where each ends in ids_
  std::int64_t total_length_ = 0;
};

struct ScoredChunk {
  std::string chunk_id;
  double score = 0;
};

// The top k chunks of `bases` for the (distinct, analyzed) `terms` by BM25, best first.
std::vector<ScoredChunk> bm25_top_k(const std::vector<const LexicalIndex*>& bases,
                                    const std::vector<std::string>& terms, int k);

// Each base's index, kept while its lexical_version holds. Safe from any thread; an index is
// built by one thread at a time (a large base takes seconds), searches on built ones go on.
class LexicalCache {
 public:
  // The user's bases among `kb_ids` ranked for `terms`: the top k passages with their scores.
  Result<std::vector<Passage>> search(KnowledgeStore& store, const std::string& user_id,
                                      const std::vector<std::string>& kb_ids, const std::vector<std::string>& terms,
                                      int k);
  void drop(const std::string& kb_id);
  std::size_t size() const;

 private:
  struct Entry {
    std::int64_t version = 0;
    std::shared_ptr<const LexicalIndex> index;
  };
  std::shared_ptr<const LexicalIndex> find(const LexicalBase& b) const;

  mutable std::mutex mu_;
  std::mutex build_mu_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace aas::knowledge
