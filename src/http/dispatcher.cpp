#include "http/dispatcher.hpp"

#include "auth/authenticator.hpp"
#include "core/clock.hpp"
#include "core/ids.hpp"
#include "core/log.hpp"
#include "http/error_response.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace aas::http {

namespace {

namespace asio = boost::asio;

constexpr std::string_view kCorsAllowHeaders = "Authorization, Content-Type, X-Request-Id";
// X-Cache says whether the gateway's response cache answered; request-id is where Anthropic's
// SDK looks for the request id; RateLimit-* say how much of a limit is left.
constexpr std::string_view kCorsExposeHeaders =
    "X-Request-Id, Retry-After, X-Cache, Request-Id, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset";
constexpr std::string_view kCorsMaxAgeSeconds = "600";

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

std::string_view trim(std::string_view s) {
  const std::size_t first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

// Only ids that are safe to echo into headers and logs are taken over from the client.
bool is_sane_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '-';
  });
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (const std::string& item : items) {
    if (!out.empty()) out.append(separator);
    out.append(item);
  }
  return out;
}

bool origin_allowed(const Request& req, const DispatcherOptions& options) {
  const auto origin = req.header("origin");
  if (!origin || options.cors_origins.empty()) return false;
  return std::any_of(
      options.cors_origins.begin(), options.cors_origins.end(),
      [&](const std::string& allowed) { return allowed == "*" || allowed == *origin; });
}

// Maps an Error to its response and logs what operators need: the detail, never bodies or tokens.
Response fail(const Error& e, std::string_view request_id, ErrorShape shape) {
  const std::string_view why = e.detail.empty() ? std::string_view(e.message) : e.detail;
  if (http_status(e.code) >= 500) {
    spdlog::warn("request {}: {}: {}", request_id, code_name(e.code), why);
  } else {
    spdlog::debug("request {}: {}: {}", request_id, code_name(e.code), why);
  }
  return error_response(e, request_id, shape);
}

// POST/PUT/PATCH bodies must be JSON; "application/json; charset=utf-8" is fine.
bool content_type_acceptable(const Request& req) {
  if (req.body.empty()) return true;
  if (req.method != "POST" && req.method != "PUT" && req.method != "PATCH") return true;
  const auto content_type = req.header("content-type");
  if (!content_type) return false;
  const std::string_view media = trim(content_type->substr(0, content_type->find(';')));
  return iequals(media, "application/json");
}

// A request header a browser may send cross-origin beside kCorsAllowHeaders: those the official
// SDKs add to every request (OpenAI's and Anthropic's x-stainless-* telemetry, Anthropic's key,
// version and beta headers, OpenAI's organisation and project). Checked per name because CORS
// has no prefix wildcard and "*" does not cover Authorization.
bool sdk_header(std::string_view name) {
  auto starts = [&](std::string_view prefix) {
    return name.size() >= prefix.size() && iequals(name.substr(0, prefix.size()), prefix);
  };
  return starts("x-stainless-") || starts("anthropic-") || iequals(name, "x-api-key") ||
         iequals(name, "openai-organization") || iequals(name, "openai-project") || iequals(name, "idempotency-key");
}

// The headers a preflight may be granted: the fixed list, plus the SDK headers it asked for.
std::string allowed_headers(const Request& req) {
  std::string out(kCorsAllowHeaders);
  const auto asked = req.header("access-control-request-headers");
  if (!asked) return out;
  std::string_view rest = *asked;
  while (!rest.empty()) {
    const std::size_t comma = rest.find(',');
    const std::string_view name = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (sdk_header(name)) out.append(", ").append(name);
  }
  return out;
}

// OPTIONS on a path that exists: 204 with Allow; a CORS preflight from an allowed origin also
// learns which methods and headers it may use.
Response options_response(const Request& req, const std::vector<std::string>& methods,
                          const DispatcherOptions& options) {
  Response res;
  res.status = 204;
  res.content_type.clear();
  std::string allow = join(methods, ", ");
  const bool preflight = req.header("access-control-request-method").has_value();
  if (preflight && origin_allowed(req, options)) {
    res.headers.push_back({"access-control-allow-methods", allow});
    res.headers.push_back({"access-control-allow-headers", allowed_headers(req)});
    res.headers.push_back({"access-control-max-age", std::string(kCorsMaxAgeSeconds)});
  }
  res.headers.push_back({"allow", std::move(allow)});
  return res;
}

