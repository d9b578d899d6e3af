// What only the Redis limiter does: replicas share one user's limits, a grant whose replica
// stopped is charged in full when its lease ends, and the fail modes when Redis is unreachable.
#include "limits/redis_limiter.hpp"
#include "limits/decision.hpp"
#include "testing/fake_clock.hpp"
#include "testing/redis_server.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

namespace aas::limits {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;

SpentLoader nothing_spent() {
  return [](std::string_view, std::string_view) -> Result<std::int64_t> { return 0; };
}

// One "replica": its own connection pool and limiter over the shared server and key prefix.
struct Replica {
  Replica(const redis::Options& o, const Clock& clock, const std::string& prefix,
          std::chrono::milliseconds lease = 1h)
      : client(o), limiter(client, clock, nothing_spent(), RedisLimiterOptions{prefix, lease, false}) {}
  redis::Client client;
  RedisLimiter limiter;
};

TEST(RedisLimiter, ReplicasShareOneUsersRequestsAndBudget) {
  AAS_REQUIRE_REDIS(options);
  FakeClock clock;
  const std::string prefix = testing::fresh_prefix();
  Replica a(options, clock, prefix), b(options, clock, prefix);

  Policy rpm;
  rpm.requests_per_minute = 3;
  EXPECT_TRUE(a.limiter.acquire("u", rpm, {}));
  EXPECT_TRUE(b.limiter.acquire("u", rpm, {}));
  EXPECT_TRUE(a.limiter.acquire("u", rpm, {}));
  EXPECT_FALSE(b.limiter.acquire("u", rpm, {})) << "3 a minute for the cluster, not for each replica";
  EXPECT_EQ(a.limiter.status("u", rpm).requests_per_minute.remaining, 0);

  // 50 requests at once, half through each replica, against a budget for 10.
  Policy budget;
  budget.daily_budget_micros = 10'000;
  std::atomic<int> granted{0};
  std::vector<Grant> grants(50);
  std::vector<std::thread> threads;
  for (int i = 0; i < 50; ++i)
    threads.emplace_back([&, i] {
      auto g = (i % 2 ? a : b).limiter.acquire("w", budget, {100, 1000, false});
      if (g) {
        ++granted;
        grants[i] = std::move(*g);
      } else {
        EXPECT_EQ(g.error().code, errc::budget_exceeded);
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(granted.load(), 10);
  EXPECT_EQ(b.limiter.status("w", budget).daily.reserved_micros, 10'000);
  for (auto& g : grants) g.settle(100, 900);
  const Status s = a.limiter.status("w", budget);
  EXPECT_EQ(s.daily.spent_micros, 9'000);
  EXPECT_EQ(s.daily.reserved_micros, 0);
  EXPECT_TRUE(b.limiter.acquire("w", budget, {0, 1000, false}));
}

TEST(RedisLimiter, AGrantNeverSettledIsChargedInFullWhenItsLeaseEnds) {
  AAS_REQUIRE_REDIS(options);
  FakeClock clock;
  const std::string prefix = testing::fresh_prefix();
  Replica a(options, clock, prefix, 10s), b(options, clock, prefix, 10s);
  Policy p;
  p.concurrent_streams = 1;
  p.daily_budget_micros = 1'000;
  auto g = a.limiter.acquire("u", p, {10, 300, true});
  ASSERT_TRUE(g);
  // Replica a stops without settling: the grant is never released by this process (leaked on
  // purpose; its destructor would settle it).
  static_cast<void>(new Grant(std::move(*g)));

  Status s = b.limiter.status("u", p);
  EXPECT_EQ(s.active_streams, 1);
  EXPECT_EQ(s.daily.reserved_micros, 300);
  EXPECT_FALSE(b.limiter.acquire("u", p, {0, 0, true})) << "its stream slot is still held";

  clock.advance(11s);
  s = b.limiter.status("u", p);
  EXPECT_EQ(s.active_streams, 0);
  EXPECT_EQ(s.daily.reserved_micros, 0);
  EXPECT_EQ(s.daily.spent_micros, 300) << "charged at its worst case, as a dropped grant is";
  EXPECT_TRUE(b.limiter.acquire("u", p, {0, 0, true}));
}

TEST(RedisLimiter, ScriptsAreLoadedAgainWhenRedisHasForgottenThem) {
  AAS_REQUIRE_REDIS(options);
  FakeClock clock;
  Replica a(options, clock, testing::fresh_prefix());
  Policy p;
  p.requests_per_minute = 2;
  ASSERT_TRUE(a.limiter.acquire("u", p, {}));
  ASSERT_TRUE(a.client.command({"SCRIPT", "FLUSH"}));  // what a Redis restart does
  ASSERT_TRUE(a.limiter.acquire("u", p, {}));
  EXPECT_FALSE(a.limiter.acquire("u", p, {}));
}

// Nothing listens on this port (a port below 1024 that no test server takes).
redis::Options unreachable() {
  redis::Options o;
  o.port = 9;
  o.connect_timeout = 200ms;
  return o;
}

TEST(RedisLimiter, FailClosedRefusesWith503WhileRedisIsUnreachable) {
  FakeClock clock;
  redis::Client client(unreachable());
  std::vector<Limit> refusals;
  RedisLimiter limiter(client, clock, nothing_spent(), RedisLimiterOptions{"aas:", 1h, false},
                       [&](Limit l) { refusals.push_back(l); });
  auto r = limiter.acquire("u", Policy{}, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::unavailable);
  EXPECT_EQ(r.error().retry_after_seconds, 1);
  EXPECT_TRUE(refusals.empty()) << "not a limit's refusal";
}

TEST(RedisLimiter, FailOpenEnforcesTheLimitsInThisProcessWhileRedisIsUnreachable) {
  FakeClock clock;
  redis::Client client(unreachable());
  RedisLimiter limiter(client, clock, nothing_spent(), RedisLimiterOptions{"aas:", 1h, true});
  Policy p;
  p.requests_per_minute = 2;
  p.concurrent_streams = 1;
  auto first = limiter.acquire("u", p, {0, 0, true});
  ASSERT_TRUE(first);
  EXPECT_EQ(limiter.status("u", p).active_streams, 1);
  EXPECT_FALSE(limiter.acquire("u", p, {0, 0, true})) << "the stream limit holds in-process";
  first->settle(0, 0);
  EXPECT_TRUE(limiter.acquire("u", p, {}));
  auto third = limiter.acquire("u", p, {});
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error().code, errc::rate_limited);
}


// What Redis answers when a key the scripts read holds something they did not write (an operator's
// SET, another program sharing the prefix): the acquire script's reply comes back short (a nil
// ends a Lua array), which the limiter takes for Redis failing, so the fail mode decides — never a
// grant made from half a reply.
TEST(RedisLimiter, AMalformedScriptReplyIsLeftToTheFailMode) {
  AAS_REQUIRE_REDIS(options);
  FakeClock clock;
  const std::string prefix = testing::fresh_prefix();
  Replica closed(options, clock, prefix);
  redis::Client client(options);
  RedisLimiter open(client, clock, nothing_spent(), RedisLimiterOptions{prefix, 1h, true});
  const Periods period = periods(clock.now());
  ASSERT_TRUE(closed.client.command({"SET", prefix + "lim:{u}:d:" + period.day, "not a number"}));
  Policy p;
  p.requests_per_minute = 5;

  auto refused = closed.limiter.acquire("u", p, {});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, errc::unavailable) << "fail closed: 503, as when Redis is down";
  EXPECT_TRUE(open.acquire("u", p, {})) << "fail open: this process's own limiter decides";
  EXPECT_EQ(open.status("u", p).requests_per_minute.remaining, 4)
      << "status falls back to this process's view too";
}

// A ledger that cannot be read fails the request whatever the fail mode says: failing open would
// admit a user past a budget nobody could check.
TEST(RedisLimiter, ALedgerThatCannotBeReadFailsTheRequestInEitherMode) {
  AAS_REQUIRE_REDIS(options);
  FakeClock clock;
  redis::Client client(options);
  const SpentLoader broken = [](std::string_view, std::string_view) -> Result<std::int64_t> {
    return make_error(errc::internal, "store unavailable", "ledger read failed");
  };
  RedisLimiter open(client, clock, broken, RedisLimiterOptions{testing::fresh_prefix(), 1h, true});
  Policy p;
  p.daily_budget_micros = 1'000;
  auto r = open.acquire("u", p, {0, 10, false});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::internal);
  EXPECT_EQ(r.error().detail, "ledger read failed");
}

// A settle Redis refuses is logged and left to the lease; the caller goes on.
TEST(RedisLimiter, ASettleRedisRefusesIsLoggedAndLeftToTheLease) {
  AAS_REQUIRE_REDIS(options);
  FakeClock clock;
  const std::string prefix = testing::fresh_prefix();
  Replica a(options, clock, prefix);
  Policy p;
  p.daily_budget_micros = 1'000;
  auto g = a.limiter.acquire("u", p, {10, 300, false});
  ASSERT_TRUE(g);
  // The day's spending now holds what INCRBY cannot add to.
  ASSERT_TRUE(a.client.command({"SET", prefix + "lim:{u}:d:" + g->day(), "x"}));

  std::ostringstream captured;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
  spdlog::default_logger()->sinks().push_back(sink);
  g->settle(10, 250);
  spdlog::default_logger()->sinks().pop_back();
  EXPECT_NE(captured.str().find("could not be settled in redis"), std::string::npos) << captured.str();
}

}  // namespace
}  // namespace aas::limits
