#include "llm/key_pool.hpp"

#include <gtest/gtest.h>

#include <set>
#include <thread>

namespace aas::llm {

namespace {

class FakeClock final : public Clock {
 public:
  TimePoint now() const override { return now_; }
  void advance(std::chrono::seconds s) { now_ += s; }

 private:
  TimePoint now_ = std::chrono::sys_days(std::chrono::year(2025) / 1 / 1);
};

Error upstream(int status, std::optional<int> retry_after = std::nullopt) {
  Error e = make_error(status == 429 ? errc::rate_limited : errc::upstream_error, "x");
  e.upstream_status = status;
  e.retry_after_seconds = retry_after;
  return e;
}

std::string next_key(KeyPool& pool) {
  auto lease = pool.acquire();
  return lease ? lease->key : std::string("<none>");
}

}  // namespace

TEST(KeyPool, WithoutKeysThereIsNothingToLease) {
  FakeClock clock;
  KeyPool pool({}, clock);
  EXPECT_FALSE(pool.acquire());
  EXPECT_EQ(pool.available(), 0u);
}

TEST(KeyPool, RotatesRoundRobin) {
  FakeClock clock;
  KeyPool pool({"a", "b", "c"}, clock);
  std::vector<std::string> got;
  for (int i = 0; i < 6; ++i) got.push_back(next_key(pool));
  EXPECT_EQ(got, (std::vector<std::string>{"a", "b", "c", "a", "b", "c"}));
}

TEST(KeyPool, ARateLimitedKeyRestsForRetryAfterOr30Seconds) {
  FakeClock clock;
  KeyPool pool({"a", "b"}, clock);
  auto a = pool.acquire();
  ASSERT_EQ(a->key, "a");
  EXPECT_EQ(pool.report_failure(a->index, upstream(429)), std::chrono::seconds(30));
  EXPECT_EQ(pool.available(), 1u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(next_key(pool), "b");
  clock.advance(std::chrono::seconds(29));
  EXPECT_EQ(next_key(pool), "b");
  clock.advance(std::chrono::seconds(1));
  EXPECT_EQ(pool.available(), 2u);
  EXPECT_EQ(next_key(pool), "a");

  auto b = pool.acquire();
  ASSERT_EQ(b->key, "b");
  pool.report_failure(b->index, upstream(429, 5));
  EXPECT_EQ(next_key(pool), "a");
  EXPECT_EQ(next_key(pool), "a");
  clock.advance(std::chrono::seconds(5));
  EXPECT_EQ(next_key(pool), "b");
}

TEST(KeyPool, AnUnauthorizedKeyRestsTenMinutes) {
  FakeClock clock;
  KeyPool pool({"a", "b"}, clock);
  auto a = pool.acquire();
  EXPECT_EQ(pool.report_failure(a->index, upstream(401)), std::chrono::seconds(600));
  clock.advance(std::chrono::seconds(599));
  EXPECT_EQ(next_key(pool), "b");
  EXPECT_EQ(next_key(pool), "b");
  clock.advance(std::chrono::seconds(1));
  EXPECT_EQ(pool.available(), 2u);
}

TEST(KeyPool, OtherFailuresAreNotTheKeysFault) {
  FakeClock clock;
  KeyPool pool({"a", "b"}, clock);
  for (int status : {400, 403, 500, 503, 529}) {
    auto lease = pool.acquire();
    EXPECT_FALSE(pool.report_failure(lease->index, upstream(status))) << status;
  }
  Error transport = make_error(errc::unavailable, "connection refused");
  EXPECT_FALSE(pool.report_failure(0, transport));
  EXPECT_EQ(pool.available(), 2u);
}

TEST(KeyPool, WhenAllRestTheFirstToRecoverIsUsed) {
  FakeClock clock;
  KeyPool pool({"a", "b", "c"}, clock);
  pool.rest(0, std::chrono::seconds(100));
  pool.rest(1, std::chrono::seconds(10));
  pool.rest(2, std::chrono::seconds(50));
  EXPECT_EQ(pool.available(), 0u);
  EXPECT_EQ(next_key(pool), "b");
  EXPECT_EQ(next_key(pool), "b");
}

TEST(KeyPool, SuccessEndsARest) {
  FakeClock clock;
  KeyPool pool({"a", "b"}, clock);
  pool.rest(0, std::chrono::seconds(100));
  pool.rest(1, std::chrono::seconds(200));
  auto lease = pool.acquire();
  ASSERT_EQ(lease->key, "a");
  pool.report_success(lease->index);
  EXPECT_EQ(pool.available(), 1u);
  EXPECT_EQ(next_key(pool), "a");
}

TEST(KeyPool, AShorterRestDoesNotCutALongerOne) {
  FakeClock clock;
  KeyPool pool({"a", "b"}, clock);
  pool.report_failure(0, upstream(401));
  pool.report_failure(0, upstream(429, 1));
  clock.advance(std::chrono::seconds(60));
  EXPECT_EQ(next_key(pool), "b");
  EXPECT_EQ(next_key(pool), "b");
}

TEST(KeyPool, RetryAfterIsCapped) {
  FakeClock clock;
  KeyPool::Policy policy;
  policy.max_rest = std::chrono::seconds(120);
  KeyPool pool({"a", "b"}, clock, policy);
  pool.report_failure(0, upstream(429, 86400));
  clock.advance(std::chrono::seconds(120));
  EXPECT_EQ(pool.available(), 2u);
}

TEST(KeyPool, IsSafeToShareBetweenThreads) {
  FakeClock clock;
  KeyPool pool({"a", "b", "c", "d"}, clock);
  std::vector<std::thread> threads;
  std::vector<std::set<std::string>> seen(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        auto lease = pool.acquire();
        seen[t].insert(lease->key);
        if (i % 7 == 0) pool.report_failure(lease->index, upstream(429, 0));
        else pool.report_success(lease->index);
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const auto& s : seen) EXPECT_FALSE(s.empty());
  EXPECT_EQ(pool.available(), 4u);  // rests of 0 s are over at once
}

}  // namespace aas::llm
