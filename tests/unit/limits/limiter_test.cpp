// The Limiter conformance suite: every test runs on LocalLimiter and on RedisLimiter (a real Redis
// from scripts/with-redis.sh), with an injected clock: the windows, reservations and budgets
// behave the same, and parallel requests cannot overshoot a budget.
#include "limits/local_limiter.hpp"
#include "limits/redis_limiter.hpp"
#include "testing/fake_clock.hpp"
#include "testing/redis_server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace aas::limits {
namespace {

using namespace std::chrono_literals;

using testing::FakeClock;

// The ledger's answer to "spent since day D", by user; counts the calls.
struct FakeLedger {
  std::map<std::string, std::int64_t> spent;
  std::atomic<int> loads{0};
  SpentLoader loader() {
    return [this](std::string_view user, std::string_view) -> Result<std::int64_t> {
      ++loads;
      auto it = spent.find(std::string(user));
      return it == spent.end() ? 0 : it->second;
    };
  }
};

class LimiterConformance : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto on_refusal = [this](Limit l) {
      std::lock_guard lock(mu_);
      refusals_.push_back(l);
    };
    if (GetParam() == "redis") {
      AAS_REQUIRE_REDIS(options);
      redis_ = std::make_unique<redis::Client>(options);
      RedisLimiterOptions o;
      o.prefix = testing::fresh_prefix();  // a clean slate on the shared server
      o.fail_open = false;                 // a Redis failure must fail the test, not pass locally
      limiter_ = std::make_unique<RedisLimiter>(*redis_, clock_, ledger_.loader(), o, on_refusal);
    } else {
      limiter_ = std::make_unique<LocalLimiter>(clock_, ledger_.loader(), on_refusal);
    }
  }

  FakeClock clock_;
  FakeLedger ledger_;
  std::mutex mu_;
  std::vector<Limit> refusals_;
  std::unique_ptr<redis::Client> redis_;
  std::unique_ptr<Limiter> limiter_;
};

INSTANTIATE_TEST_SUITE_P(Backends, LimiterConformance, ::testing::Values("local", "redis"),
                         [](const auto& info) { return info.param; });

TEST_P(LimiterConformance, RequestsPerMinuteRefusesWithRetryAfterAndRateLimitFigures) {
  Policy p;
  p.requests_per_minute = 3;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(limiter_->acquire("u", p, {}));
  auto r = limiter_->acquire("u", p, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::rate_limited);
  EXPECT_EQ(r.error().message, "rate limit of 3 requests per minute reached");
  EXPECT_EQ(r.error().retry_after_seconds, 20);  // one request refills every 20 s
  ASSERT_TRUE(r.error().rate_limit);
  EXPECT_EQ(r.error().rate_limit->limit, 3);
  EXPECT_EQ(r.error().rate_limit->remaining, 0);
  EXPECT_EQ(r.error().rate_limit->reset_seconds, 60);
  EXPECT_EQ(refusals_, std::vector<Limit>{Limit::requests_per_minute});

  EXPECT_TRUE(limiter_->acquire("other", p, {})) << "limits are per user";
  clock_.advance(19s);
  EXPECT_FALSE(limiter_->acquire("u", p, {}));
  clock_.advance(1s);
  EXPECT_TRUE(limiter_->acquire("u", p, {}));
}

TEST_P(LimiterConformance, TokensPerMinuteReservesTheEstimateAndSettlesTheActual) {
  Policy p;
  p.tokens_per_minute = 1000;
  auto first = limiter_->acquire("u", p, {600, 0, false});
  ASSERT_TRUE(first);
  auto second = limiter_->acquire("u", p, {600, 0, false});
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().message, "token limit of 1000 tokens per minute reached");
  EXPECT_EQ(second.error().rate_limit->remaining, 400);
  // The first used only 100 of its 600: the other 500 come back.
  first->settle(100, 0);
  EXPECT_TRUE(limiter_->acquire("u", p, {600, 0, false}));
  EXPECT_EQ(limiter_->status("u", p).tokens_per_minute.remaining, 300);
}

TEST_P(LimiterConformance, ARequestLargerThanTheMinuteStillPassesOnAFullBucket) {
  Policy p;
  p.tokens_per_minute = 1000;
  auto big = limiter_->acquire("u", p, {5000, 0, false});
  ASSERT_TRUE(big);
  big->settle(5000, 0);  // its overrun is a debt the next minute pays
  EXPECT_FALSE(limiter_->acquire("u", p, {1, 0, false}));
  clock_.advance(60s);
  EXPECT_FALSE(limiter_->acquire("u", p, {1, 0, false})) << "a minute only refills 1000 of the 4000 debt";
  clock_.advance(5min);
  EXPECT_TRUE(limiter_->acquire("u", p, {1, 0, false}));
}

