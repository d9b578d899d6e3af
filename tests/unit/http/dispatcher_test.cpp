#include "http/dispatcher.hpp"

#include "auth/jwt.hpp"
#include "core/ids.hpp"
#include "core/log.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>

#include <sstream>
#include <stdexcept>

namespace aas::http {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

constexpr std::string_view kSecret = "dispatcher-test-secret";

std::optional<std::string> header_of(const Response& res, std::string_view name) {
  for (const Header& h : res.headers) {
    if (h.name == name) return h.value;
  }
  return std::nullopt;
}

json::object body_of(const Response& res) { return json::parse(res.body).as_object(); }

std::string token_for(std::string user, std::vector<std::string> roles = {}) {
  auth::TokenClaims claims;
  claims.user_id = std::move(user);
  claims.roles = std::move(roles);
  return auth::issue_hs256_token(claims, kSecret, std::chrono::system_clock::now()).value();
}

Request make_request(std::string method, std::string path) {
  Request req;
  req.method = std::move(method);
  req.path = std::move(path);
  req.target = req.path;
  return req;
}

class DispatcherTest : public ::testing::Test {
 protected:
  DispatcherTest() : verifier_(jwt_options(), clock_) {}

  static auth::JwtOptions jwt_options() {
    auth::JwtOptions o;
    o.hs256_secret = std::string(kSecret);
    return o;
  }

  // Routes used across the tests; each test builds a Dispatcher with the options it needs.
  Router make_router() {
    Router r;
    r.add({"GET", "/health", Access::open, [](Context&) -> asio::awaitable<Result<Response>> {
             Response res;
             res.body = R"({"status":"ok"})";
             co_return res;
           }});
    r.add(
        {"GET", "/items/:id", Access::user, [](Context& ctx) -> asio::awaitable<Result<Response>> {
           co_return json_response(std::string("\"") + ctx.user().user_id + ":" +
                                   std::string(ctx.param("id")) + "\"");
         }});
    r.add({"POST", "/items", Access::user, [](Context& ctx) -> asio::awaitable<Result<Response>> {
             co_return json_response(std::to_string(ctx.request.body.size()));
           }});
    r.add({"DELETE", "/items/:id", Access::user,
           [](Context&) -> asio::awaitable<Result<Response>> { co_return json_response("1"); }});
    r.add({"GET", "/admin/stats", Access::admin,
           [](Context&) -> asio::awaitable<Result<Response>> { co_return json_response("{}"); }});
    r.add({"GET", "/limited", Access::open, [](Context&) -> asio::awaitable<Result<Response>> {
             Error e = make_error(errc::rate_limited, "too many requests", "bucket user:1 empty");
             e.retry_after_seconds = 7;
             co_return e;
           }});
    r.add({"GET", "/upstream", Access::open, [](Context&) -> asio::awaitable<Result<Response>> {
             co_return make_error(errc::upstream_error, "the model provider failed",
                                  "HTTP 500 from x");
           }});
    r.add({"GET", "/throws", Access::open, [](Context&) -> asio::awaitable<Result<Response>> {
             throw std::runtime_error("database exploded at 0xdeadbeef");
             co_return json_response("null");
           }});
    r.add({"GET", "/slow", Access::open, [](Context&) -> asio::awaitable<Result<Response>> {
             asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::seconds(10));
             co_await timer.async_wait(asio::use_awaitable);
             co_return json_response("\"finished\"");
           }});
    // The gateway's routes answer errors in their vendor's shape.
    r.add({"GET", "/api/ai/v1/models", Access::user, [](Context& ctx) -> asio::awaitable<Result<Response>> {
             co_return json_response("\"" + ctx.user().user_id + "\"");
           }});
    r.add({"POST", "/api/ai/v1/messages", Access::user, [](Context&) -> asio::awaitable<Result<Response>> {
             co_return make_error(errc::invalid_request, "'max_tokens' is required");
           }});
    r.add({"POST", "/api/ai/v1/chat/completions", Access::user, [](Context&) -> asio::awaitable<Result<Response>> {
             co_return make_error(errc::invalid_request, "'messages[0].role' must be a string");
           }});
    return r;
  }

  static Response json_response(std::string data) {
    Response res;
    res.body = R"({"success":true,"data":)" + data + "}";
    return res;
  }

  Response run(Request req, DispatcherOptions options = {}) {
    Dispatcher dispatcher(make_router(), verifier_, std::move(options));
    return run_with(dispatcher, std::move(req));
  }

