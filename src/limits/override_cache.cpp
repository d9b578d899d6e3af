#include "limits/override_cache.hpp"

namespace aas::limits {

OverrideCache::OverrideCache(Loader load, std::chrono::milliseconds max_age, Now now, std::size_t max_users)
    : load_(std::move(load)), max_age_(max_age), now_(std::move(now)), max_users_(max_users) {}

std::optional<OverrideCache::Override> OverrideCache::peek(std::string_view user) {
  const auto now = now_();
  std::lock_guard lock(mu_);
  auto it = entries_.find(std::string(user));
  if (it == entries_.end() || now - it->second.loaded >= max_age_) return std::nullopt;
  return it->second.value;
}

Result<OverrideCache::Override> OverrideCache::get(std::string_view user) {
  if (auto known = peek(user)) return std::move(*known);
  std::uint64_t generation;
  {
    std::lock_guard lock(mu_);
    generation = generation_;
  }
  const auto loaded_at = now_();
  auto loaded = load_(user);
  if (!loaded) return loaded.error();
  std::lock_guard lock(mu_);
  if (generation == generation_) {
    // Bounded by dropping everything: entries are cheap to load again, and a map of every user
    // ever seen is not.
    if (entries_.size() >= max_users_) entries_.clear();
    entries_.insert_or_assign(std::string(user), Entry{*loaded, loaded_at});
  }
  return loaded;
}

void OverrideCache::forget(std::string_view user) {
  std::lock_guard lock(mu_);
  entries_.erase(std::string(user));
  ++generation_;
}

}  // namespace aas::limits
