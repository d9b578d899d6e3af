#include "realtime/socketio/mount.hpp"

#include "realtime/socketio/engine.hpp"

#include <boost/json/serialize.hpp>

namespace aas::realtime::engineio {

namespace {

std::string with_slash(const std::string& path) { return path.ends_with('/') ? path : path + "/"; }

}  // namespace

std::vector<http::Route> polling_routes(Server& engine, const std::string& path) {
  const std::string pattern = with_slash(path);
  http::Handler handler = [&engine](http::Context& ctx) -> boost::asio::awaitable<Result<http::Response>> {
    co_return co_await engine.handle_polling(ctx.request);
  };
  std::vector<http::Route> routes;
  for (const char* method : {"GET", "POST"}) {
    http::Route r{method, pattern, http::Access::open, handler};
    r.json_body = false;
    routes.push_back(std::move(r));
  }
  return routes;
}

http::UpgradeHandler upgrade_handler(Server& engine, const std::string& path) {
  return [&engine, pattern = with_slash(path)](const http::Request& req) -> http::UpgradeDecision {
    if (req.path == pattern) return engine.handle_upgrade(req);
    http::Response res;
    res.status = 404;
    res.body = boost::json::serialize(boost::json::object{
        {"success", false}, {"error", boost::json::object{{"code", "not_found"}, {"message", "no such route"}}}});
    return res;
  };
}

}  // namespace aas::realtime::engineio
