#pragma once
// Service keys (virtual API keys for the monolith's backend and other services): the records and
// their own store port, beside store::Store rather than on it. The SQLite and PostgreSQL adapters
// (keys/sqlite_key_store, keys/postgres_key_store) use the tables of migration 10.
//
// A key is stored as the SHA-256 of the whole key: the secret is 256 random bits, so a fast hash
// is enough (nothing to brute-force, unlike a password), and it lets a request's key be found by
// one indexed lookup. Only a short prefix is kept in clear, to tell keys apart in a list.
#include "core/clock.hpp"
#include "core/error.hpp"
#include "domain/records.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aas::keys {

struct ServiceKey {
  std::string id;  // UUIDv7
  std::string name;
  std::string prefix;  // the key's first characters, e.g. "aas_sk_1f2e3d4c"
  std::vector<std::string> allowed_models;  // empty: every model
  bool may_act_for_users = false;           // may send X-On-Behalf-Of
  TimePoint created_at{};
  std::optional<TimePoint> rotated_at;
  std::optional<TimePoint> revoked_at;
};

struct NewServiceKey {
  std::string name;
  std::vector<std::string> allowed_models;
  bool may_act_for_users = false;
};

class KeyStore {
 public:
  virtual ~KeyStore() = default;
  // Stores a key under its hash and visible prefix (never the key itself).
  virtual Result<ServiceKey> create(const NewServiceKey& key, std::string_view prefix,
                                    std::string_view secret_hash) = 0;
  // Oldest first (by id); revoked keys included, marked.
  virtual Result<domain::Page<ServiceKey>> list(const domain::PageRequest& page) = 0;
  virtual Result<ServiceKey> get(std::string_view id) = 0;
  // The key whose hash this is, unless revoked: not_found otherwise.
  virtual Result<ServiceKey> find_active(std::string_view secret_hash) = 0;
  // Replaces the hash and prefix (the old key stops working at once); not_found when the key does
  // not exist or is revoked.
  virtual Result<ServiceKey> rotate(std::string_view id, std::string_view prefix, std::string_view secret_hash) = 0;
  // Marks the key revoked (kept, for the ledger rows that name it); not_found when it does not
  // exist or was revoked already.
  virtual Result<ServiceKey> revoke(std::string_view id) = 0;
};

}  // namespace aas::keys
