#include "llm/key_pool.hpp"

#include <algorithm>

namespace aas::llm {

KeyPool::KeyPool(std::vector<std::string> keys, const Clock& clock, Policy policy)
    : keys_(std::move(keys)), clock_(clock), policy_(policy), rest_until_(keys_.size()) {}

std::optional<KeyPool::Lease> KeyPool::acquire() {
  if (keys_.empty()) return std::nullopt;
  const TimePoint now = clock_.now();
  std::lock_guard lock(mutex_);
  const std::size_t n = keys_.size();
  std::size_t chosen = n;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t idx = (next_ + i) % n;
    if (rest_until_[idx] <= now) {
      chosen = idx;
      break;
    }
  }
  if (chosen == n) {
    chosen = static_cast<std::size_t>(std::min_element(rest_until_.begin(), rest_until_.end()) -
                                      rest_until_.begin());
  }
  next_ = (chosen + 1) % n;
  return Lease{chosen, keys_[chosen]};
}

void KeyPool::report_success(std::size_t index) {
  std::lock_guard lock(mutex_);
  if (index < rest_until_.size()) rest_until_[index] = TimePoint{};
}

std::optional<std::chrono::seconds> KeyPool::report_failure(std::size_t index, const Error& e) {
  std::optional<std::chrono::seconds> duration;
  if (e.upstream_status == 401) {
    duration = policy_.unauthorized_rest;
  } else if (e.upstream_status == 429) {
    duration = e.retry_after_seconds ? std::chrono::seconds(*e.retry_after_seconds)
                                     : policy_.rate_limited_rest;
  }
  if (duration) rest(index, *duration);
  return duration;
}

void KeyPool::rest(std::size_t index, std::chrono::seconds duration) {
  const TimePoint until =
      clock_.now() + std::clamp(duration, std::chrono::seconds(0), policy_.max_rest);
  std::lock_guard lock(mutex_);
  // Two calls failing at once must not shorten a rest the other just set.
  if (index < rest_until_.size()) rest_until_[index] = std::max(rest_until_[index], until);
}

std::size_t KeyPool::available() const {
  const TimePoint now = clock_.now();
  std::lock_guard lock(mutex_);
  return static_cast<std::size_t>(
      std::count_if(rest_until_.begin(), rest_until_.end(), [&](TimePoint t) { return t <= now; }));
}

}  // namespace aas::llm
