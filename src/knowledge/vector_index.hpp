#pragma once
// The in-process vector index of ONE knowledge base (one per knowledge base, so a search only ever
// ranks vectors of knowledge bases the caller owns: hnswlib 0.6.2 has no search filter). A cache of
// the database, which stays the source of truth.
//
// Similarity is cosine: vectors are normalised on upsert (and the query on search), so it is their
// dot product, in [-1, 1]. A zero vector is stored as zeros (similarity 0 to everything).
//
// Threads: any number of concurrent search/size/memory_bytes calls, and writes (upsert, remove)
// serialised with them and with each other (a writer-preferring reader-writer lock inside, so
// searches never starve writes): safe from any thread.
//
// Bugs, not user input: a vector whose size is not dimension(), or that holds NaN/inf, throws
// std::invalid_argument.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

namespace aas::knowledge {

class VectorIndex {
 public:
  virtual ~VectorIndex() = default;

  // Adds the vector under `key`, or replaces the one stored under it.
  virtual void upsert(std::uint64_t key, std::span<const float> vector) = 0;
  // Unknown keys are ignored.
  virtual void remove(std::uint64_t key) = 0;
  // Up to k (key, cosine similarity) pairs, best first.
  virtual std::vector<std::pair<std::uint64_t, float>> search(std::span<const float> query,
                                                              std::size_t k) const = 0;
  virtual std::size_t size() const = 0;
  // What the index holds in memory (vectors, graph, key maps), for metrics and capacity planning.
  virtual std::size_t memory_bytes() const = 0;
  virtual int dimension() const = 0;
};

// Exact search (a scan of a contiguous array) for up to exact_search_max_vectors, HNSW above: an
// exact index that grows past it switches to HNSW on the upsert that crosses it (that upsert builds
// the graph while searches continue on the exact index; other writes wait for it).
std::unique_ptr<VectorIndex> make_vector_index(int dimension, std::size_t expected_size);
// The same with another line between the two (tests, the benchmark).
std::unique_ptr<VectorIndex> make_adaptive_index(int dimension, std::size_t expected_size, std::size_t exact_max);

// Up to here a scan answers within ~4 ms of CPU at 1,536 dims (0.39 us per vector, measured by
// bench/retrieval/vectors.sh) with perfect recall and no graph to build: HNSW costs ~3 ms of CPU per
// inserted vector, paid again whenever the index is rebuilt (docs/benchmarks.md, "Retrieval").
inline constexpr std::size_t exact_search_max_vectors = 10'000;

// Each kind on its own, for tests and the benchmark.
std::unique_ptr<VectorIndex> make_exact_index(int dimension);
struct HnswOptions {
  std::size_t m = 16;                // graph degree
  std::size_t ef_construction = 200;
  // Raised to k when k is larger. 200, not 100: on 1,000,000 clustered 1,536-dim vectors recall@10
  // is 0.982 at 200 against 0.955 at 100, for 0.2 ms more (p99 2.6 ms; docs/benchmarks.md, "Retrieval").
  std::size_t ef_search = 200;
  std::size_t seed = 100;
};
std::unique_ptr<VectorIndex> make_hnsw_index(int dimension, std::size_t expected_size,
                                             const HnswOptions& options = {});

}  // namespace aas::knowledge