// The handler's result, or nullopt when it threw (logged here, where the route is known).
asio::awaitable<std::optional<Result<Response>>> run_guarded(const Route& route, Context& ctx) {
  std::string what;
  try {
    co_return co_await route.handler(ctx);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "a non-standard exception";
  }
  // After a timeout the handler's abort is expected: its 503 is already decided.
  const auto state = co_await asio::this_coro::cancellation_state;
  if (state.cancelled() != asio::cancellation_type::none) {
    spdlog::debug("request {}: handler for {} {} abandoned: {}", ctx.request_id, route.method,
                  route.pattern, what);
  } else {
    spdlog::error("request {}: handler for {} {} threw: {}", ctx.request_id, route.method,
                  route.pattern, what);
  }
  co_return std::nullopt;
}

// What the request timeout shares with its timer callback, which may run after the request is done.
struct Deadline {
  explicit Deadline(const asio::any_io_executor& ex) : timer(ex) {}
  asio::steady_timer timer;
  asio::cancellation_signal cancel;
  bool expired = false;
};

// Runs the handler under the request timeout: when the timer fires, the handler's pending
// operation is cancelled and the request answered 503. A handler that ignores cancellation (e.g.
// one waiting on the blocking pool) still delays the 503 until it returns.
//
// Why not `handler || timer` (awaitable_operators): it spawns two coroutines and a parallel group
// per request, which measured at a quarter of the instructions of GET /health. This spawns one,
// at about half that cost.
asio::awaitable<Response> run_handler(const Route& route, Context& ctx,
                                      std::chrono::milliseconds timeout, ErrorShape shape) {
  std::optional<Result<Response>> outcome;
  if (timeout.count() > 0) {
    const auto ex = co_await asio::this_coro::executor;
    auto deadline = std::make_shared<Deadline>(ex);
    deadline->timer.expires_after(timeout);
    // On the same strand as the handler, so the signal is never emitted concurrently with it.
    deadline->timer.async_wait([deadline](const boost::system::error_code& ec) {
      if (ec) return;
      deadline->expired = true;
      deadline->cancel.emit(asio::cancellation_type::terminal);
    });
    outcome = co_await asio::co_spawn(
        ex, run_guarded(route, ctx),
        asio::bind_cancellation_slot(deadline->cancel.slot(), asio::use_awaitable));
    // The handler is done: a timer firing from now on must not reach its finished coroutine.
    deadline->cancel.slot().clear();
    deadline->timer.cancel();
    if (deadline->expired) {
      co_return fail(make_error(errc::unavailable, "request timed out",
                                fmt::format("{} {} exceeded the request timeout", route.method,
                                            route.pattern)),
                     ctx.request_id, shape);
    }
  } else {
    outcome = co_await run_guarded(route, ctx);
  }
  if (!outcome)
    co_return error_response(make_error(errc::internal, "internal error"), ctx.request_id, shape);
  if (!*outcome) co_return fail(outcome->error(), ctx.request_id, shape);
  co_return std::move(**outcome);
}

// X-On-Behalf-Of: a service key allowed to (keys/) names the user it calls for; the call is then
// that user's (their conversations, ledger rows, limits), still bound by the key's model list.
// Anyone else sending the header is refused rather than silently served as themselves.
Result<void> act_for(auth::Principal& principal, std::string_view header) {
  if (!principal.may_act_for_users)
    return make_error(errc::forbidden, "X-On-Behalf-Of is only accepted from a service key allowed to act for users");
  const std::string_view user = trim(header);
  if (user.empty() || user.size() > 256)
    return make_error(errc::invalid_request, "X-On-Behalf-Of must name a user id of 1 to 256 characters");
  if (user.starts_with("key:"))  // a key's own account: acting as it would spend another key's budget
    return make_error(errc::invalid_request, "X-On-Behalf-Of must name a user, not a service key");
  for (const char c : user)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return make_error(errc::invalid_request, "X-On-Behalf-Of must not contain control characters");
  principal.user_id = std::string(user);
  principal.name.clear();
  principal.may_act_for_users = false;
  return {};
}

