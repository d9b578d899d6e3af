#include "knowledge/vector_index.hpp"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>

namespace aas::knowledge {
namespace {

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

float dot(const float* a, const float* b, std::size_t n) {
  float s = 0;
  for (std::size_t i = 0; i < n; ++i) s += a[i] * b[i];
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

 private:
  const int dim_;
  mutable std::shared_mutex mutex_;
  std::vector<float> data_;  // keys_.size() rows of dim_ floats, contiguous
  std::vector<std::uint64_t> keys_;
  std::unordered_map<std::uint64_t, std::size_t> slots_;
};

}  // namespace

std::unique_ptr<VectorIndex> make_exact_index(int dimension) { return std::make_unique<ExactIndex>(dimension); }

std::unique_ptr<VectorIndex> make_hnsw_index(int dimension, std::size_t, const HnswOptions&) {
  return make_exact_index(dimension);  // HNSW lands in a later commit of this branch
}

std::unique_ptr<VectorIndex> make_vector_index(int dimension, std::size_t) { return make_exact_index(dimension); }

}  // namespace aas::knowledge
