// The delivery store's adapters: SQLite (store/sqlite/side_connection.hpp) and PostgreSQL
// (store/postgres/side_pool.hpp). The SQL differs in placeholders and in the claim: PostgreSQL's
// replicas claim concurrently, so its subquery skips rows another replica has locked.
#include "core/ids.hpp"
#include "store/id_page.hpp"
#include "store/postgres/side_pool.hpp"
#include "store/sqlite/side_connection.hpp"
#include "webhooks/delivery_store.hpp"

#include <algorithm>

namespace aas::webhooks {

namespace {

#define AAS_DELIVERY_COLUMNS                                                                                 \
  "id, endpoint, event_id, event_type, payload, status, attempts, next_attempt_at, last_status, last_error, " \
  "created_at, updated_at, endpoint_id"

template <class Row>
Delivery read_delivery(const Row& r) {
  Delivery d;
  d.id = r.text(0);
  d.endpoint = r.text(1);
  d.event_id = r.text(2);
  d.event_type = r.text(3);
  d.payload = r.text(4);
  d.status = r.text(5);
  d.attempts = r.int64(6);
  d.next_attempt_at = from_unix_ms(r.int64(7));
  d.last_status = r.optional_int64(8);
  d.last_error = r.optional_text(9);
  d.created_at = from_unix_ms(r.int64(10));
  d.updated_at = from_unix_ms(r.int64(11));
  d.endpoint_id = r.optional_text(12).value_or("");
  return d;
}

// UPDATE ... RETURNING gives the claimed rows in no set order: oldest first, for the dispatcher.
std::vector<Delivery> oldest_first(std::vector<Delivery> claimed) {
  std::sort(claimed.begin(), claimed.end(), [](const Delivery& a, const Delivery& b) { return a.id < b.id; });
  return claimed;
}

std::optional<std::string> endpoint_id_or_null(const NewDelivery& d) {
  return d.endpoint_id.empty() ? std::nullopt : std::optional<std::string>(d.endpoint_id);
}

std::optional<std::int64_t> ms_or_null(const std::optional<TimePoint>& t) {
  return t ? std::optional<std::int64_t>(to_unix_ms(*t)) : std::nullopt;
}

// --- SQLite ----------------------------------------------------------------------------------------

using store::sqlite::detail::Statement;
using SqliteConnection = store::sqlite::detail::Connection;

struct SqliteRow {
  Statement& st;
  std::string text(int c) const { return st.text(c); }
  std::int64_t int64(int c) const { return st.int64(c); }
  std::optional<std::int64_t> optional_int64(int c) const { return st.optional_int64(c); }
  std::optional<std::string> optional_text(int c) const { return st.optional_text(c); }
};

class SqliteDeliveryStore final : public DeliveryStore {
 public:
  SqliteDeliveryStore(const std::string& path, const Clock& clock) : clock_(clock), db_(path) {}

  Result<void> enqueue(const std::vector<NewDelivery>& deliveries) override {
    return db_.run<void>("enqueue webhook", [&](SqliteConnection& c) -> Result<void> {
      store::sqlite::detail::Transaction tx(c, store::sqlite::detail::Transaction::Kind::write);
      const std::int64_t now = to_unix_ms(clock_.now());
      for (const NewDelivery& d : deliveries)
        c.prepare("INSERT INTO webhook_deliveries (id, endpoint, event_id, event_type, payload, status, attempts,"
                  " next_attempt_at, created_at, updated_at, endpoint_id)"
                  " VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 0, ?6, ?6, ?6, ?7)")
            .bind_all(new_uuid_v7(), d.endpoint, d.event_id, d.event_type, d.payload, now, endpoint_id_or_null(d))
            .run();
      tx.commit();
      return {};
    });
  }