  static Response run_with(Dispatcher& dispatcher, Request req) {
    asio::io_context ioc;
    std::optional<Response> out;
    std::exception_ptr error;
    asio::co_spawn(ioc, dispatcher.handle(std::move(req)), [&](std::exception_ptr e, Response res) {
      error = e;
      out = std::move(res);
    });
    ioc.run();
    if (error) std::rethrow_exception(error);
    return *out;
  }

  SystemClock clock_;
  auth::JwtVerifier verifier_;
};

TEST_F(DispatcherTest, OpenRouteAnswersWithRequestId) {
  const Response res = run(make_request("GET", "/health"));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, R"({"status":"ok"})");
  ASSERT_TRUE(header_of(res, "x-request-id"));
  EXPECT_TRUE(is_uuid(*header_of(res, "x-request-id")));
}

TEST_F(DispatcherTest, EchoesSaneRequestId) {
  Request req = make_request("GET", "/health");
  req.headers.push_back({"x-request-id", "abc-123_X.y:z"});
  EXPECT_EQ(header_of(run(std::move(req)), "x-request-id"), "abc-123_X.y:z");

  Request longest = make_request("GET", "/nope");
  longest.headers.push_back({"x-request-id", std::string(128, 'a')});
  const Response res = run(std::move(longest));
  EXPECT_EQ(header_of(res, "x-request-id"), std::string(128, 'a'));
  EXPECT_EQ(body_of(res).at("requestId").as_string(), std::string(128, 'a'));
}

TEST_F(DispatcherTest, ReplacesUnsafeRequestIds) {
  for (const std::string& bad : {std::string(), std::string("has space"), std::string("a\"b"),
                                 std::string("x\r\ny"), std::string(129, 'a'), std::string("é")}) {
    Request req = make_request("GET", "/health");
    req.headers.push_back({"x-request-id", bad});
    const auto id = header_of(run(std::move(req)), "x-request-id");
    ASSERT_TRUE(id);
    EXPECT_TRUE(is_uuid(*id)) << "for " << bad;
  }
}

TEST_F(DispatcherTest, UnknownPathIs404Envelope) {
  Request req = make_request("GET", "/nope");
  req.headers.push_back({"x-request-id", "rid-404"});
  const Response res = run(std::move(req));
  EXPECT_EQ(res.status, 404);
  const auto body = body_of(res);
  EXPECT_EQ(body.at("success"), false);
  EXPECT_EQ(body.at("error").at("code"), "not_found");
  EXPECT_TRUE(body.at("error").at("message").is_string());
  EXPECT_EQ(body.at("requestId"), "rid-404");
}

TEST_F(DispatcherTest, WrongMethodIs405WithAllow) {
  const Response res = run(make_request("PUT", "/items/1"));
  EXPECT_EQ(res.status, 405);
  EXPECT_EQ(body_of(res).at("error").at("code"), "method_not_allowed");
  EXPECT_EQ(header_of(res, "allow"), "GET, DELETE");
}

TEST_F(DispatcherTest, MissingTokenIs401) {
  const Response res = run(make_request("GET", "/items/1"));
  EXPECT_EQ(res.status, 401);
  EXPECT_EQ(body_of(res).at("error").at("code"), "unauthorized");
  EXPECT_EQ(header_of(res, "www-authenticate"), "Bearer");
}

TEST_F(DispatcherTest, BadTokensAre401) {
  const std::string other_secret_token = [] {
    auth::TokenClaims claims;
    claims.user_id = "u1";
    return auth::issue_hs256_token(claims, "another-secret", std::chrono::system_clock::now())
        .value();
  }();
  for (const std::string& value :
       {std::string("Bearer not.a.token"), std::string("Bearer "),
        std::string("Basic dXNlcjpwYXNz"), "Bearer " + other_secret_token, token_for("u1")}) {
    Request req = make_request("GET", "/items/1");
    req.headers.push_back({"authorization", value});
    const Response res = run(std::move(req));
    EXPECT_EQ(res.status, 401) << value;
    EXPECT_EQ(body_of(res).at("error").at("code"), "unauthorized");
  }
}

TEST_F(DispatcherTest, ValidTokenReachesHandlerWithPrincipalAndParams) {
  Request req = make_request("GET", "/items/42");
  req.headers.push_back(
      {"authorization", "bearer " + token_for("user-7")});  // scheme is case-insensitive
  const Response res = run(std::move(req));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(body_of(res).at("data"), "user-7:42");
}

