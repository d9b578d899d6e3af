#include "keys/key_authenticator.hpp"

#include "core/offload.hpp"
#include "keys/key_service.hpp"
#include "limits/policies.hpp"

namespace aas::keys {

auth::Principal key_principal(const ServiceKey& key) {
  auth::Principal p;
  p.user_id = principal_id(key.id);
  p.name = key.name;
  p.roles.push_back("service-key");
  for (const std::string& m : key.allowed_models) p.roles.push_back(std::string(limits::kModelRolePrefix) + m);
  p.key_id = key.id;
  p.may_act_for_users = key.may_act_for_users;
  return p;
}

boost::asio::awaitable<Result<auth::Principal>> KeyAuthenticator::authenticate(std::string_view token) const {
  if (!token.starts_with(kKeyPrefix)) co_return co_await next_.authenticate(token);
  const std::string hash = hash_key(token);
  const TimePoint now = clock_.now();
  std::uint64_t generation = 0;
  {
    const std::lock_guard lock(mu_);
    if (auto it = cache_.find(hash); it != cache_.end()) {
      if (now < it->second.expires) co_return it->second.principal;
      cache_.erase(it);
    }
    generation = generation_;
  }
  // [&], not a by-value capture: g++ 12 destroys a coroutine argument's by-value captures twice.
  Result<ServiceKey> found = co_await offload(blocking_, [&] { return keys_.find_active(hash); });
  if (!found) {
    if (found.error().code == errc::not_found)
      co_return make_error(errc::unauthorized, "invalid API key", "unknown, rotated or revoked service key");
    co_return found.error();
  }
  auth::Principal principal = key_principal(*found);
  {
    const std::lock_guard lock(mu_);
    if (generation == generation_) {
      if (cache_.size() >= kMaxEntries) cache_.clear();
      cache_.insert_or_assign(hash, Entry{principal, now + kCacheTtl});
    }
  }
  co_return principal;
}

void KeyAuthenticator::forget(std::string_view key_id) const {
  const std::lock_guard lock(mu_);
  ++generation_;
  std::erase_if(cache_, [&](const auto& entry) { return entry.second.principal.key_id == key_id; });
}

}  // namespace aas::keys
