// GET /health, GET /ready, GET /api/ai/admin/health
#include "api/api.hpp"
#include "api/json_io.hpp"
#include "core/offload.hpp"
#include "llm/models.hpp"
#include "store/store.hpp"

#include <boost/json/serialize.hpp>

namespace aas::api {

namespace {

using Reply = boost::asio::awaitable<Result<http::Response>>;

http::Response plain_json(const json::value& v, int status) {
  http::Response r;
  r.status = status;
  r.body = json::serialize(v);
  return r;
}

// Liveness: the process answers. No database round trip, so a slow disk does not get the
// service restarted.
Reply live(Services&, http::Context&) {
  co_return plain_json(json::object{{"status", "ok"}}, 200);
}

struct DbState {
  bool reachable = false;
  std::string reason;
  int schema_version = 0;
};

DbState check_database(store::Store& store) {
  DbState d;
  if (auto ping = store.ping(); !ping) {
    d.reason = ping.error().message;
    return d;
  }
  d.reachable = true;
  if (auto v = store.schema_version()) d.schema_version = *v;
  return d;
}

// Readiness: the database answers and its schema is the one this binary expects.
Reply ready(Services& s, http::Context&) {
  const DbState db = co_await offload(s.blocking, [&] { return check_database(s.store); });
  const int latest = s.store.latest_schema_version();
  json::object checks;
  checks["database"] = db.reachable ? "ok" : db.reason;
  const bool migrated = db.reachable && db.schema_version == latest;
  checks["migrations"] = migrated ? std::string("ok")
                                  : "schema version " + std::to_string(db.schema_version) +
                                        ", expected " + std::to_string(latest);
  const bool is_ready = db.reachable && migrated;
  co_return plain_json(json::object{{"status", is_ready ? "ready" : "not_ready"}, {"checks", checks}},
                       is_ready ? 200 : 503);
}

Reply admin_health(Services& s, http::Context&) {
  const DbState db = co_await offload(s.blocking, [&] { return check_database(s.store); });
  json::array providers;
  for (const ProviderInfo& p : s.info.providers)
    providers.push_back(json::object{{"name", p.name}, {"configured", p.configured}, {"active", p.active}});
  json::array models;
  for (const std::string& name : s.models.names()) models.push_back(json::string(name));
  const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::steady_clock::now() - s.info.started);
  json::object data;
  data["status"] = db.reachable ? "ok" : "degraded";
  data["version"] = s.info.version;
  data["uptimeSeconds"] = uptime.count();
  data["database"] = json::object{{"ok", db.reachable},
                                  {"driver", s.info.database_driver},
                                  {"schemaVersion", db.schema_version},
                                  {"latestSchemaVersion", s.store.latest_schema_version()}};
  data["providers"] = std::move(providers);
  data["models"] = std::move(models);
  data["defaultModel"] = s.models.default_model().name;
  co_return ok(data);
}

}  // namespace

void add_health_routes(http::Router& router, Services& s) {
  using http::Access;
  router.add({"GET", "/health", Access::open, [&s](http::Context& c) { return live(s, c); }});
  router.add({"GET", "/ready", Access::open, [&s](http::Context& c) { return ready(s, c); }});
  router.add({"GET", "/api/ai/admin/health", Access::admin,
              [&s](http::Context& c) { return admin_health(s, c); }});
}

}  // namespace aas::api
