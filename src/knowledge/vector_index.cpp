#include "knowledge/vector_index.hpp"

#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <cstring>
#include <cmath>
#include <mutex>
#include <pthread.h>
#include <shared_mutex>  // std::shared_lock
#include <stdexcept>
#include <string>
#include <unordered_map>

namespace aas::knowledge {
namespace {

// A reader-writer lock that lets a waiting writer in before new readers: glibc's default (behind
// std::shared_mutex) prefers readers, so a steady stream of searches would starve upserts forever.
class RwLock {
 public:
  RwLock() {
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&lock_, &attr);
    pthread_rwlockattr_destroy(&attr);
  }
  RwLock(const RwLock&) = delete;
  RwLock& operator=(const RwLock&) = delete;
  ~RwLock() { pthread_rwlock_destroy(&lock_); }
  void lock() { pthread_rwlock_wrlock(&lock_); }
  void unlock() { pthread_rwlock_unlock(&lock_); }
  void lock_shared() { pthread_rwlock_rdlock(&lock_); }
  void unlock_shared() { pthread_rwlock_unlock(&lock_); }

 private:
  pthread_rwlock_t lock_;
};

void check_dimension(int dimension) {
  if (dimension <= 0 || dimension > 65'536) throw std::invalid_argument("vector dimension " + std::to_string(dimension));
}

void check(std::span<const float> v, int dimension) {
  if (v.size() != static_cast<std::size_t>(dimension)) {
    throw std::invalid_argument("vector of " + std::to_string(v.size()) + " dimensions given to an index of " +
                                std::to_string(dimension));
  }
  for (const float x : v) {
    if (!std::isfinite(x)) throw std::invalid_argument("vector holds NaN or infinity");
  }
}

// Writes v / |v| into out (zeros for a zero vector).
void normalise(std::span<const float> v, float* out) {
  double sum = 0;
  for (const float x : v) sum += static_cast<double>(x) * x;
  const float scale = sum > 0 ? static_cast<float>(1.0 / std::sqrt(sum)) : 0.0f;
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = v[i] * scale;
}

// Four independent 4-lane accumulators: without -ffast-math the compiler may not reorder a float
// sum, so the vector form is spelled out (GCC vector extensions: SSE on any x86-64, NEON on ARM).
float dot(const float* a, const float* b, std::size_t n) {
  using v4 = float __attribute__((vector_size(16)));
  v4 acc[4] = {};
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    for (int j = 0; j < 4; ++j) {
      v4 x, y;
      std::memcpy(&x, a + i + 4 * j, sizeof x);
      std::memcpy(&y, b + i + 4 * j, sizeof y);
      acc[j] += x * y;
    }
  }
  const v4 sum = (acc[0] + acc[1]) + (acc[2] + acc[3]);
  float s = (sum[0] + sum[1]) + (sum[2] + sum[3]);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

class ExactIndex final : public VectorIndex {
 public:
  explicit ExactIndex(int dimension) : dim_(dimension) {}

  void upsert(std::uint64_t key, std::span<const float> vector) override {
    check(vector, dim_);
    std::unique_lock lock(mutex_);
    auto [it, inserted] = slots_.try_emplace(key, keys_.size());
    if (inserted) {
      keys_.push_back(key);
      data_.resize(data_.size() + dim_);
    }
    normalise(vector, data_.data() + it->second * dim_);
  }

  void remove(std::uint64_t key) override {
    std::unique_lock lock(mutex_);
    const auto it = slots_.find(key);
    if (it == slots_.end()) return;
    const std::size_t slot = it->second;
    const std::size_t last = keys_.size() - 1;
    if (slot != last) {
      std::copy_n(data_.begin() + last * dim_, dim_, data_.begin() + slot * dim_);
      keys_[slot] = keys_[last];
      slots_[keys_[slot]] = slot;
    }
    keys_.pop_back();
    data_.resize(last * dim_);
    slots_.erase(it);
  }

  std::vector<std::pair<std::uint64_t, float>> search(std::span<const float> query, std::size_t k) const override {
    check(query, dim_);
    std::vector<float> q(dim_);
    normalise(query, q.data());
    std::shared_lock lock(mutex_);
    std::vector<std::pair<std::uint64_t, float>> scored;
    scored.reserve(keys_.size());
    for (std::size_t i = 0; i < keys_.size(); ++i) scored.emplace_back(keys_[i], dot(q.data(), data_.data() + i * dim_, dim_));
    const std::size_t n = std::min(k, scored.size());
    std::partial_sort(scored.begin(), scored.begin() + n, scored.end(),
                      [](const auto& a, const auto& b) { return a.second > b.second; });
    scored.resize(n);
    return scored;
  }

  std::size_t size() const override {
    std::shared_lock lock(mutex_);
    return keys_.size();
  }
  std::size_t memory_bytes() const override {
    std::shared_lock lock(mutex_);
    return data_.capacity() * sizeof(float) + keys_.capacity() * sizeof(std::uint64_t) +
           slots_.size() * (sizeof(std::pair<std::uint64_t, std::size_t>) + 2 * sizeof(void*));
  }
  int dimension() const override { return dim_; }

  // Calls f(key, normalised vector) for every vector (to move them into an HNSW index).
  template <class F>
  void for_each(F&& f) const {
    std::shared_lock lock(mutex_);
    for (std::size_t i = 0; i < keys_.size(); ++i) f(keys_[i], std::span<const float>(data_.data() + i * dim_, dim_));
  }

 private:
  const int dim_;
  mutable RwLock mutex_;
  std::vector<float> data_;  // keys_.size() rows of dim_ floats, contiguous
  std::vector<std::uint64_t> keys_;
  std::unordered_map<std::uint64_t, std::size_t> slots_;
};

// hnswlib's graph over normalised vectors with the inner-product space (distance = 1 - dot).
// hnswlib 0.6.2 searches concurrently with itself but not with markDelete or resizeIndex, hence the
// reader-writer lock; a removed vector stays in the graph marked deleted (its slot is reused only when the
// same key comes back), so an index with many removals is best rebuilt (the knowledge service
// rebuilds its indexes from the database at start).
class HnswIndex final : public VectorIndex {
 public:
  HnswIndex(int dimension, std::size_t expected_size, const HnswOptions& options)
      : dim_(dimension),
        space_(static_cast<std::size_t>(dimension)),
        index_(&space_, std::max<std::size_t>(expected_size, 1024), options.m, options.ef_construction, options.seed) {
    index_.setEf(options.ef_search);
  }

  void upsert(std::uint64_t key, std::span<const float> vector) override {
    check(vector, dim_);
    std::vector<float> v(dim_);
    normalise(vector, v.data());
    insert_normalised(key, v.data());
  }

  void insert_normalised(std::uint64_t key, const float* v) {
    std::unique_lock lock(mutex_);
    if (index_.cur_element_count >= index_.max_elements_ && !index_.label_lookup_.contains(key)) {
      index_.resizeIndex(index_.max_elements_ * 2);
    }
    index_.addPoint(v, key);  // an existing key is updated (and undeleted)
  }

  void remove(std::uint64_t key) override {
    std::unique_lock lock(mutex_);
    const auto it = index_.label_lookup_.find(key);
    if (it == index_.label_lookup_.end() || index_.isMarkedDeleted(it->second)) return;
    index_.markDelete(key);
  }

  std::vector<std::pair<std::uint64_t, float>> search(std::span<const float> query, std::size_t k) const override {
    check(query, dim_);
    std::vector<float> q(dim_);
    normalise(query, q.data());
    std::vector<std::pair<std::uint64_t, float>> out;
    std::shared_lock lock(mutex_);
    if (k == 0 || index_.cur_element_count == index_.num_deleted_) return out;
    auto top = index_.searchKnn(q.data(), k);  // worst first; ef is max(ef_search, k)
    out.resize(top.size());
    for (std::size_t i = out.size(); i-- > 0; top.pop()) out[i] = {top.top().second, 1.0f - top.top().first};
    return out;
  }

  std::size_t size() const override {
    std::shared_lock lock(mutex_);
    return index_.cur_element_count - index_.num_deleted_;
  }

  // hnswlib's allocations: per slot the level-0 links + vector + label, a link-list pointer, a level
  // and a lock; per upper level of an element its links; the label map; one visited list.
  std::size_t memory_bytes() const override {
    std::shared_lock lock(mutex_);
    const std::size_t slots = index_.max_elements_;
    std::size_t upper_levels = 0;
    for (std::size_t i = 0; i < index_.cur_element_count; ++i) upper_levels += static_cast<std::size_t>(index_.element_levels_[i]);
    return slots * (index_.size_data_per_element_ + sizeof(void*) + sizeof(int) + sizeof(std::mutex) + sizeof(unsigned short)) +
           upper_levels * index_.size_links_per_element_ +
           index_.label_lookup_.size() * (sizeof(std::pair<std::uint64_t, unsigned>) + 2 * sizeof(void*));
  }

  int dimension() const override { return dim_; }

 private:
  const int dim_;
  hnswlib::InnerProductSpace space_;
  mutable RwLock mutex_;
  // searchKnn is const in spirit but not declared so (it counts hops in members).
  mutable hnswlib::HierarchicalNSW<float> index_;
};

// Exact until the index holds more than `exact_max` vectors, then HNSW. The upsert that crosses
// the line builds the graph from the exact index's vectors while searches go on against those (only
// other writes wait), then swaps it in under a brief exclusive lock.
class AdaptiveIndex final : public VectorIndex {
 public:
  AdaptiveIndex(int dimension, std::size_t expected_size, std::size_t exact_max)
      : dim_(dimension), exact_max_(exact_max) {
    if (expected_size > exact_max_) {
      hnsw_ = std::make_unique<HnswIndex>(dimension, expected_size, HnswOptions{});
    } else {
      exact_ = std::make_unique<ExactIndex>(dimension);
    }
  }

  // Writers are serialised by write_mutex_, so they read the pointers without mutex_; only the swap
  // takes mutex_ exclusively.
  void upsert(std::uint64_t key, std::span<const float> vector) override {
    std::lock_guard write(write_mutex_);
    if (hnsw_) return hnsw_->upsert(key, vector);
    exact_->upsert(key, vector);
    if (exact_->size() <= exact_max_) return;
    auto hnsw = std::make_unique<HnswIndex>(dim_, exact_->size() * 2, HnswOptions{});
    exact_->for_each([&](std::uint64_t k, std::span<const float> v) { hnsw->insert_normalised(k, v.data()); });
    std::unique_lock swap(mutex_);
    hnsw_ = std::move(hnsw);
    exact_.reset();
  }
  void remove(std::uint64_t key) override {
    std::lock_guard write(write_mutex_);
    current().remove(key);
  }
  std::vector<std::pair<std::uint64_t, float>> search(std::span<const float> query, std::size_t k) const override {
    std::shared_lock lock(mutex_);
    return current().search(query, k);
  }
  std::size_t size() const override {
    std::shared_lock lock(mutex_);
    return current().size();
  }
  std::size_t memory_bytes() const override {
    std::shared_lock lock(mutex_);
    return current().memory_bytes();
  }
  int dimension() const override { return dim_; }

 private:
  const VectorIndex& current() const { return hnsw_ ? static_cast<const VectorIndex&>(*hnsw_) : *exact_; }
  VectorIndex& current() { return hnsw_ ? static_cast<VectorIndex&>(*hnsw_) : *exact_; }

  const int dim_;
  const std::size_t exact_max_;
  std::mutex write_mutex_;
  mutable RwLock mutex_;  // guards the pointers against the swap
  std::unique_ptr<ExactIndex> exact_;
  std::unique_ptr<HnswIndex> hnsw_;
};

}  // namespace

std::unique_ptr<VectorIndex> make_exact_index(int dimension) {
  check_dimension(dimension);
  return std::make_unique<ExactIndex>(dimension);
}

std::unique_ptr<VectorIndex> make_hnsw_index(int dimension, std::size_t expected_size, const HnswOptions& options) {
  check_dimension(dimension);
  return std::make_unique<HnswIndex>(dimension, expected_size, options);
}

std::unique_ptr<VectorIndex> make_vector_index(int dimension, std::size_t expected_size) {
  return make_adaptive_index(dimension, expected_size, exact_search_max_vectors);
}

std::unique_ptr<VectorIndex> make_adaptive_index(int dimension, std::size_t expected_size, std::size_t exact_max) {
  check_dimension(dimension);
  return std::make_unique<AdaptiveIndex>(dimension, expected_size, exact_max);
}

}  // namespace aas::knowledge