// An authenticator whose every token is a service key allowed to act for users.
class ActingKey final : public auth::Authenticator {
 public:
  asio::awaitable<Result<auth::Principal>> authenticate(std::string_view) const override {
    auth::Principal p;
    p.user_id = "key:k1";
    p.key_id = "k1";
    p.may_act_for_users = true;
    co_return p;
  }
};

TEST_F(DispatcherTest, OnBehalfOfIsHonouredOnlyForKeysAllowedToAct) {
  Request jwt_user = make_request("GET", "/items/1");
  jwt_user.headers.push_back({"authorization", "Bearer " + token_for("user-7")});
  jwt_user.headers.push_back({"x-on-behalf-of", "user-8"});
  const Response refused = run(std::move(jwt_user));
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(body_of(refused).at("error").at("code"), "forbidden");

  const ActingKey key;
  Dispatcher dispatcher(make_router(), key, {});
  const auto acting = [&](std::string header) {
    Request req = make_request("GET", "/items/1");
    req.headers.push_back({"x-api-key", "aas_sk_anything"});
    req.headers.push_back({"x-on-behalf-of", std::move(header)});
    return run_with(dispatcher, std::move(req));
  };
  const Response as_user = acting(" user-8 ");
  EXPECT_EQ(as_user.status, 200);
  EXPECT_EQ(body_of(as_user).at("data"), "user-8:1");
  EXPECT_EQ(acting("").status, 400);
  EXPECT_EQ(acting("key:k2").status, 400) << "never another key's account";
  EXPECT_EQ(acting(std::string(257, 'u')).status, 400);
  EXPECT_EQ(acting("a\x01b").status, 400);
}

TEST_F(DispatcherTest, AdminRouteNeedsAdminRole) {
  Request user = make_request("GET", "/admin/stats");
  user.headers.push_back({"authorization", "Bearer " + token_for("u1", {"user"})});
  const Response forbidden = run(std::move(user));
  EXPECT_EQ(forbidden.status, 403);
  EXPECT_EQ(body_of(forbidden).at("error").at("code"), "forbidden");

  Request admin = make_request("GET", "/admin/stats");
  admin.headers.push_back({"authorization", "Bearer " + token_for("boss", {"admin"})});
  EXPECT_EQ(run(std::move(admin)).status, 200);

  // Authentication comes first: no token on an admin route is 401, not 403.
  EXPECT_EQ(run(make_request("GET", "/admin/stats")).status, 401);
}

TEST_F(DispatcherTest, JsonBodiesNeedJsonContentType) {
  const std::string auth = "Bearer " + token_for("u1");
  auto post = [&](std::optional<std::string> content_type, std::string body) {
    Request req = make_request("POST", "/items");
    req.headers.push_back({"authorization", auth});
    if (content_type) req.headers.push_back({"content-type", *content_type});
    req.body = std::move(body);
    return run(std::move(req));
  };
  const Response plain = post("text/plain", "{}");
  EXPECT_EQ(plain.status, 415);
  EXPECT_EQ(body_of(plain).at("error").at("code"), "unsupported_media_type");
  EXPECT_EQ(post(std::nullopt, "{}").status, 415);
  EXPECT_EQ(post("application/jsonx", "{}").status, 415);

  EXPECT_EQ(post("application/json", "{}").status, 200);
  EXPECT_EQ(post("Application/JSON; charset=utf-8", "{}").status, 200);
  EXPECT_EQ(post(std::nullopt, "").status, 200);  // no body, nothing to check
}

TEST_F(DispatcherTest, HandlerErrorsMapToEnvelopeWithRetryAfter) {
  const Response limited = run(make_request("GET", "/limited"));
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(body_of(limited).at("error").at("code"), "rate_limited");
  EXPECT_EQ(body_of(limited).at("error").at("message"), "too many requests");
  EXPECT_EQ(header_of(limited, "retry-after"), "7");
  EXPECT_EQ(limited.body.find("bucket"), std::string::npos);  // detail is for the log only

  const Response upstream = run(make_request("GET", "/upstream"));
  EXPECT_EQ(upstream.status, 502);
  EXPECT_EQ(body_of(upstream).at("error").at("code"), "upstream_error");
  EXPECT_EQ(upstream.body.find("HTTP 500"), std::string::npos);
}

