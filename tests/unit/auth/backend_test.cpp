// BackendAuthenticator against a real HTTP server standing in for the monolith's
// /api/auth/verify: which tokens go to the backend, how its answers become principals or
// errors, what is cached and for how long.
#include "auth/backend.hpp"

#include "http/client.hpp"
#include "http/dispatcher.hpp"
#include "http/server.hpp"
#include "testing/fake_clock.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

namespace aas::auth {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// Any fixed instant will do.
using testing::FakeClock;

const std::string kSecret = "local-secret-of-reasonable-length-0123";

// The monolith: answers by token, counts calls per Authorization header.
class FakeBackend {
 public:
  FakeBackend() {
    http::Router r;
    r.add({"GET", "/api/auth/verify", http::Access::open,
           [this](http::Context& ctx) -> asio::awaitable<Result<http::Response>> {
             const std::string auth(ctx.request.header("authorization").value_or(""));
             {
               std::lock_guard lock(mu_);
               ++calls_[auth];
             }
             http::Response res;
             if (auth == "Bearer opaque-slow") {
               asio::steady_timer t(co_await asio::this_coro::executor, 2s);
               co_await t.async_wait(asio::use_awaitable);
             }
             if (auth == "Bearer opaque-good" || auth == "Bearer opaque-slow") {
               res.body = R"({"user":{"id":"u-7","email":"a@b.c","role":"admin"}})";
             } else if (auth == "Bearer opaque-data") {
               res.body = R"({"success":true,"data":{"user":{"id":42,"roles":["user"]}}})";
             } else if (auth == "Bearer opaque-invalid") {
               res.body = R"({"valid":false})";
             } else if (auth == "Bearer opaque-nouser") {
               res.body = R"({"ok":true})";
             } else if (auth == "Bearer opaque-500") {
               res.status = 500;
               res.body = R"({"error":"boom"})";
             } else {
               res.status = 401;
               res.body = R"({"error":"Invalid token"})";
             }
             co_return res;
           }});
    dispatcher_ = std::make_unique<http::Dispatcher>(std::move(r), verifier_, http::DispatcherOptions{});
    http::ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    server_ = std::make_unique<http::Server>(ioc_, o, *dispatcher_);
    server_->start();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~FakeBackend() {
    work_.reset();
    ioc_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }
  int calls(const std::string& token) {
    std::lock_guard lock(mu_);
    return calls_["Bearer " + token];
  }

 private:
  SystemClock clock_;
  JwtVerifier verifier_{JwtOptions{}, clock_};
  asio::io_context ioc_{1};
  asio::executor_work_guard<asio::io_context::executor_type> work_{ioc_.get_executor()};
  std::unique_ptr<http::Dispatcher> dispatcher_;
  std::unique_ptr<http::Server> server_;
  std::thread thread_;
  std::mutex mu_;
  std::map<std::string, int> calls_;
};

class BackendAuthenticatorTest : public ::testing::Test {
 protected:
  BackendAuthenticatorTest() {
    JwtOptions o;
    o.hs256_secret = kSecret;
    local_ = std::make_unique<JwtVerifier>(o, clock_);
    http::ClientOptions co;
    client_ = std::make_shared<http::HttpClient>(ioc_.get_executor(), co);
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~BackendAuthenticatorTest() override {
    work_.reset();
    ioc_.stop();
    thread_.join();
  }

  std::unique_ptr<BackendAuthenticator> make(std::string url, std::chrono::milliseconds timeout = 1000ms,
                                             std::size_t max_cache_entries = 10000) {
    BackendOptions b;
    b.base_url = std::move(url);
    b.timeout = timeout;
    b.max_cache_entries = max_cache_entries;
    b.positive_ttl = 60s;
    b.negative_ttl = 10s;
    JwtOptions claims;
    return std::make_unique<BackendAuthenticator>(*local_, client_, b, claims, clock_);
  }

  Result<Principal> check(const Authenticator& a, const std::string& token) {
    return asio::co_spawn(ioc_, a.authenticate(token), asio::use_future).get();
  }

  FakeClock clock_;
  std::unique_ptr<JwtVerifier> local_;
  asio::io_context ioc_{1};
  asio::executor_work_guard<asio::io_context::executor_type> work_{ioc_.get_executor()};
  std::shared_ptr<http::HttpClient> client_;
  std::thread thread_;
  FakeBackend backend_;
};

TEST_F(BackendAuthenticatorTest, LocallyValidTokenNeverReachesTheBackend) {
  TokenClaims claims;
  claims.user_id = "local-user";
  const std::string token = issue_hs256_token(claims, kSecret, clock_.now()).value();
  auto a = make(backend_.url());
  auto p = check(*a, token);
  ASSERT_TRUE(p) << p.error().detail;
  EXPECT_EQ(p->user_id, "local-user");
  EXPECT_EQ(backend_.calls(token), 0);
}

TEST_F(BackendAuthenticatorTest, AcceptedTokenIsCachedUntilItsTtlRunsOut) {
  auto a = make(backend_.url());
  auto p = check(*a, "opaque-good");
  ASSERT_TRUE(p) << p.error().detail;
  EXPECT_EQ(p->user_id, "u-7");
  EXPECT_TRUE(p->is_admin);
  EXPECT_EQ(backend_.calls("opaque-good"), 1);

  clock_.advance(59s);
  ASSERT_TRUE(check(*a, "opaque-good"));
  EXPECT_EQ(backend_.calls("opaque-good"), 1) << "second check within the TTL must come from the cache";

  clock_.advance(2s);
  ASSERT_TRUE(check(*a, "opaque-good"));
  EXPECT_EQ(backend_.calls("opaque-good"), 2) << "after the TTL the backend is asked again";
}

TEST_F(BackendAuthenticatorTest, AFullCacheDropsExpiredEntriesFirstAndThenEverything) {
  auto a = make(backend_.url() + "//", 1000ms, 2);  // trailing slashes of the URL do not matter
  ASSERT_TRUE(check(*a, "opaque-good"));
  clock_.advance(55s);
  ASSERT_TRUE(check(*a, "opaque-data"));  // two entries: the cache is full
  clock_.advance(6s);                     // opaque-good has expired, opaque-data has not
  ASSERT_FALSE(check(*a, "opaque-invalid"));  // room made by dropping the expired entry only
  ASSERT_TRUE(check(*a, "opaque-data"));
  EXPECT_EQ(backend_.calls("opaque-data"), 1) << "a live entry survives while an expired one can go";
  // Full of live entries: all are forgotten rather than the cache growing.
  ASSERT_TRUE(check(*a, "opaque-good"));
  EXPECT_EQ(backend_.calls("opaque-good"), 2);
  ASSERT_TRUE(check(*a, "opaque-data"));
  EXPECT_EQ(backend_.calls("opaque-data"), 2) << "forgotten when the cache was cleared";
}

TEST_F(BackendAuthenticatorTest, UserUnderDataWithIntegerIdAndRolesArray) {
  auto a = make(backend_.url());
  auto p = check(*a, "opaque-data");
  ASSERT_TRUE(p) << p.error().detail;
  EXPECT_EQ(p->user_id, "42");
  EXPECT_EQ(p->roles, std::vector<std::string>{"user"});
  EXPECT_FALSE(p->is_admin);
}

TEST_F(BackendAuthenticatorTest, RefusedTokenIsUnauthorizedAndCachedShorter) {
  auto a = make(backend_.url());
  auto p = check(*a, "opaque-bad");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, errc::unauthorized);
  EXPECT_EQ(p.error().message, "invalid token");
  ASSERT_FALSE(check(*a, "opaque-bad"));
  EXPECT_EQ(backend_.calls("opaque-bad"), 1);
  clock_.advance(11s);
  ASSERT_FALSE(check(*a, "opaque-bad"));
  EXPECT_EQ(backend_.calls("opaque-bad"), 2);
}

TEST_F(BackendAuthenticatorTest, BodySayingInvalidIsARefusal) {
  auto a = make(backend_.url());
  auto p = check(*a, "opaque-invalid");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, errc::unauthorized);
}

TEST_F(BackendAuthenticatorTest, BackendFailureIsUnavailableAndNotCached) {
  auto a = make(backend_.url());
  for (int i = 0; i < 2; ++i) {
    auto p = check(*a, "opaque-500");
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().code, errc::unavailable);
  }
  EXPECT_EQ(backend_.calls("opaque-500"), 2);

