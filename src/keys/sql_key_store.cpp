// The key store's adapters: one implementation over SQLite (a connection of its own) and
// PostgreSQL (a pool of its own), store/side_records.hpp: the SQL written once with SQLite's
// numbered parameters (?1), spelled $1 for PostgreSQL.
#include "core/ids.hpp"
#include "keys/key_rows.hpp"
#include "keys/sql_key_store.hpp"
#include "store/id_page.hpp"
#include "store/side_records.hpp"

#include <algorithm>

namespace aas::keys {

namespace {

struct ReadKey {
  template <class Row>
  ServiceKey operator()(const Row& r) const { return detail::read_key(r); }
};

template <class Db>
class SqlKeyStore final : public KeyStore {
 public:
  SqlKeyStore(const std::string& where, const Clock& clock) : clock_(clock), db_(where) {}

  Result<ServiceKey> create(const NewServiceKey& k, std::string_view prefix, std::string_view hash) override {
    return one("create key",
               "INSERT INTO service_keys (id, name, prefix, secret_hash, allowed_models, may_act_for_users,"
               " created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING " AAS_KEY_COLUMNS,
               new_uuid_v7(), k.name, prefix, hash, detail::encode_models(k.allowed_models), k.may_act_for_users,
               to_unix_ms(clock_.now()));
  }

  Result<domain::Page<ServiceKey>> list(const domain::PageRequest& page) override {
    auto after = store::page_from(page, "");
    if (!after) return after.error();
    auto keys = db_.rows("list keys", "SELECT " AAS_KEY_COLUMNS " FROM service_keys WHERE id > ?1 ORDER BY id LIMIT ?2",
                         *after, page.limit + 1);
    if (!keys) return keys.error();
    return store::id_page(std::move(*keys), page.limit);
  }

  Result<ServiceKey> get(std::string_view id) override {
    return one("get key", "SELECT " AAS_KEY_COLUMNS " FROM service_keys WHERE id = ?1", id);
  }

  Result<ServiceKey> find_active(std::string_view hash) override {
    return one("find key",
               "SELECT " AAS_KEY_COLUMNS " FROM service_keys WHERE secret_hash = ?1 AND revoked_at IS NULL", hash);
  }

  Result<ServiceKey> rotate(std::string_view id, std::string_view prefix, std::string_view hash) override {
    return one("rotate key",
               "UPDATE service_keys SET prefix = ?2, secret_hash = ?3, rotated_at = ?4"
               " WHERE id = ?1 AND revoked_at IS NULL RETURNING " AAS_KEY_COLUMNS,
               id, prefix, hash, to_unix_ms(clock_.now()));
  }

  Result<ServiceKey> revoke(std::string_view id) override {
    return one("revoke key",
               "UPDATE service_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL RETURNING " AAS_KEY_COLUMNS,
               id, to_unix_ms(clock_.now()));
  }

 private:
  // A statement that yields at most one key; not_found when it yields none.
  template <class... Args>
  Result<ServiceKey> one(std::string_view op, std::string_view sql, const Args&... args) {
    auto keys = db_.rows(op, sql, args...);
    if (!keys) return keys.error();
    if (keys->empty()) return make_error(errc::not_found, "service key not found");
    return std::move(keys->front());
  }

  const Clock& clock_;
  Db db_;
};

}  // namespace

std::unique_ptr<KeyStore> open_sqlite_key_store(const std::string& path, const Clock& clock) {
  return std::make_unique<SqlKeyStore<store::SqliteRecords<ServiceKey, ReadKey>>>(path, clock);
}

std::unique_ptr<KeyStore> open_postgres_key_store(const std::string& url, const Clock& clock) {
  return std::make_unique<SqlKeyStore<store::PostgresRecords<ServiceKey, ReadKey>>>(url, clock);
}

}  // namespace aas::keys