  Result<std::vector<Delivery>> claim(TimePoint now, TimePoint lease_until, int max) override {
    return db_.run<std::vector<Delivery>>("claim webhooks", [&](SqliteConnection& c) -> Result<std::vector<Delivery>> {
      std::vector<Delivery> out;
      // A read first: an UPDATE takes SQLite's write lock even when nothing matches, and the
      // dispatcher asks often.
      {
        auto due = c.prepare("SELECT 1 FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ?1 LIMIT 1");
        if (!due.bind_all(to_unix_ms(now)).step()) return out;
      }
      auto st = c.prepare(
          "UPDATE webhook_deliveries SET next_attempt_at = ?2, attempts = attempts + 1, updated_at = ?1"
          " WHERE id IN (SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ?1"
          " ORDER BY next_attempt_at, id LIMIT ?3) RETURNING " AAS_DELIVERY_COLUMNS);
      st.bind_all(to_unix_ms(now), to_unix_ms(lease_until), max);
      while (st.step()) out.push_back(read_delivery(SqliteRow{st}));
      return oldest_first(std::move(out));
    });
  }

  Result<void> delivered(std::string_view id, int http_status) override {
    return db_.run<void>("webhook delivered", [&](SqliteConnection& c) -> Result<void> {
      c.prepare("UPDATE webhook_deliveries SET status = 'delivered', last_status = ?2, last_error = NULL,"
                " updated_at = ?3 WHERE id = ?1")
          .bind_all(id, http_status, to_unix_ms(clock_.now()))
          .run();
      return {};
    });
  }

  Result<void> attempt_failed(std::string_view id, std::optional<int> http_status, std::string_view error,
                              std::optional<TimePoint> retry_at) override {
    return db_.run<void>("webhook attempt failed", [&](SqliteConnection& c) -> Result<void> {
      const std::int64_t now = to_unix_ms(clock_.now());
      c.prepare("UPDATE webhook_deliveries SET status = ?2, last_status = ?3, last_error = ?4,"
                " next_attempt_at = coalesce(?5, next_attempt_at), updated_at = ?6 WHERE id = ?1")
          .bind_all(id, retry_at ? "pending" : "failed",
                    http_status ? std::optional<std::int64_t>(*http_status) : std::nullopt, error,
                    ms_or_null(retry_at), now)
          .run();
      return {};
    });
  }

  Result<domain::Page<Delivery>> list(const domain::PageRequest& page,
                                      const std::optional<std::string>& status) override {
    auto before = store::page_from(page, "~");  // "~" sorts after every id: newest first
    if (!before) return before.error();
    return db_.run<domain::Page<Delivery>>("list webhooks", [&](SqliteConnection& c) -> Result<domain::Page<Delivery>> {
      std::vector<Delivery> items;
      auto st = c.prepare("SELECT " AAS_DELIVERY_COLUMNS " FROM webhook_deliveries WHERE id < ?1"
                          " AND (?2 IS NULL OR status = ?2) ORDER BY id DESC LIMIT ?3");
      st.bind_all(*before, status, page.limit + 1);
      while (st.step()) items.push_back(read_delivery(SqliteRow{st}));
      return store::id_page(std::move(items), page.limit);
    });
  }

 private:
  const Clock& clock_;
  store::sqlite::SideConnection db_;
};

// --- PostgreSQL ------------------------------------------------------------------------------------

using store::postgres::detail::Rows;
using PgConnection = store::postgres::detail::Connection;

struct PgRow {
  const Rows& rows;
  int i;
  std::string text(int c) const { return rows.text(i, c); }
  std::int64_t int64(int c) const { return rows.int64(i, c); }
  std::optional<std::int64_t> optional_int64(int c) const { return rows.optional_int64(i, c); }
  std::optional<std::string> optional_text(int c) const { return rows.optional_text(i, c); }
};

class PostgresDeliveryStore final : public DeliveryStore {
 public:
  PostgresDeliveryStore(const std::string& url, const Clock& clock) : clock_(clock), db_(url, 2) {}

