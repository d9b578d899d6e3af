// What only the in-process limiter does: it forgets idle users once it tracks 10,000, so its map
// does not grow with every user ever seen (their spending is in the ledger and is loaded again).
#include "limits/local_limiter.hpp"
#include "testing/fake_clock.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace aas::limits {
namespace {

using namespace std::chrono_literals;

TEST(LocalLimiter, IdleUsersAreForgottenOnlyOnceTenThousandAreTracked) {
  testing::FakeClock clock;
  std::map<std::string, int> loads;  // ledger reads per user: a forgotten user is read again
  LocalLimiter limiter(clock, [&](std::string_view user, std::string_view) -> Result<std::int64_t> {
    ++loads[std::string(user)];
    return 0;
  });
  Policy p;
  p.daily_budget_micros = 1'000'000;
  auto streaming = limiter.acquire("streaming", p, {0, 0, true});  // in flight throughout
  ASSERT_TRUE(streaming);
  // 9,999 users in all; each grant is settled at once (a Grant settles when it goes).
  for (int i = 0; i < 9'998; ++i) ASSERT_TRUE(limiter.acquire("u" + std::to_string(i), p, {}));

  clock.advance(3min);
  ASSERT_TRUE(limiter.acquire("u0", p, {}));
  EXPECT_EQ(loads["u0"], 1) << "below 10,000 users nobody is forgotten, however idle";
  ASSERT_TRUE(limiter.acquire("newcomer", p, {}));  // the 10,000th

  // The next request sweeps: users idle for over 2 minutes with nothing in flight are gone.
  ASSERT_TRUE(limiter.acquire("u1", p, {}));
  EXPECT_EQ(loads["u1"], 2) << "forgotten, so its spending is read from the ledger again";
  ASSERT_TRUE(limiter.acquire("u0", p, {}));
  EXPECT_EQ(loads["u0"], 1) << "seen a moment ago: kept";
  ASSERT_TRUE(limiter.acquire("newcomer", p, {}));
  EXPECT_EQ(loads["newcomer"], 1);
  ASSERT_TRUE(limiter.acquire("streaming", p, {}));
  EXPECT_EQ(loads["streaming"], 1) << "a user with a stream in flight is kept";
  EXPECT_EQ(limiter.status("streaming", p).active_streams, 1);
}

TEST(LocalLimiter, MayBlockOnlyUntilABudgetPeriodIsLoaded) {
  testing::FakeClock clock;
  int loads = 0;
  LocalLimiter limiter(clock, [&](std::string_view, std::string_view) -> Result<std::int64_t> {
    ++loads;
    return 0;
  });
  Policy unbudgeted;
  EXPECT_FALSE(limiter.may_block("a", unbudgeted)) << "without a budget nothing is read";
  Policy daily;
  daily.daily_budget_micros = 1'000;
  EXPECT_TRUE(limiter.may_block("a", daily)) << "the day's spending is still to be read";
  ASSERT_TRUE(limiter.acquire("a", daily, {}));
  EXPECT_EQ(loads, 1);
  EXPECT_FALSE(limiter.may_block("a", daily));
  Policy monthly = daily;
  monthly.monthly_budget_micros = 10'000;
  EXPECT_TRUE(limiter.may_block("a", monthly)) << "the month was not needed until now";
  clock.advance(std::chrono::hours(24));
  EXPECT_TRUE(limiter.may_block("a", daily)) << "a new day is read again";
}

}  // namespace
}  // namespace aas::limits
