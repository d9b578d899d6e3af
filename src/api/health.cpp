// GET /health, GET /ready, GET /api/ai/admin/health
#include "api/api.hpp"
#include "api/json_io.hpp"
#include "core/offload.hpp"
#include "llm/models.hpp"
#include "redis/client.hpp"
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

// Redis's answer to PING, or why there was none; nullopt without REDIS_URL.
std::optional<std::string> check_redis(Services& s) {
  if (!s.redis) return std::nullopt;
  auto ping = s.redis->ping();
  return ping ? std::string("ok") : ping.error().message;
}

// Readiness: the database answers and its schema is the one this binary expects; Redis answers,
// or the replica can do without it (fail open: it is "degraded", limits held per replica).
Reply ready(Services& s, http::Context&) {
  const auto [db, redis] = co_await offload(s.blocking, [&] {
    return std::pair{check_database(s.store), check_redis(s)};
  });
  const int latest = s.store.latest_schema_version();
  json::object checks;
  checks["database"] = db.reachable ? "ok" : db.reason;
  const bool migrated = db.reachable && db.schema_version == latest;
  checks["migrations"] = migrated ? std::string("ok")
                                  : "schema version " + std::to_string(db.schema_version) +
                                        ", expected " + std::to_string(latest);
  const bool redis_ok = !redis || *redis == "ok";
  if (redis) checks["redis"] = *redis;
  const bool is_ready = db.reachable && migrated && (redis_ok || !s.redis_required);
  const char* status = !is_ready ? "not_ready" : redis_ok ? "ready" : "degraded";
  co_return plain_json(json::object{{"status", status}, {"checks", checks}}, is_ready ? 200 : 503);
}

Reply admin_health(Services& s, http::Context&) {
  const auto [db, redis] = co_await offload(s.blocking, [&] {
    return std::pair{check_database(s.store), check_redis(s)};
  });
  json::array providers;
  for (const ProviderInfo& p : s.info.providers)
    providers.push_back(json::object{{"name", p.name}, {"configured", p.configured}, {"active", p.active}});
  json::array models;
  for (const std::string& name : s.models.names()) models.push_back(json::string(name));
  const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::steady_clock::now() - s.info.started);
  json::object data;
  data["status"] = db.reachable && (!redis || *redis == "ok") ? "ok" : "degraded";
  data["version"] = s.info.version;
  data["uptimeSeconds"] = uptime.count();
  data["database"] = json::object{{"ok", db.reachable},
                                  {"driver", s.info.database_driver},
                                  {"schemaVersion", db.schema_version},
                                  {"latestSchemaVersion", s.store.latest_schema_version()}};
  json::object redis_state{{"configured", s.redis != nullptr}};
  if (redis) {
    redis_state["ok"] = *redis == "ok";
    redis_state["failMode"] = s.redis_required ? "closed" : "open";
  }
  data["redis"] = std::move(redis_state);
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