  auto nouser = check(*a, "opaque-nouser");
  ASSERT_FALSE(nouser);
  EXPECT_EQ(nouser.error().code, errc::unavailable) << "a 2xx naming no user is the backend's fault";
}

TEST_F(BackendAuthenticatorTest, SlowBackendTimesOut) {
  // The backend would answer with a valid user after 2 s: a refusal shows the 200 ms timeout cut
  // the call short, with no clock read here.
  auto a = make(backend_.url(), 200ms);
  auto p = check(*a, "opaque-slow");
  ASSERT_FALSE(p) << "the slow backend's user was accepted: the timeout did not fire";
  EXPECT_EQ(p.error().code, errc::unavailable);
}

TEST_F(BackendAuthenticatorTest, UnreachableBackendIsUnavailable) {
  // A port that was free a moment ago: nothing listens there.
  asio::io_context tmp;
  asio::ip::tcp::acceptor probe(tmp, {asio::ip::make_address("127.0.0.1"), 0});
  const auto port = probe.local_endpoint().port();
  probe.close();
  auto a = make("http://127.0.0.1:" + std::to_string(port) + "/");
  auto p = check(*a, "opaque-good");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, errc::unavailable);
  EXPECT_EQ(p.error().detail.find("opaque-good"), std::string::npos) << "details never hold the token";
}

