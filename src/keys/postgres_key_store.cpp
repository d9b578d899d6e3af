// The key store on PostgreSQL: a small pool of its own (store/postgres/side_pool.hpp), every
// operation one statement (autocommit).
#include "core/ids.hpp"
#include "keys/key_rows.hpp"
#include "keys/sql_key_store.hpp"
#include "store/id_page.hpp"
#include "store/postgres/side_pool.hpp"

namespace aas::keys {

namespace {

using store::postgres::detail::Connection;
using store::postgres::detail::Rows;

constexpr std::size_t kPoolSize = 2;

struct Row {
  const Rows& rows;
  int i;
  std::string text(int c) const { return rows.text(i, c); }
  std::int64_t int64(int c) const { return rows.int64(i, c); }
  bool flag(int c) const { return rows.text(i, c) == "t"; }
  std::optional<std::int64_t> optional_int64(int c) const { return rows.optional_int64(i, c); }
};

class PostgresKeyStore final : public KeyStore {
 public:
  PostgresKeyStore(const std::string& url, const Clock& clock)
      : clock_(clock), db_(url, kPoolSize) {}

  Result<ServiceKey> create(const NewServiceKey& k, std::string_view prefix, std::string_view hash) override {
    return one("create key",
               "INSERT INTO service_keys (id, name, prefix, secret_hash, allowed_models, may_act_for_users,"
               " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING " AAS_KEY_COLUMNS,
               new_uuid_v7(), k.name, prefix, hash, detail::encode_models(k.allowed_models), k.may_act_for_users,
               to_unix_ms(clock_.now()));
  }

  Result<domain::Page<ServiceKey>> list(const domain::PageRequest& page) override {
    auto after = store::page_from(page, "");
    if (!after) return after.error();
    return db_.run<domain::Page<ServiceKey>>("list keys", [&](Connection& c) -> Result<domain::Page<ServiceKey>> {
      const Rows rows = c.query_with("SELECT " AAS_KEY_COLUMNS " FROM service_keys WHERE id > $1 ORDER BY id LIMIT $2",
                                     *after, page.limit + 1);
      std::vector<ServiceKey> keys;
      for (int i = 0; i < rows.size(); ++i) keys.push_back(detail::read_key(Row{rows, i}));
      return store::id_page(std::move(keys), page.limit);
    });
  }

  Result<ServiceKey> get(std::string_view id) override {
    return one("get key", "SELECT " AAS_KEY_COLUMNS " FROM service_keys WHERE id = $1", id);
  }

  Result<ServiceKey> find_active(std::string_view hash) override {
    return one("find key",
               "SELECT " AAS_KEY_COLUMNS " FROM service_keys WHERE secret_hash = $1 AND revoked_at IS NULL", hash);
  }

  Result<ServiceKey> rotate(std::string_view id, std::string_view prefix, std::string_view hash) override {
    return one("rotate key",
               "UPDATE service_keys SET prefix = $2, secret_hash = $3, rotated_at = $4"
               " WHERE id = $1 AND revoked_at IS NULL RETURNING " AAS_KEY_COLUMNS,
               id, prefix, hash, to_unix_ms(clock_.now()));
  }

  Result<ServiceKey> revoke(std::string_view id) override {
    return one("revoke key",
               "UPDATE service_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING " AAS_KEY_COLUMNS,
               id, to_unix_ms(clock_.now()));
  }

 private:
  template <class... Args>
  Result<ServiceKey> one(std::string_view op, std::string_view sql, const Args&... args) {
    return db_.run<ServiceKey>(op, [&](Connection& c) -> Result<ServiceKey> {
      const Rows rows = c.query_with(sql, args...);
      if (rows.empty()) return make_error(errc::not_found, "service key not found");
      return detail::read_key(Row{rows, 0});
    });
  }

  const Clock& clock_;
  store::postgres::SidePool db_;
};

}  // namespace

std::unique_ptr<KeyStore> open_postgres_key_store(const std::string& url, const Clock& clock) {
  return std::make_unique<PostgresKeyStore>(url, clock);
}

}  // namespace aas::keys
