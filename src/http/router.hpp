#pragma once
#include "auth/principal.hpp"
#include "core/error.hpp"
#include "http/message.hpp"

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aas::http {

// Who may call a route. user and admin routes need a verified Bearer token; admin also needs the
// admin role (403 otherwise).
enum class Access { open, user, admin };

struct Context {
  const Request& request;
  std::string request_id;
  std::optional<auth::Principal> principal;  // set for user and admin routes
  std::vector<std::pair<std::string, std::string>> params;  // from ":name" segments

  std::string_view param(std::string_view name) const;
  // The principal of a user/admin route (the dispatcher guarantees it is present there).
  const auth::Principal& user() const { return *principal; }
};

// A handler turns a request into a response; expected failures come back as an Error, which the
// dispatcher maps to status and JSON envelope in one place.
using Handler = std::function<boost::asio::awaitable<Result<Response>>(Context&)>;

struct Route {
  std::string method;   // "GET", "POST", "PATCH", "DELETE", ...
  std::string pattern;  // "/api/ai/conversations/:id"
  Access access = Access::user;
  Handler handler;
  // POST/PUT/PATCH bodies must be application/json (415 otherwise); false for the few routes
  // whose bodies are not JSON (Engine.IO's long-polling payloads).
  bool json_body = true;
  // The handler never waits on anything (no I/O, no pool, no timer): the request timeout, which
  // costs a spawned coroutine and a timer per request, is not armed for it (GET /health).
  bool instant = false;
};

class Router {
 public:
  void add(Route route);

  struct Match {
    const Route* route = nullptr;  // null: no route for this method
    std::vector<std::pair<std::string, std::string>> params;
    std::vector<std::string> allowed_methods;  // non-empty when the path exists under other methods
  };
  Match match(std::string_view method, std::string_view path) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
  std::vector<std::size_t> segment_counts_;  // of each route's pattern, by index
};

}  // namespace aas::http
