#include "auth/token_cache.hpp"

namespace aas::auth {

boost::asio::awaitable<Result<Principal>> VerifiedTokenCache::authenticate(std::string_view token) const {
  const TimePoint now = clock_.now();
  {
    const std::lock_guard lock(mutex_);
    // (heterogeneous lookup needs C++20's transparent hashing; a token is short, so the key is built)
    if (auto it = verified_.find(std::string(token)); it != verified_.end()) {
      if (now < *it->second.valid_until) co_return it->second;
      verified_.erase(it);  // expired: verified again below, which refuses it
    }
  }
  Result<Principal> result = co_await inner_.authenticate(token);
  if (result && result->valid_until && now < *result->valid_until) {
    const std::lock_guard lock(mutex_);
    if (verified_.size() >= max_entries_) verified_.clear();
    verified_.insert_or_assign(std::string(token), *result);
  }
  co_return result;
}

std::size_t VerifiedTokenCache::size() const {
  const std::lock_guard lock(mutex_);
  return verified_.size();
}

}  // namespace aas::auth
