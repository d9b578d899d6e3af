// OverrideCache: loads a user's override once, loads it again after forget() or max_age, and never
// keeps a load that a change overtook.
#include "limits/override_cache.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>

namespace aas::limits {
namespace {

using Clock = std::chrono::steady_clock;

class OverrideCacheTest : public ::testing::Test {
 protected:
  // The "store": what each user's override is now, and how often it was read.
  std::map<std::string, domain::LimitOverride> stored_;
  int loads_ = 0;
  std::function<void()> during_load_;  // runs inside a load, after the read
  Clock::time_point now_{};

  OverrideCache cache_{[this](std::string_view user) -> Result<OverrideCache::Override> {
                         ++loads_;
                         OverrideCache::Override found;
                         if (auto it = stored_.find(std::string(user)); it != stored_.end()) found = it->second;
                         if (during_load_) during_load_();
                         return found;
                       },
                       std::chrono::seconds(30), [this] { return now_; }};

  void put(const std::string& user, std::int64_t rpm) {
    domain::LimitOverride o;
    o.user_id = user;
    o.requests_per_minute = rpm;
    stored_[user] = o;
  }
  std::optional<std::int64_t> rpm(const std::string& user) {
    auto got = cache_.get(user);
    EXPECT_TRUE(got);
    if (!got || !*got) return std::nullopt;
    return (*got)->requests_per_minute;
  }
};

TEST_F(OverrideCacheTest, LoadsAUserOnceAndRemembersHavingNone) {
  put("a", 5);
  EXPECT_EQ(rpm("a"), 5);
  EXPECT_EQ(rpm("a"), 5);
  EXPECT_EQ(rpm("b"), std::nullopt);
  EXPECT_EQ(rpm("b"), std::nullopt);
  EXPECT_EQ(loads_, 2) << "one read per user";
  put("a", 7);
  EXPECT_EQ(rpm("a"), 5) << "a change nobody announced is not seen before max_age";
}

TEST_F(OverrideCacheTest, ForgetMakesTheNextCallReadTheChange) {
  EXPECT_EQ(rpm("a"), std::nullopt);
  put("a", 3);
  cache_.forget("a");
  EXPECT_FALSE(cache_.peek("a")) << "nothing in memory once forgotten";
  EXPECT_EQ(rpm("a"), 3);
  EXPECT_EQ(loads_, 2);
}

TEST_F(OverrideCacheTest, AnEntryExpiresAfterMaxAge) {
  put("a", 1);
  EXPECT_EQ(rpm("a"), 1);
  put("a", 2);
  now_ += std::chrono::seconds(29);
  EXPECT_EQ(rpm("a"), 1);
  now_ += std::chrono::seconds(1);
  EXPECT_FALSE(cache_.peek("a"));
  EXPECT_EQ(rpm("a"), 2) << "missed events cost at most max_age";
  EXPECT_EQ(loads_, 2);
}

TEST_F(OverrideCacheTest, ALoadOvertakenByAChangeIsNotKept) {
  put("a", 1);
  // The override changes (and is announced) while the read of the old one is under way.
  during_load_ = [this] {
    during_load_ = nullptr;
    put("a", 9);
    cache_.forget("a");
  };
  EXPECT_EQ(rpm("a"), 1) << "the caller gets what it read";
  EXPECT_FALSE(cache_.peek("a")) << "but the stale value is not kept";
  EXPECT_EQ(rpm("a"), 9);
}

TEST_F(OverrideCacheTest, AFailedLoadIsReturnedAndNotKept) {
  int calls = 0;
  OverrideCache failing([&](std::string_view) -> Result<OverrideCache::Override> {
    ++calls;
    return make_error(errc::unavailable, "database unavailable");
  });
  auto got = failing.get("a");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, errc::unavailable);
  EXPECT_FALSE(failing.get("a"));
  EXPECT_EQ(calls, 2);
}

TEST_F(OverrideCacheTest, StaysBoundedByDroppingEverything) {
  OverrideCache small([&](std::string_view) -> Result<OverrideCache::Override> { return OverrideCache::Override{}; },
                      std::chrono::seconds(30), [this] { return now_; }, 2);
  ASSERT_TRUE(small.get("a"));
  ASSERT_TRUE(small.get("b"));
  EXPECT_TRUE(small.peek("a"));
  ASSERT_TRUE(small.get("c"));
  EXPECT_FALSE(small.peek("a"));
  EXPECT_FALSE(small.peek("b"));
  EXPECT_TRUE(small.peek("c"));
}

}  // namespace
}  // namespace aas::limits
