#pragma once
// Service keys as credentials: a token that starts with "aas_sk_" is looked up by its SHA-256 in
// the key store; any other token goes to the next authenticator (JWT, main backend). A key found
// is remembered for a short while (kCacheTtl) so a busy service does not read the database on
// every request; revoking or rotating a key publishes "key.revoked" on the event bus, which every
// replica's authenticator hears and forgets the key at once (Redis pub/sub in production, in this
// process otherwise). The TTL bounds how long a key could outlive a lost pub/sub message.
//
// The principal of a key: user_id "key:<id>" (ledger rows, limits and budgets are the key's),
// never admin; roles "service-key" and, for a key limited to some models, one
// limits::kModelRolePrefix role per model (the accounting refuses others).
#include "auth/authenticator.hpp"
#include "core/clock.hpp"
#include "keys/key_store.hpp"

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace boost::asio { class thread_pool; }

namespace aas::keys {

auth::Principal key_principal(const ServiceKey& key);

class KeyAuthenticator final : public auth::Authenticator {
 public:
  static constexpr std::chrono::seconds kCacheTtl{30};
  static constexpr std::size_t kMaxEntries = 4096;

  // `next`, `keys`, `blocking` and `clock` must outlive this object.
  KeyAuthenticator(const auth::Authenticator& next, KeyStore& keys, boost::asio::thread_pool& blocking,
                   const Clock& clock)
      : next_(next), keys_(keys), blocking_(blocking), clock_(clock) {}

  boost::asio::awaitable<Result<auth::Principal>> authenticate(std::string_view token) const override;

  // Forgets every cached principal of this key (the bus's "key.revoked"). Any thread.
  void forget(std::string_view key_id) const;

 private:
  struct Entry {
    auth::Principal principal;
    TimePoint expires;
  };
  const auth::Authenticator& next_;
  KeyStore& keys_;
  boost::asio::thread_pool& blocking_;
  const Clock& clock_;
  mutable std::mutex mu_;
  mutable std::unordered_map<std::string, Entry> cache_;  // by the key's hash, never the key
  // Bumped by forget(): a lookup that started before a revocation must not cache what it read.
  mutable std::uint64_t generation_ = 0;
};

}  // namespace aas::keys
