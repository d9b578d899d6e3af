#pragma once
// Lexical search (BM25) from in-process inverted indexes, one per knowledge base: a cache of the
// chunks' term counts in the database (kb_chunks.terms). The database stays the source of truth;
// ranking is the same on SQLite and PostgreSQL because it happens here.
//
// A base's index is a snapshot of immutable segments, each with the chunks deleted from it since
// it was built (copy on write: a search holds the snapshot it started with, a change publishes a
// new one). It is loaded whole on a base's first search; after that, each search compares the
// base's lexical_version in the database with its snapshot's and, when it moved (a document
// indexed or deleted, by this process or another replica), reads only the change log since
// (KnowledgeStore::lexical_changes): the changed documents' old chunks are marked deleted and
// their new ones become a small segment. Small segments are merged at once (cheap); merging into
// the large one runs in the background, searches going on meanwhile with the snapshot they hold.
// Replicas keep in step without a message: the version is read at each search.
//
// Ranking is exact BM25 (knowledge/bm25.hpp; statistics over the live chunks of the bases
// searched, and only those, so a snapshot of segments ranks exactly as one index rebuilt from the
// database), top k by score, ties by chunk id. Terms go rarest first with MaxScore: once the k-th
// best score so far exceeds what the remaining (frequent, low-idf) terms could add, no chunk not
// yet seen can enter the top k, so those terms' long posting lists are only probed (binary search)
// for the chunks still in the running instead of read whole.
#include "core/error.hpp"
#include "knowledge/types.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace aas::knowledge {

class KnowledgeStore;

class LexicalIndex;

// The chunks of a segment deleted since it was built.
struct Deletions {
  std::vector<bool> mask;              // by chunk number
  std::vector<std::uint32_t> chunks;   // ascending
  std::int64_t length = 0;             // their lengths, summed
};

// A segment as searched: the index and its deletions (null: none).
struct SegmentView {
  const LexicalIndex* index = nullptr;
  const Deletions* deleted = nullptr;
};

// One segment: an inverted index over a set of chunks, immutable once built.
class LexicalIndex {
 public:
  // `chunks` in chunk id order (as load_lexical returns them).
  explicit LexicalIndex(const std::vector<LexicalChunk>& chunks);
  // The live chunks of `parts` in one segment (their postings merged, no term re-read).
  explicit LexicalIndex(const std::vector<SegmentView>& parts);

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
  // The chunks of a document here (nullptr: none).
  const std::vector<std::uint32_t>* chunks_of(std::string_view document_id) const;
  // Bytes held (postings, ids, dictionary), roughly.
  std::size_t memory_bytes() const;

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  void add_chunk(std::string_view chunk_id, std::int64_t length, std::string_view document_id);

  std::unordered_map<std::string, Postings, Hash, std::equal_to<>> terms_;
  std::unordered_map<std::string, std::vector<std::uint32_t>, Hash, std::equal_to<>> documents_;
  std::pair<const std::string, std::vector<std::uint32_t>>* last_document_ = nullptr;  // while building
  std::vector<std::uint32_t> lengths_;
  std::string ids_;                    // chunk ids, concatenated
  std::vector<std::uint32_t> id_ends_;  // where each ends in ids_
  std::int64_t total_length_ = 0;
};

// A base's index at one lexical_version: its segments, oldest (and usually largest) first.
// Immutable: changes make a new snapshot sharing the segments they leave alone.
struct LexicalSnapshot {
  struct Segment {
    std::shared_ptr<const LexicalIndex> index;
    std::shared_ptr<const Deletions> deleted;  // null: none
  };
  std::int64_t version = 0;
  std::vector<Segment> segments;

  // One segment of every chunk.
  static std::shared_ptr<const LexicalSnapshot> load(const LexicalRows& rows);
  // This snapshot with `changes` applied (their documents' chunks replaced); segments that are
  // small beside the first are merged into one on the way (at most `max_segments` are left).
  std::shared_ptr<const LexicalSnapshot> apply(const LexicalChanges& changes, std::size_t max_segments = 8) const;
  // Every segment merged into one without its deleted chunks.
  std::shared_ptr<const LexicalSnapshot> compacted() const;
  // Worth compacting: deleted chunks are a quarter of the first segment, or the others together
  // half its size.
  bool wants_compaction() const;
  std::size_t live_chunks() const;
  std::size_t memory_bytes() const;
  std::vector<SegmentView> views() const;
};

struct ScoredChunk {
  std::string chunk_id;
  double score = 0;
};

// The top k chunks of `segments` for the (distinct, analyzed) `terms` by BM25, best first.
std::vector<ScoredChunk> bm25_top_k_segments(const std::vector<SegmentView>& segments, const std::vector<std::string>& terms,
                                    int k);
// The same over whole indexes (no deletions).
std::vector<ScoredChunk> bm25_top_k(const std::vector<const LexicalIndex*>& bases,
                                    const std::vector<std::string>& terms, int k);

// Each base's snapshot, kept in step with the database. Safe from any thread; a base's snapshot
// is changed by one thread at a time, searches on the published one go on meanwhile.
class LexicalCache {
 public:
  // Runs a task off the searching thread (the service's blocking pool); without one, compaction
  // runs on the thread that applied the change.
  using Background = std::function<void(std::function<void()>)>;
  explicit LexicalCache(Background background = {}) : background_(std::move(background)) {}

  // The user's bases among `kb_ids` ranked for `terms`: the top k passages with their scores.
  Result<std::vector<Passage>> search(KnowledgeStore& store, const std::string& user_id,
                                      const std::vector<std::string>& kb_ids, const std::vector<std::string>& terms,
                                      int k);
  // The same for bases already read (and owned): their versions as lexical_bases gave them.
  Result<std::vector<Passage>> search(KnowledgeStore& store, const std::vector<LexicalBase>& bases,
                                      const std::vector<std::string>& terms, int k);
  // The base's snapshot brought to (at least) `version`: loaded whole the first time, or when the
  // change log does not reach back; else the changes since applied.
  Result<std::shared_ptr<const LexicalSnapshot>> current(KnowledgeStore& store, const std::string& kb_id,
                                                          std::int64_t version);
  void drop(const std::string& kb_id);
  std::size_t size() const;
  // Counters (tests, metrics): whole loads, change sets applied, compactions published.
  std::size_t loads() const { return loads_; }
  std::size_t deltas() const { return deltas_; }
  std::size_t compactions() const { return compactions_; }

 private:
  struct Entry {
    std::shared_ptr<const LexicalSnapshot> snapshot;  // null until loaded
    std::shared_ptr<std::mutex> writer = std::make_shared<std::mutex>();  // one change at a time
    bool compacting = false;  // under mu_
  };
  std::shared_ptr<const LexicalSnapshot> published(const std::string& kb_id) const;
  void publish(const std::string& kb_id, std::shared_ptr<const LexicalSnapshot> s);
  void compact(const std::string& kb_id, std::shared_ptr<const LexicalSnapshot> from);

  Background background_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  std::atomic<std::size_t> loads_{0}, deltas_{0}, compactions_{0};
};

}  // namespace aas::knowledge
