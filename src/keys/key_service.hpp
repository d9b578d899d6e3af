#pragma once
// Managing service keys (the admin routes /api/ai/admin/keys): create and rotate hand out the key
// once; nothing else ever returns it, because only its hash is stored. A key's own rate limits and
// budget are the limit override of its principal id ("key:<id>", the user id its calls are
// accounted under), so PUT /api/ai/admin/limits/key:<id> changes them too. Revoking or rotating
// publishes "key.revoked" on the event bus: every replica's KeyAuthenticator forgets the old key.
// Store work runs on the blocking pool.
#include "domain/usage.hpp"
#include "keys/key_store.hpp"

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace boost::asio { class thread_pool; }
namespace aas::realtime { class EventBus; }
namespace aas::store { class Store; }

namespace aas::keys {

// Every key starts with this, so the authenticator tells keys from JWTs without a lookup (and
// secret scanners can recognise a leaked one).
inline constexpr std::string_view kKeyPrefix = "aas_sk_";
// The event that makes every replica forget a key (its user_id is the key's principal id).
inline constexpr std::string_view kRevokedEvent = "key.revoked";

// The user id a key's calls are accounted under (ledger, limits, budgets, conversations).
std::string principal_id(std::string_view key_id);

// A new key: the prefix, 64 hex characters of randomness (256 bits); and what is stored of it.
struct Secret {
  std::string key;     // shown once
  std::string prefix;  // kept in clear: kKeyPrefix and the first 8 characters of the random part
  std::string hash;    // SHA-256 of the whole key, hex
};
Secret new_secret();
std::string hash_key(std::string_view key);

// A key as the admin sees it: the record and its limits (none: the defaults apply).
struct KeyView {
  ServiceKey key;
  std::optional<domain::LimitOverride> limits;
};
// After create or rotate: the key in clear, this once.
struct IssuedKey {
  KeyView view;
  std::string secret;
};

class KeyService {
 public:
  template <class T>
  using Awaitable = boost::asio::awaitable<Result<T>>;

  KeyService(KeyStore& keys, store::Store& store, boost::asio::thread_pool& blocking, realtime::EventBus& bus)
      : keys_(keys), store_(store), blocking_(blocking), bus_(bus) {}

  // `limits` (its user_id is ignored) becomes the key's limit override when given.
  Awaitable<IssuedKey> create(NewServiceKey key, std::optional<domain::LimitOverride> limits);
  Awaitable<domain::Page<KeyView>> list(domain::PageRequest page);
  Awaitable<KeyView> get(std::string id);
  Awaitable<IssuedKey> rotate(std::string id);
  Awaitable<KeyView> revoke(std::string id);

  // Called with a revoked or rotated key's id before the bus announces it: this replica forgets
  // the key before the request that revoked it is answered (the bus delivers to this replica too,
  // but through Redis a moment later, when a request with the old key may already have passed).
  void set_local_forget(std::function<void(std::string_view key_id)> forget) { forget_ = std::move(forget); }

 private:
  Result<KeyView> view(ServiceKey key);
  void announce_revoked(const std::string& key_id);

  KeyStore& keys_;
  store::Store& store_;
  boost::asio::thread_pool& blocking_;
  realtime::EventBus& bus_;
  std::function<void(std::string_view key_id)> forget_;
};

}  // namespace aas::keys