TEST_F(DispatcherTest, HandlerExceptionIs500WithGenericMessage) {
  const Response res = run(make_request("GET", "/throws"));
  EXPECT_EQ(res.status, 500);
  const auto body = body_of(res);
  EXPECT_EQ(body.at("error").at("code"), "internal");
  EXPECT_EQ(res.body.find("exploded"), std::string::npos);
  EXPECT_EQ(body.at("requestId").as_string(), *header_of(res, "x-request-id"));
}

TEST_F(DispatcherTest, SlowHandlerTimesOutWith503) {
  DispatcherOptions options;
  options.request_timeout = std::chrono::milliseconds(50);
  // /slow answers "finished" after 10 s: this 503 can only be the timeout's.
  const Response res = run(make_request("GET", "/slow"), options);
  EXPECT_EQ(res.status, 503);
  EXPECT_EQ(body_of(res).at("error").at("code"), "unavailable");
  EXPECT_EQ(body_of(res).at("error").at("message"), "request timed out");
}

TEST_F(DispatcherTest, FastHandlerIsNotAffectedByTimeout) {
  DispatcherOptions options;
  options.request_timeout = std::chrono::milliseconds(50);
  EXPECT_EQ(run(make_request("GET", "/health"), options).status, 200);
  EXPECT_EQ(run(make_request("GET", "/throws"), options).status, 500);
}

TEST_F(DispatcherTest, CorsHeadersForAllowedOriginOnly) {
  DispatcherOptions options;
  options.cors_origins = {"https://app.example.com"};

  Request allowed = make_request("GET", "/health");
  allowed.headers.push_back({"origin", "https://app.example.com"});
  const Response res = run(std::move(allowed), options);
  EXPECT_EQ(header_of(res, "access-control-allow-origin"), "https://app.example.com");
  EXPECT_EQ(header_of(res, "vary"), "Origin");
  EXPECT_EQ(header_of(res, "access-control-expose-headers"),
            "X-Request-Id, Retry-After, X-Cache, Request-Id, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset");

  Request denied = make_request("GET", "/health");
  denied.headers.push_back({"origin", "https://evil.example.com"});
  const Response no_cors = run(std::move(denied), options);
  EXPECT_EQ(no_cors.status, 200);
  EXPECT_FALSE(header_of(no_cors, "access-control-allow-origin"));

  // Error responses carry CORS headers too, or the browser hides them from the page.
  Request error = make_request("GET", "/nope");
  error.headers.push_back({"origin", "https://app.example.com"});
  EXPECT_EQ(header_of(run(std::move(error), options), "access-control-allow-origin"),
            "https://app.example.com");
}

TEST_F(DispatcherTest, NoCorsHeadersWhenNotConfigured) {
  Request req = make_request("GET", "/health");
  req.headers.push_back({"origin", "https://app.example.com"});
  const Response res = run(std::move(req));
  EXPECT_FALSE(header_of(res, "access-control-allow-origin"));
  EXPECT_FALSE(header_of(res, "vary"));
}

TEST_F(DispatcherTest, WildcardOriginEchoesTheOrigin) {
  DispatcherOptions options;
  options.cors_origins = {"*"};
  Request req = make_request("GET", "/health");
  req.headers.push_back({"origin", "http://localhost:3000"});
  EXPECT_EQ(header_of(run(std::move(req), options), "access-control-allow-origin"),
            "http://localhost:3000");
}

TEST_F(DispatcherTest, PreflightAnswers204ForKnownPaths) {
  DispatcherOptions options;
  options.cors_origins = {"https://app.example.com"};
  auto preflight = [&](std::string path, std::string origin) {
    Request req = make_request("OPTIONS", std::move(path));
    req.headers.push_back({"origin", std::move(origin)});
    req.headers.push_back({"access-control-request-method", "DELETE"});
    req.headers.push_back({"access-control-request-headers", "authorization"});
    return run(std::move(req), options);
  };

  const Response res = preflight("/items/9", "https://app.example.com");
  EXPECT_EQ(res.status, 204);
  EXPECT_TRUE(res.body.empty());
  EXPECT_EQ(header_of(res, "access-control-allow-origin"), "https://app.example.com");
  EXPECT_EQ(header_of(res, "access-control-allow-methods"), "GET, DELETE");
  EXPECT_EQ(header_of(res, "access-control-allow-headers"),
            "Authorization, Content-Type, X-Request-Id");
  EXPECT_TRUE(header_of(res, "access-control-max-age"));
  EXPECT_TRUE(header_of(res, "x-request-id"));

  const Response denied = preflight("/items/9", "https://evil.example.com");
  EXPECT_FALSE(header_of(denied, "access-control-allow-origin"));
  EXPECT_FALSE(header_of(denied, "access-control-allow-methods"));

  EXPECT_EQ(preflight("/nope", "https://app.example.com").status, 404);
}