TEST_P(LimiterConformance, ConcurrentStreamsCountOnlyStreamsUntilSettled) {
  Policy p;
  p.concurrent_streams = 2;
  auto a = limiter_->acquire("u", p, {0, 0, true});
  auto b = limiter_->acquire("u", p, {0, 0, true});
  ASSERT_TRUE(a && b);
  auto c = limiter_->acquire("u", p, {0, 0, true});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, errc::rate_limited);
  EXPECT_TRUE(limiter_->acquire("u", p, {0, 0, false})) << "a non-streamed request is not a stream";
  EXPECT_EQ(limiter_->status("u", p).active_streams, 2);
  a->settle(0, 0);
  EXPECT_TRUE(limiter_->acquire("u", p, {0, 0, true}));
  EXPECT_EQ(refusals_, std::vector<Limit>{Limit::concurrent_streams});
}

TEST_P(LimiterConformance, ADroppedGrantFreesItsStreamAndKeepsItsReservationAsSpent) {
  Policy p;
  p.concurrent_streams = 1;
  p.daily_budget_micros = 100;
  {
    auto g = limiter_->acquire("u", p, {10, 30, true});
    ASSERT_TRUE(g);
  }
  const Status s = limiter_->status("u", p);
  EXPECT_EQ(s.active_streams, 0);
  EXPECT_EQ(s.daily.spent_micros, 30) << "unsettled: charged at its worst case";
  EXPECT_EQ(s.daily.reserved_micros, 0);
}

TEST_P(LimiterConformance, FiftyParallelRequestsCannotOvershootABudgetOfTen) {
  Policy p;
  p.daily_budget_micros = 10 * 1000;
  std::atomic<int> granted{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  std::vector<Grant> grants(50);
  for (int i = 0; i < 50; ++i) {
    threads.emplace_back([&, i] {
      auto g = limiter_->acquire("u", p, {100, 1000, false});
      if (g) {
        ++granted;
        grants[i] = std::move(*g);
      } else {
        EXPECT_EQ(g.error().code, errc::budget_exceeded);
        ++refused;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(granted.load(), 10);
  EXPECT_EQ(refused.load(), 40);
  for (auto& g : grants) g.settle(100, 1000);
  const Status s = limiter_->status("u", p);
  EXPECT_EQ(s.daily.spent_micros, 10'000);
  EXPECT_EQ(s.daily.reserved_micros, 0);
  EXPECT_FALSE(limiter_->acquire("u", p, {0, 0, false})) << "a spent budget refuses even free calls";
}

TEST_P(LimiterConformance, BudgetStartsFromTheLedgerAndResetsAtUtcMidnight) {
  ledger_.spent["u"] = 900;
  Policy p;
  p.daily_budget_micros = 1000;
  auto r = limiter_->acquire("u", p, {0, 200, false});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::budget_exceeded);
  EXPECT_EQ(r.error().message, "daily budget of $0.00 reached");
  EXPECT_EQ(r.error().retry_after_seconds, 12 * 3600 + 1);  // noon to midnight
  EXPECT_EQ(r.error().rate_limit->remaining, 100);
  EXPECT_TRUE(limiter_->acquire("u", p, {0, 100, false}));
  EXPECT_EQ(ledger_.loads.load(), 1) << "the ledger is read once per period";

  ledger_.spent["u"] = 0;  // the new day's ledger
  clock_.advance(12h);
  EXPECT_TRUE(limiter_->acquire("u", p, {0, 900, false}));
  EXPECT_EQ(ledger_.loads.load(), 2);
}

TEST_P(LimiterConformance, SettlingBelowTheReservationFreesBudget) {
  Policy p;
  p.monthly_budget_micros = 1000;
  auto g = limiter_->acquire("u", p, {0, 800, false});
  ASSERT_TRUE(g);
  EXPECT_FALSE(limiter_->acquire("u", p, {0, 300, false}));
  g->settle(0, 50);
  auto second = limiter_->acquire("u", p, {0, 300, false});
  EXPECT_TRUE(second);
  const Status s = limiter_->status("u", p);
  EXPECT_EQ(s.monthly.spent_micros, 50);
  EXPECT_EQ(s.monthly.reserved_micros, 300);
  EXPECT_EQ(s.monthly.limit_micros, 1000);
}

TEST_P(LimiterConformance, NoPolicyMeansNoLimit) {
  for (int i = 0; i < 1000; ++i) {
    auto g = limiter_->acquire("u", Policy{}, {100000, 100000, true});
    ASSERT_TRUE(g);
  }
  EXPECT_TRUE(refusals_.empty());
}

}  // namespace
}  // namespace aas::limits
