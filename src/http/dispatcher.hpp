#pragma once
#include "http/message.hpp"
#include "http/router.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace aas::auth { class Authenticator; }

namespace aas::http {

struct DispatcherOptions {
  // Origins allowed by CORS; "*" allows any. Empty: no CORS headers at all.
  std::vector<std::string> cors_origins;
  // A handler running longer than this is abandoned and answered 503 unavailable.
  std::chrono::milliseconds request_timeout{120000};
  // Told of every answered request (metrics): method, route pattern or "unmatched" (never the
  // raw path), status, and seconds until the response was ready. Called on the I/O threads.
  std::function<void(std::string_view method, std::string_view route, int status, double seconds)>
      observer;
};

// The token of an "Authorization: Bearer <token>" header (scheme in any case), else of an
// "x-api-key" header (as Anthropic's SDK sends it), or unauthorized.
Result<std::string_view> bearer_token(const Request& req);

// Everything between "a request was read" and "a response is ready", independent of sockets:
// request id, CORS (including preflight), routing (JSON 404/405), authentication and the admin
// check, the handler, error mapping, and the access-log line.
class Dispatcher {
 public:
  Dispatcher(Router router, const auth::Authenticator& authenticator, DispatcherOptions options);
  // Never throws: a handler's exception is logged and answered with 500.
  boost::asio::awaitable<Response> handle(Request request);
  const Router& router() const { return router_; }

 private:
  Router router_;
  const auth::Authenticator& authenticator_;
  DispatcherOptions options_;
};

}  // namespace aas::http
