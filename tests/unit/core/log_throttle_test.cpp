#include "core/log_throttle.hpp"

#include <gtest/gtest.h>

namespace aas {
namespace {

using namespace std::chrono_literals;

TEST(LogThrottle, PassesOncePerIntervalAndCountsWhatItHeldBack) {
  LogThrottle throttle(60s);
  const LogThrottle::Clock::time_point t0{1000s};
  EXPECT_EQ(throttle.pass(t0), 0u) << "the first occurrence is logged";
  for (int i = 1; i <= 599; ++i) EXPECT_EQ(throttle.pass(t0 + i * 100ms), std::nullopt) << i;
  EXPECT_EQ(throttle.pass(t0 + 60s), 599u) << "the next line reports the ones held back";
  EXPECT_EQ(throttle.pass(t0 + 61s), std::nullopt);
  EXPECT_EQ(throttle.pass(t0 + 500s), 1u);
}

}  // namespace
}  // namespace aas
