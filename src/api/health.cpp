// GET /health, GET /ready, GET /api/ai/admin/health
#include "api/api.hpp"
#include "api/json_io.hpp"
#include "llm/models.hpp"
#include "ops/health.hpp"

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
  http::Response r;
  r.status = 200;
  r.body = R"({"status":"ok"})";  // the same bytes json::serialize wrote, without building a value
  co_return r;
}

// Readiness: the database answers and its schema is the one this binary expects; Redis answers,
// or the replica can do without it (fail open: it is "degraded", limits held per replica).
Reply ready(Services& s, http::Context&) {
  const ops::DependencyState d = co_await s.health.check();
  json::object checks;
  checks["database"] = d.database_reachable ? "ok" : d.database_reason;
  checks["migrations"] = d.migrated() ? std::string("ok")
                                      : "schema version " + std::to_string(d.schema_version) +
                                            ", expected " + std::to_string(d.latest_schema_version);
  const bool redis_ok = d.redis_ok();
  if (d.redis) checks["redis"] = *d.redis;
  const bool is_ready = d.database_reachable && d.migrated() && (redis_ok || !s.redis_required);
  const char* status = !is_ready ? "not_ready" : redis_ok ? "ready" : "degraded";
  co_return plain_json(json::object{{"status", status}, {"checks", checks}}, is_ready ? 200 : 503);
}

Reply admin_health(Services& s, http::Context&) {
  const ops::DependencyState d = co_await s.health.check();
  json::array providers;
  for (const ProviderInfo& p : s.info.providers)
    providers.push_back(json::object{{"name", p.name}, {"configured", p.configured}, {"active", p.active}});
  json::array models;
  for (const std::string& name : s.models.names()) models.push_back(json::string(name));
  const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::steady_clock::now() - s.info.started);
  json::object data;
  data["status"] = d.database_reachable && d.redis_ok() ? "ok" : "degraded";
  data["version"] = s.info.version;
  data["uptimeSeconds"] = uptime.count();
  data["database"] = json::object{{"ok", d.database_reachable},
                                  {"driver", s.info.database_driver},
                                  {"schemaVersion", d.schema_version},
                                  {"latestSchemaVersion", d.latest_schema_version}};
  json::object redis_state{{"configured", s.health.redis_configured()}};
  if (d.redis) {
    redis_state["ok"] = *d.redis == "ok";
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
  http::Route health{"GET", "/health", Access::open, [&s](http::Context& c) { return live(s, c); }};
  health.instant = true;
  router.add(std::move(health));
  router.add({"GET", "/ready", Access::open, [&s](http::Context& c) { return ready(s, c); }});
  router.add({"GET", "/api/ai/admin/health", Access::admin,
              [&s](http::Context& c) { return admin_health(s, c); }});
}

}  // namespace aas::api
