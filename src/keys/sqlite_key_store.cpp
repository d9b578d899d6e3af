// The key store on SQLite: a connection of its own to the service's database file
// (store/sqlite/side_connection.hpp).
#include "core/ids.hpp"
#include "keys/key_rows.hpp"
#include "keys/sql_key_store.hpp"
#include "store/id_page.hpp"
#include "store/sqlite/side_connection.hpp"

namespace aas::keys {

namespace {

using store::sqlite::detail::Connection;
using store::sqlite::detail::Statement;

struct Row {
  Statement& st;
  std::string text(int c) const { return st.text(c); }
  std::int64_t int64(int c) const { return st.int64(c); }
  bool flag(int c) const { return st.int64(c) != 0; }
  std::optional<std::int64_t> optional_int64(int c) const { return st.optional_int64(c); }
};

class SqliteKeyStore final : public KeyStore {
 public:
  SqliteKeyStore(const std::string& path, const Clock& clock)
      : clock_(clock), db_(path) {}

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
    return db_.run<domain::Page<ServiceKey>>("list keys", [&](Connection& c) -> Result<domain::Page<ServiceKey>> {
      std::vector<ServiceKey> keys;
      auto st = c.prepare("SELECT " AAS_KEY_COLUMNS " FROM service_keys WHERE id > ?1 ORDER BY id LIMIT ?2");
      st.bind_all(*after, page.limit + 1);
      while (st.step()) keys.push_back(detail::read_key(Row{st}));
      return store::id_page(std::move(keys), page.limit);
    });
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
    return db_.run<ServiceKey>(op, [&](Connection& c) -> Result<ServiceKey> {
      Statement st = c.prepare(sql);
      st.bind_all(args...);
      if (!st.step()) return make_error(errc::not_found, "service key not found");
      ServiceKey k = detail::read_key(Row{st});
      while (st.step()) {}  // finish the statement (an UPDATE ... RETURNING commits when done)
      return k;
    });
  }

  const Clock& clock_;
  store::sqlite::SideConnection db_;
};

}  // namespace

std::unique_ptr<KeyStore> open_sqlite_key_store(const std::string& path, const Clock& clock) {
  return std::make_unique<SqliteKeyStore>(path, clock);
}

}  // namespace aas::keys
