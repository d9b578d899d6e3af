// The key store's adapters: one implementation over two small database wrappers, SQLite (a
// connection of its own, store/sqlite/side_connection.hpp) and PostgreSQL (a pool of its own,
// store/postgres/side_pool.hpp). The SQL is written once with SQLite's numbered parameters (?1);
// PostgreSQL's wrapper spells them $1.
#include "core/ids.hpp"
#include "keys/key_rows.hpp"
#include "keys/sql_key_store.hpp"
#include "store/id_page.hpp"
#include "store/postgres/side_pool.hpp"
#include "store/sqlite/side_connection.hpp"

#include <algorithm>

namespace aas::keys {

namespace {

// The rows of a statement as a list of keys, from either database.
class SqliteDb {
 public:
  explicit SqliteDb(const std::string& path) : db_(path) {}

  template <class... Args>
  Result<std::vector<ServiceKey>> keys(std::string_view op, std::string_view sql, const Args&... args) {
    return db_.run<std::vector<ServiceKey>>(op, [&](store::sqlite::detail::Connection& c) -> Result<std::vector<ServiceKey>> {
      auto st = c.prepare(sql);
      st.bind_all(args...);
      std::vector<ServiceKey> out;
      while (st.step()) out.push_back(detail::read_key(Row{st}));  // to the end: an UPDATE commits when done
      return out;
    });
  }

 private:
  struct Row {
    store::sqlite::detail::Statement& st;
    std::string text(int c) const { return st.text(c); }
    std::int64_t int64(int c) const { return st.int64(c); }
    bool flag(int c) const { return st.int64(c) != 0; }
    std::optional<std::int64_t> optional_int64(int c) const { return st.optional_int64(c); }
  };
  store::sqlite::SideConnection db_;
};

class PostgresDb {
 public:
  explicit PostgresDb(const std::string& url) : db_(url, 2) {}

  template <class... Args>
  Result<std::vector<ServiceKey>> keys(std::string_view op, std::string_view sql, const Args&... args) {
    std::string pg(sql);
    std::replace(pg.begin(), pg.end(), '?', '$');  // ?1 -> $1 (no '?' appears otherwise in this SQL)
    return db_.run<std::vector<ServiceKey>>(op, [&](store::postgres::detail::Connection& c) -> Result<std::vector<ServiceKey>> {
      const store::postgres::detail::Rows rows = c.query_with(pg, args...);
      std::vector<ServiceKey> out;
      for (int i = 0; i < rows.size(); ++i) out.push_back(detail::read_key(Row{rows, i}));
      return out;
    });
  }

 private:
  struct Row {
    const store::postgres::detail::Rows& rows;
    int i;
    std::string text(int c) const { return rows.text(i, c); }
    std::int64_t int64(int c) const { return rows.int64(i, c); }
    bool flag(int c) const { return rows.text(i, c) == "t"; }
    std::optional<std::int64_t> optional_int64(int c) const { return rows.optional_int64(i, c); }
  };
  store::postgres::SidePool db_;
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
    auto keys = db_.keys("list keys", "SELECT " AAS_KEY_COLUMNS " FROM service_keys WHERE id > ?1 ORDER BY id LIMIT ?2",
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
    auto keys = db_.keys(op, sql, args...);
    if (!keys) return keys.error();
    if (keys->empty()) return make_error(errc::not_found, "service key not found");
    return std::move(keys->front());
  }

  const Clock& clock_;
  Db db_;
};

}  // namespace

std::unique_ptr<KeyStore> open_sqlite_key_store(const std::string& path, const Clock& clock) {
  return std::make_unique<SqlKeyStore<SqliteDb>>(path, clock);
}

std::unique_ptr<KeyStore> open_postgres_key_store(const std::string& url, const Clock& clock) {
  return std::make_unique<SqlKeyStore<PostgresDb>>(url, clock);
}

}  // namespace aas::keys