TEST_F(DispatcherTest, WritesOneJsonAccessLine) {
  std::ostringstream captured;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
  sink->set_pattern("%v");
  access_log().sinks().push_back(sink);
  const auto level = access_log().level();
  access_log().set_level(spdlog::level::info);

  Request req = make_request("GET", "/items/42");
  req.target = "/items/42?secret=query";
  req.query_string = "secret=query";
  const std::string token = token_for("user-7");
  req.headers.push_back({"authorization", "Bearer " + token});
  req.headers.push_back({"x-request-id", "access-1"});
  run(std::move(req));
  run(make_request("GET", "/nope"));

  access_log().sinks().pop_back();
  access_log().set_level(level);

  std::istringstream lines(captured.str());
  std::string first;
  std::string second;
  ASSERT_TRUE(std::getline(lines, first));
  ASSERT_TRUE(std::getline(lines, second));
  const auto line = json::parse(first).as_object();
  EXPECT_EQ(line.size(), 6u);
  EXPECT_TRUE(line.at("time").is_string());
  EXPECT_EQ(line.at("requestId"), "access-1");
  EXPECT_EQ(line.at("method"), "GET");
  EXPECT_EQ(line.at("route"), "/items/:id");
  EXPECT_EQ(line.at("status"), 200);
  EXPECT_TRUE(line.at("latencyMs").is_double());
  EXPECT_EQ(first.find("secret"), std::string::npos);
  EXPECT_EQ(first.find(token), std::string::npos);

  EXPECT_EQ(json::parse(second).at("route"), "unmatched");
  EXPECT_EQ(json::parse(second).at("status"), 404);
}

TEST_F(DispatcherTest, TellsTheObserverOfEveryRequestByRoutePattern) {
  struct Seen {
    std::string method, route;
    int status;
    double seconds;
  };
  std::vector<Seen> seen;
  DispatcherOptions options;
  options.observer = [&](std::string_view method, std::string_view route, int status, double s) {
    seen.push_back({std::string(method), std::string(route), status, s});
  };
  Dispatcher dispatcher(make_router(), verifier_, std::move(options));
  Request item = make_request("GET", "/items/42");
  item.headers.push_back({"authorization", "Bearer " + token_for("user-7")});
  run_with(dispatcher, std::move(item));
  run_with(dispatcher, make_request("GET", "/items/43"));  // no token
  run_with(dispatcher, make_request("GET", "/nope/secret-path"));
  run_with(dispatcher, make_request("GET", "/throws"));

  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[0].route, "/items/:id");
  EXPECT_EQ(seen[0].status, 200);
  EXPECT_EQ(seen[1].route, "/items/:id");
  EXPECT_EQ(seen[1].status, 401);
  EXPECT_EQ(seen[2].route, "unmatched");
  EXPECT_EQ(seen[2].status, 404);
  EXPECT_EQ(seen[3].route, "/throws");
  EXPECT_EQ(seen[3].status, 500);
  for (const Seen& s : seen) {
    EXPECT_GE(s.seconds, 0);
    EXPECT_LT(s.seconds, 10);
  }
}

TEST(BearerToken, TakesTheTokenOfABearerHeaderInAnyCase) {
  Request req = make_request("GET", "/");
  EXPECT_EQ(bearer_token(req).error().code, errc::unauthorized);
  req.headers.push_back({"authorization", "  bEaReR   tok.en  "});
  EXPECT_EQ(bearer_token(req).value(), "tok.en");
  req.headers[0].value = "Basic dXNlcjpwdw==";
  EXPECT_EQ(bearer_token(req).error().code, errc::unauthorized);
  req.headers[0].value = "Bearer ";
  EXPECT_EQ(bearer_token(req).error().code, errc::unauthorized);
}