// Everything after routing: 404/405/OPTIONS, authentication, the admin check, 415, the handler.
asio::awaitable<Response> respond(const Request& req, const std::string& request_id,
                                  Router::Match& match, const auth::Authenticator& authenticator,
                                  const DispatcherOptions& options) {
  const ErrorShape shape = error_shape_for(req.path);
  if (!match.route) {
    if (match.allowed_methods.empty()) {
      co_return fail(make_error(errc::not_found, "no such route"), request_id, shape);
    }
    if (req.method == "OPTIONS") co_return options_response(req, match.allowed_methods, options);
    Response res = fail(make_error(errc::method_not_allowed, "method not allowed"), request_id, shape);
    res.headers.push_back({"allow", join(match.allowed_methods, ", ")});
    co_return res;
  }

  if (const auto key = req.query_param_with_nul()) {
    co_return fail(make_error(errc::invalid_request,
                              "query parameter '" + key->substr(0, 64) + "' contains a NUL character (U+0000)"),
                   request_id, shape);
  }
  const Route& route = *match.route;
  Context ctx{req, request_id, std::nullopt, std::move(match.params)};
  if (route.access != Access::open) {
    const Result<std::string_view> token = bearer_token(req);
    if (!token) co_return fail(token.error(), request_id, shape);
    Result<auth::Principal> principal = co_await authenticator.authenticate(*token);
    if (!principal) co_return fail(principal.error(), request_id, shape);
    if (route.access == Access::admin && !principal->is_admin) {
      co_return fail(make_error(errc::forbidden, "admin role required"), request_id, shape);
    }
    if (const auto user = req.header("x-on-behalf-of")) {
      if (auto acted = act_for(*principal, *user); !acted) co_return fail(acted.error(), request_id, shape);
    }
    ctx.principal = std::move(*principal);
  }
  if (route.json_body && !content_type_acceptable(req)) {
    co_return fail(
        make_error(errc::unsupported_media_type, "Content-Type must be application/json"),
        request_id, shape);
  }
  const auto timeout = route.instant ? std::chrono::milliseconds(0) : options.request_timeout;
  co_return co_await run_handler(route, ctx, timeout, shape);
}

void append_json_string(fmt::memory_buffer& out, std::string_view s) {
  out.push_back('"');
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<int>(c));
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

// RFC 3339 with milliseconds, as format_rfc3339 writes it. Formatting a date costs more than the
// rest of the access line, so each thread reuses the text of the current second.
void append_timestamp(fmt::memory_buffer& out) {
  thread_local std::int64_t cached_second = -1;
  thread_local std::string cached_prefix;  // "2026-11-25T01:20:44"
  const auto now = std::chrono::system_clock::now();
  const std::int64_t ms = to_unix_ms(now);
  const std::int64_t second = ms / 1000;
  if (second != cached_second) {
    cached_prefix = format_rfc3339(now).substr(0, 19);
    cached_second = second;
  }
  fmt::format_to(std::back_inserter(out), "{}.{:03d}Z", cached_prefix, ms % 1000);
}

