// The endpoint store's adapters: one implementation over SQLite and PostgreSQL
// (store/side_records.hpp: the SQL written once).
#include "core/ids.hpp"
#include "store/id_page.hpp"
#include "store/side_records.hpp"
#include "webhooks/endpoint_store.hpp"

#include <algorithm>

namespace aas::webhooks {

bool Endpoint::wants(std::string_view type) const {
  return events.empty() || std::find(events.begin(), events.end(), type) != events.end();
}

namespace {

#define AAS_ENDPOINT_COLUMNS "id, url, secret, tenant, events, created_at, rotated_at"

// The event types as the column keeps them: separated by spaces (a type has none).
std::string encode_events(const std::vector<std::string>& events) {
  std::string out;
  for (const std::string& e : events) out += (out.empty() ? "" : " ") + e;
  return out;
}

std::vector<std::string> decode_events(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const std::size_t end = std::min(text.find(' '), text.size());
    if (end > 0) out.emplace_back(text.substr(0, end));
    text.remove_prefix(std::min(end + 1, text.size()));
  }
  return out;
}

template <class Row>
Endpoint read_endpoint(const Row& r) {
  Endpoint e;
  e.id = r.text(0);
  e.url = r.text(1);
  e.secret = r.text(2);
  e.tenant = r.text(3);
  e.events = decode_events(r.text(4));
  e.created_at = from_unix_ms(r.int64(5));
  if (auto rotated = r.optional_int64(6)) e.rotated_at = from_unix_ms(*rotated);
  return e;
}

struct ReadEndpoint {
  template <class Row>
  Endpoint operator()(const Row& r) const { return read_endpoint(r); }
};

template <class Db>
class SqlEndpointStore final : public EndpointStore {
 public:
  SqlEndpointStore(const std::string& where, const Clock& clock) : clock_(clock), db_(where) {}

  Result<Endpoint> create(const NewEndpoint& e) override {
    return one("create webhook endpoint",
               "INSERT INTO webhook_endpoints (id, url, secret, tenant, events, created_at)"
               " VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING " AAS_ENDPOINT_COLUMNS,
               new_uuid_v7(), e.url, e.secret, e.tenant, encode_events(e.events), to_unix_ms(clock_.now()));
  }

  Result<std::vector<Endpoint>> all() override {
    return db_.rows("webhook endpoints", "SELECT " AAS_ENDPOINT_COLUMNS " FROM webhook_endpoints ORDER BY id");
  }

  Result<domain::Page<Endpoint>> list(const domain::PageRequest& page) override {
    auto after = store::page_from(page, "");
    if (!after) return after.error();
    auto found = db_.rows("list webhook endpoints",
                          "SELECT " AAS_ENDPOINT_COLUMNS " FROM webhook_endpoints WHERE id > ?1 ORDER BY id LIMIT ?2",
                          *after, page.limit + 1);
    if (!found) return found.error();
    return store::id_page(std::move(*found), page.limit);
  }

  Result<Endpoint> get(std::string_view id) override {
    return one("get webhook endpoint", "SELECT " AAS_ENDPOINT_COLUMNS " FROM webhook_endpoints WHERE id = ?1", id);
  }

  Result<Endpoint> rotate(std::string_view id, std::string_view secret) override {
    return one("rotate webhook secret",
               "UPDATE webhook_endpoints SET secret = ?2, rotated_at = ?3 WHERE id = ?1 RETURNING " AAS_ENDPOINT_COLUMNS,
               id, secret, to_unix_ms(clock_.now()));
  }

  Result<Endpoint> remove(std::string_view id) override {
    return one("delete webhook endpoint", "DELETE FROM webhook_endpoints WHERE id = ?1 RETURNING " AAS_ENDPOINT_COLUMNS,
               id);
  }

 private:
  // A statement that yields at most one endpoint; not_found when it yields none.
  template <class... Args>
  Result<Endpoint> one(std::string_view op, std::string_view sql, const Args&... args) {
    auto found = db_.rows(op, sql, args...);
    if (!found) return found.error();
    if (found->empty()) return make_error(errc::not_found, "webhook endpoint not found");
    return std::move(found->front());
  }

  const Clock& clock_;
  Db db_;
};

}  // namespace

std::unique_ptr<EndpointStore> open_sqlite_endpoint_store(const std::string& path, const Clock& clock) {
  return std::make_unique<SqlEndpointStore<store::SqliteRecords<Endpoint, ReadEndpoint>>>(path, clock);
}

std::unique_ptr<EndpointStore> open_postgres_endpoint_store(const std::string& url, const Clock& clock) {
  return std::make_unique<SqlEndpointStore<store::PostgresRecords<Endpoint, ReadEndpoint>>>(url, clock);
}

}  // namespace aas::webhooks