TEST_F(DispatcherTest, PreflightGrantsTheHeadersTheOfficialSdksSend) {
  DispatcherOptions options;
  options.cors_origins = {"https://app.example.com"};
  Request req = make_request("OPTIONS", "/api/ai/v1/messages");
  req.headers.push_back({"origin", "https://app.example.com"});
  req.headers.push_back({"access-control-request-method", "POST"});
  req.headers.push_back({"access-control-request-headers",
                         "anthropic-version,content-type,x-api-key,x-stainless-os, X-Stainless-Retry-Count,x-evil"});
  const Response res = run(std::move(req), options);
  EXPECT_EQ(res.status, 204);
  // Each SDK header asked for is granted by name (CORS has no prefix wildcard); others are not.
  EXPECT_EQ(header_of(res, "access-control-allow-headers"),
            "Authorization, Content-Type, X-Request-Id, anthropic-version, x-api-key, x-stainless-os, "
            "X-Stainless-Retry-Count");
}

TEST_F(DispatcherTest, GatewayRoutesAnswerErrorsInTheirVendorsShape) {
  // OpenAI's routes: {"error": {message, type, param, code}}, param from the field named.
  Request chat = make_request("POST", "/api/ai/v1/chat/completions");
  chat.headers.push_back({"authorization", "Bearer " + token_for("u")});
  chat.headers.push_back({"x-request-id", "req-1"});
  const Response openai = run(std::move(chat));
  EXPECT_EQ(openai.status, 400);
  EXPECT_EQ(json::parse(openai.body),
            json::parse(R"({"error":{"message":"'messages[0].role' must be a string","type":"invalid_request_error",)"
                        R"("param":"messages[0].role","code":"invalid_request"}})"));
  EXPECT_EQ(header_of(openai, "x-request-id"), "req-1");

  // Anthropic's: {"type": "error", "error": {type, message}, "request_id"} and request-id.
  Request messages = make_request("POST", "/api/ai/v1/messages");
  messages.headers.push_back({"x-api-key", token_for("u")});  // its SDK's header
  messages.headers.push_back({"x-request-id", "req-2"});
  const Response anthropic = run(std::move(messages));
  EXPECT_EQ(anthropic.status, 400);
  EXPECT_EQ(json::parse(anthropic.body),
            json::parse(R"({"type":"error","error":{"type":"invalid_request_error","message":"'max_tokens' is required"},)"
                        R"("request_id":"req-2"})"));
  EXPECT_EQ(header_of(anthropic, "request-id"), "req-2");

  // Refusals no handler decides: 401 (no token), 404 (no route), 405.
  const Response unauthorized = run(make_request("POST", "/api/ai/v1/messages"));
  EXPECT_EQ(unauthorized.status, 401);
  EXPECT_EQ(body_of(unauthorized).at("error").at("type"), "authentication_error");
  EXPECT_EQ(body_of(unauthorized).at("type"), "error");
  const Response missing = run(make_request("GET", "/api/ai/v1/nope"));
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(body_of(missing).at("error").at("type"), "not_found_error");
  EXPECT_TRUE(body_of(missing).at("error").at("param").is_null());
  EXPECT_FALSE(body_of(missing).contains("success"));
  const Response wrong_method = run(make_request("GET", "/api/ai/v1/messages"));
  EXPECT_EQ(wrong_method.status, 405);
  EXPECT_EQ(body_of(wrong_method).at("type"), "error");

  // The service's own routes keep its envelope.
  EXPECT_EQ(body_of(run(make_request("GET", "/nope"))).at("success"), false);
}

TEST_F(DispatcherTest, GatewayRoutesTakeTheTokenAsXApiKey) {
  Request with_key = make_request("GET", "/api/ai/v1/models");
  with_key.headers.push_back({"x-api-key", token_for("key-user")});
  const Response res = run(std::move(with_key));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(body_of(res).at("data"), "key-user");
  // Authorization wins when both are sent.
  Request both = make_request("GET", "/api/ai/v1/models");
  both.headers.push_back({"x-api-key", token_for("key-user")});
  both.headers.push_back({"authorization", "Bearer garbage"});
  EXPECT_EQ(run(std::move(both)).status, 401);
}

TEST(BearerToken, TakesXApiKeyWhenThereIsNoAuthorizationHeader) {
  Request req = make_request("GET", "/");
  req.headers.push_back({"x-api-key", "  aas_sk_abc  "});
  EXPECT_EQ(bearer_token(req).value(), "aas_sk_abc");
  req.headers.push_back({"authorization", "Bearer jwt.token"});
  EXPECT_EQ(bearer_token(req).value(), "jwt.token") << "Authorization wins";
  Request empty = make_request("GET", "/");
  empty.headers.push_back({"x-api-key", "   "});
  EXPECT_EQ(bearer_token(empty).error().code, errc::unauthorized);
}

}  // namespace
}  // namespace aas::http