// One JSON line per request. Never headers, tokens, bodies or query strings.
void write_access_log(std::string_view request_id, std::string_view method, std::string_view route,
                      int status, std::chrono::steady_clock::duration latency) {
  spdlog::logger& log = access_log();
  if (!log.should_log(spdlog::level::info)) return;
  const double latency_ms = std::chrono::duration<double, std::milli>(latency).count();
  fmt::memory_buffer line;
  line.append(std::string_view(R"({"time":")"));
  append_timestamp(line);
  line.append(std::string_view(R"(","requestId":)"));
  append_json_string(line, request_id);
  line.append(std::string_view(R"(,"method":)"));
  append_json_string(line, method);
  line.append(std::string_view(R"(,"route":)"));
  append_json_string(line, route);
  fmt::format_to(std::back_inserter(line), R"(,"status":{},"latencyMs":{:.3f}}})", status,
                 latency_ms);
  log.info(std::string_view(line.data(), line.size()));
}

// A stream's access-log line (and metric) is written when its head goes out, with its first
// write, or with the status of the whole response the body answered instead (replace): only then
// is its status known. Latency is time to headers.
class LoggedWriter final : public BodyWriter {
 public:
  LoggedWriter(BodyWriter& out, int status, std::function<void(int)> log)
      : out_(out), status_(status), log_(std::move(log)) {}

  asio::awaitable<bool> write(std::string_view bytes) override {
    logged(status_);
    co_return co_await out_.write(bytes);
  }
  TryWrite try_write(std::string_view bytes) override {
    const TryWrite done = out_.try_write(bytes);
    if (done == TryWrite::written || done == TryWrite::kept) logged(status_);
    return done;
  }
  void on_closed(std::function<void()> f) override { out_.on_closed(std::move(f)); }
  bool is_closed() const override { return out_.is_closed(); }
  asio::awaitable<bool> replace(Response res) override {
    const int status = res.status;
    const bool replaced = co_await out_.replace(std::move(res));
    if (replaced) logged(status);
    co_return replaced;
  }
  // Once, with the first status known.
  void logged(int status) {
    if (std::exchange(done_, true)) return;
    log_(status);
  }

 private:
  BodyWriter& out_;
  const int status_;
  std::function<void(int)> log_;
  bool done_ = false;
};

}  // namespace

Result<std::string_view> bearer_token(const Request& req) {
  const auto header = req.header("authorization");
  if (!header) {
    // Anthropic's SDK sends its key as x-api-key; any credential is accepted there too.
    if (const auto key = req.header("x-api-key"); key && !trim(*key).empty()) return trim(*key);
    return make_error(errc::unauthorized, "missing bearer token");
  }
  const std::string_view value = trim(*header);
  const std::size_t space = value.find(' ');
  if (space == std::string_view::npos || !iequals(value.substr(0, space), "bearer")) {
    return make_error(errc::unauthorized, "missing bearer token",
                      "authorization scheme is not Bearer");
  }
  const std::string_view token = trim(value.substr(space + 1));
  if (token.empty()) return make_error(errc::unauthorized, "missing bearer token");
  return token;
}

Dispatcher::Dispatcher(Router router, const auth::Authenticator& authenticator, DispatcherOptions options)
    : router_(std::move(router)), authenticator_(authenticator), options_(std::move(options)) {}

asio::awaitable<Response> Dispatcher::handle(Request request) {
  const auto started = std::chrono::steady_clock::now();
  const auto sent_id = request.header("x-request-id");
  const std::string request_id =
      sent_id && is_sane_request_id(*sent_id) ? std::string(*sent_id) : new_uuid_v7();

  std::string_view route_name = "unmatched";
  Response res;
  try {
    Router::Match match = router_.match(request.method, request.path);
    if (match.route) route_name = match.route->pattern;
    res = co_await respond(request, request_id, match, authenticator_, options_);
  } catch (const std::exception& e) {
    // Only a bug gets here (handler exceptions are caught closer to the handler).
    spdlog::error("request {}: dispatch failed: {}", request_id, e.what());
    res = error_response(make_error(errc::internal, "internal error"), request_id, error_shape_for(request.path));
  } catch (...) {
    spdlog::error("request {}: dispatch failed with a non-standard exception", request_id);
    res = error_response(make_error(errc::internal, "internal error"), request_id, error_shape_for(request.path));
  }

  res.headers.push_back({"x-request-id", request_id});
  // Anthropic's SDK reads a response's request id from request-id (errors carry it already).
  if (error_shape_for(request.path) == ErrorShape::anthropic &&
      std::none_of(res.headers.begin(), res.headers.end(), [](const Header& h) { return h.name == "request-id"; }))
    res.headers.push_back({"request-id", request_id});
  if (origin_allowed(request, options_)) {
    res.headers.push_back({"access-control-allow-origin", std::string(*request.header("origin"))});
    res.headers.push_back({"access-control-expose-headers", std::string(kCorsExposeHeaders)});
  }
  // Any response may differ by Origin once CORS is configured, so caches must key on it.
  if (!options_.cors_origins.empty()) res.headers.push_back({"vary", "Origin"});

  auto log = [request_id, method = request.method, route_name, started,
              observer = options_.observer](int status) {
    const auto latency = std::chrono::steady_clock::now() - started;
    write_access_log(request_id, method, route_name, status, latency);
    if (observer) observer(method, route_name, status, std::chrono::duration<double>(latency).count());
  };
  // (HEAD gets a stream's head at once, without its body: the server does not run it.)
  if (!res.stream || request.method == "HEAD") {
    log(res.status);
    co_return res;
  }
  res.stream = [body = std::move(res.stream), status = res.status,
                log = std::move(log)](BodyWriter& out) -> asio::awaitable<void> {
    LoggedWriter logged(out, status, log);
    try {
      co_await body(logged);
    } catch (...) {
      logged.logged(500);  // the server answers 500 if nothing was sent yet
      throw;
    }
    logged.logged(status);  // an empty body: its head goes out now
  };
  co_return res;
}

}  // namespace aas::http