TEST(PrincipalFromBackendBody, Shapes) {
  JwtOptions claims;
  EXPECT_EQ(principal_from_backend_body(R"({"id":"top"})", claims).value().user_id, "top");
  EXPECT_EQ(principal_from_backend_body(R"({"data":{"sub":"in-data"}})", claims).value().user_id,
            "in-data");
  EXPECT_EQ(principal_from_backend_body(R"({"user":{"userId":"u"},"id":"ignored"})", claims).value().user_id,
            "u");
  EXPECT_EQ(principal_from_backend_body(R"({"success":false,"user":{"id":"x"}})", claims).error().code,
            errc::unauthorized);
  EXPECT_EQ(principal_from_backend_body(R"({"data":{"valid":false}})", claims).error().code,
            errc::unauthorized);
  EXPECT_EQ(principal_from_backend_body("not json", claims).error().code, errc::upstream_error);
  EXPECT_EQ(principal_from_backend_body(R"([1,2])", claims).error().code, errc::upstream_error);
  EXPECT_EQ(principal_from_backend_body(R"({"user":{"name":"no id"}})", claims).error().code,
            errc::upstream_error);
}

TEST(PrincipalFromBackendBody, ConfiguredClaimsAndAdminRole) {
  JwtOptions claims;
  claims.user_claims = {"uid"};
  claims.role_claims = {"groups"};
  claims.admin_role = "staff";
  auto p = principal_from_backend_body(R"({"user":{"id":"no","uid":"yes","groups":["staff"]}})", claims);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->user_id, "yes");
  EXPECT_TRUE(p->is_admin);
}

// Only a boolean false refuses; a data or user member that is not an object is no holder; the
// user under data wins over the top level's; a detail says why an answer named no usable user.
TEST(PrincipalFromBackendBody, WhatRefusesAndWhereTheUserIsLookedFor) {
  JwtOptions claims;
  const auto user_of = [&](std::string_view body) {
    auto p = principal_from_backend_body(body, claims);
    return p ? p->user_id : "error: " + p.error().detail;
  };
  EXPECT_EQ(user_of(R"({"valid":"false","success":0,"id":"u1"})"), "u1") << "only a boolean false refuses";
  EXPECT_EQ(user_of(R"({"valid":true,"data":{"valid":true,"id":"in-data"},"id":"top"})"), "in-data");
  EXPECT_EQ(user_of(R"({"data":"x","user":"y","id":"top"})"), "top") << "neither data nor user is an object";
  EXPECT_EQ(user_of(R"({"data":{"user":{"id":"deep"}},"user":{"id":"top-user"}})"), "top-user")
      << "a user at the top is found first";
  EXPECT_EQ(user_of(R"({"data":{"user":{"id":"deep"}}})"), "deep");
  EXPECT_EQ(user_of(R"({"user":{"id":true}})"),
            "error: main backend's answer names no usable user: claim 'id' is neither a string nor an integer");
  EXPECT_EQ(principal_from_backend_body(R"({"valid":false,"id":"x"})", claims).error().code, errc::unauthorized);
}

}  // namespace
}  // namespace aas::auth