  Result<void> enqueue(const std::vector<NewDelivery>& deliveries) override {
    return db_.run<void>("enqueue webhook", [&](PgConnection& c) -> Result<void> {
      store::postgres::detail::Transaction tx(c, store::postgres::detail::Transaction::Kind::write);
      const std::int64_t now = to_unix_ms(clock_.now());
      for (const NewDelivery& d : deliveries)
        c.query_with("INSERT INTO webhook_deliveries (id, endpoint, event_id, event_type, payload, status, attempts,"
                     " next_attempt_at, created_at, updated_at, endpoint_id)"
                     " VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6, $6, $7)",
                     new_uuid_v7(), d.endpoint, d.event_id, d.event_type, d.payload, now, endpoint_id_or_null(d));
      tx.commit();
      return {};
    });
  }

  Result<std::vector<Delivery>> claim(TimePoint now, TimePoint lease_until, int max) override {
    return db_.run<std::vector<Delivery>>("claim webhooks", [&](PgConnection& c) -> Result<std::vector<Delivery>> {
      const Rows rows = c.query_with(
          "UPDATE webhook_deliveries SET next_attempt_at = $2, attempts = attempts + 1, updated_at = $1"
          " WHERE id IN (SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= $1"
          " ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING " AAS_DELIVERY_COLUMNS,
          to_unix_ms(now), to_unix_ms(lease_until), max);
      std::vector<Delivery> out;
      for (int i = 0; i < rows.size(); ++i) out.push_back(read_delivery(PgRow{rows, i}));
      return oldest_first(std::move(out));
    });
  }

  Result<void> delivered(std::string_view id, int http_status) override {
    return db_.run<void>("webhook delivered", [&](PgConnection& c) -> Result<void> {
      c.query_with("UPDATE webhook_deliveries SET status = 'delivered', last_status = $2, last_error = NULL,"
                   " updated_at = $3 WHERE id = $1",
                   id, http_status, to_unix_ms(clock_.now()));
      return {};
    });
  }

  Result<void> attempt_failed(std::string_view id, std::optional<int> http_status, std::string_view error,
                              std::optional<TimePoint> retry_at) override {
    return db_.run<void>("webhook attempt failed", [&](PgConnection& c) -> Result<void> {
      c.query_with("UPDATE webhook_deliveries SET status = $2, last_status = $3, last_error = $4,"
                   " next_attempt_at = coalesce($5::bigint, next_attempt_at), updated_at = $6 WHERE id = $1",
                   id, retry_at ? "pending" : "failed",
                   http_status ? std::optional<std::int64_t>(*http_status) : std::nullopt, error,
                   ms_or_null(retry_at), to_unix_ms(clock_.now()));
      return {};
    });
  }

  Result<domain::Page<Delivery>> list(const domain::PageRequest& page,
                                      const std::optional<std::string>& status) override {
    auto before = store::page_from(page, "~");  // "~" sorts after every id: newest first
    if (!before) return before.error();
    return db_.run<domain::Page<Delivery>>("list webhooks", [&](PgConnection& c) -> Result<domain::Page<Delivery>> {
      const Rows rows = c.query_with("SELECT " AAS_DELIVERY_COLUMNS " FROM webhook_deliveries WHERE id < $1"
                                     " AND ($2::text IS NULL OR status = $2) ORDER BY id DESC LIMIT $3",
                                     *before, status, page.limit + 1);
      std::vector<Delivery> items;
      for (int i = 0; i < rows.size(); ++i) items.push_back(read_delivery(PgRow{rows, i}));
      return store::id_page(std::move(items), page.limit);
    });
  }

 private:
  const Clock& clock_;
  store::postgres::SidePool db_;
};

}  // namespace

std::unique_ptr<DeliveryStore> open_sqlite_delivery_store(const std::string& path, const Clock& clock) {
  return std::make_unique<SqliteDeliveryStore>(path, clock);
}

std::unique_ptr<DeliveryStore> open_postgres_delivery_store(const std::string& url, const Clock& clock) {
  return std::make_unique<PostgresDeliveryStore>(url, clock);
}

}  // namespace aas::webhooks
