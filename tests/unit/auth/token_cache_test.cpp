// VerifiedTokenCache: a token verified once is remembered until it expires, and only then; what
// was refused, or carries no expiry, is asked of the inner authenticator every time.
#include "auth/token_cache.hpp"

#include "auth/jwt.hpp"
#include "testing/fake_clock.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include <map>

namespace aas::auth {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::FakeClock;

// Answers from a table, counting how often it is asked.
class CountingAuthenticator final : public Authenticator {
 public:
  boost::asio::awaitable<Result<Principal>> authenticate(std::string_view token) const override {
    ++calls;
    auto it = answers.find(std::string(token));
    if (it == answers.end()) co_return make_error(errc::unauthorized, "invalid token");
    co_return it->second;
  }
  std::map<std::string, Principal> answers;
  mutable int calls = 0;
};

class VerifiedTokenCacheTest : public ::testing::Test {
 protected:
  Result<Principal> check(const Authenticator& a, const std::string& token) {
    auto f = asio::co_spawn(ioc_, a.authenticate(token), asio::use_future);
    ioc_.restart();
    ioc_.run();
    return f.get();
  }
  Principal good_until(TimePoint t, std::string user = "alice") {
    Principal p;
    p.user_id = std::move(user);
    p.roles = {"member"};
    p.valid_until = t;
    return p;
  }

  FakeClock clock_;
  CountingAuthenticator inner_;
  asio::io_context ioc_;
};

TEST_F(VerifiedTokenCacheTest, AVerifiedTokenIsAskedOnceUntilItExpires) {
  inner_.answers["t1"] = good_until(clock_.now() + 10min);
  const VerifiedTokenCache cache(inner_, clock_);
  for (int i = 0; i < 3; ++i) {
    auto p = check(cache, "t1");
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(p->user_id, "alice");
    EXPECT_EQ(p->roles, std::vector<std::string>{"member"});
  }
  EXPECT_EQ(inner_.calls, 1);
  // At its expiry the token goes back to the inner check, which decides (here: refused now).
  clock_.advance(10min);
  inner_.answers.erase("t1");
  auto expired = check(cache, "t1");
  ASSERT_TRUE(expired.has_error());
  EXPECT_EQ(expired.error().code, errc::unauthorized);
  EXPECT_EQ(inner_.calls, 2);
  EXPECT_EQ(cache.size(), 0u);
}

TEST_F(VerifiedTokenCacheTest, RefusalsAndPrincipalsWithoutExpiryAreNotKept) {
  Principal opaque;  // as the main backend vouches for an opaque session token
  opaque.user_id = "bob";
  inner_.answers["session"] = opaque;
  const VerifiedTokenCache cache(inner_, clock_);
  EXPECT_TRUE(check(cache, "bad").has_error());
  EXPECT_TRUE(check(cache, "bad").has_error());
  EXPECT_TRUE(check(cache, "session").has_value());
  EXPECT_TRUE(check(cache, "session").has_value());
  EXPECT_EQ(inner_.calls, 4);
  EXPECT_EQ(cache.size(), 0u);
}

TEST_F(VerifiedTokenCacheTest, TokensAreComparedWhole) {
  inner_.answers["token-a"] = good_until(clock_.now() + 1h, "alice");
  inner_.answers["token-ab"] = good_until(clock_.now() + 1h, "bob");
  const VerifiedTokenCache cache(inner_, clock_);
  EXPECT_EQ(check(cache, "token-a")->user_id, "alice");
  EXPECT_EQ(check(cache, "token-ab")->user_id, "bob");
  EXPECT_TRUE(check(cache, "token-").has_error());
  EXPECT_EQ(check(cache, "token-a")->user_id, "alice");
  EXPECT_EQ(inner_.calls, 3);
}

TEST_F(VerifiedTokenCacheTest, StaysWithinItsBound) {
  for (int i = 0; i < 10; ++i) inner_.answers["t" + std::to_string(i)] = good_until(clock_.now() + 1h);
  const VerifiedTokenCache cache(inner_, clock_, 4);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(check(cache, "t" + std::to_string(i)).has_value());
  EXPECT_LE(cache.size(), 4u);
  EXPECT_GE(cache.size(), 1u);
}

// The JWT verifier says how long its answer holds: exp plus the leeway.
TEST_F(VerifiedTokenCacheTest, AJwtPrincipalIsGoodUntilExpPlusLeeway) {
  JwtOptions options;
  options.hs256_secret = "a-secret-of-reasonable-length-0123456";
  options.leeway = 30s;
  const JwtVerifier verifier(options, clock_);
  TokenClaims claims;
  claims.user_id = "carol";
  claims.ttl = 15min;
  auto token = issue_hs256_token(claims, options.hs256_secret, clock_.now());
  ASSERT_TRUE(token.has_value());
  auto p = verifier.verify(*token);
  ASSERT_TRUE(p.has_value());
  ASSERT_TRUE(p->valid_until.has_value());
  EXPECT_EQ(*p->valid_until, std::chrono::floor<std::chrono::seconds>(clock_.now()) + 15min + 30s);

  const VerifiedTokenCache cache(verifier, clock_);
  ASSERT_TRUE(check(cache, *token).has_value());
  clock_.advance(15min + 30s);
  auto late = check(cache, *token);
  ASSERT_TRUE(late.has_error());
  EXPECT_EQ(late.error().code, errc::unauthorized);
}

}  // namespace
}  // namespace aas::auth
