#include "chat/response_cache.hpp"
#include "testing/fake_clock.hpp"

#include <gtest/gtest.h>


namespace aas::chat {
namespace {

using namespace std::chrono_literals;

using testing::FakeClock;

llm::ChatRequest request(std::string text, std::optional<double> temperature = 0.0) {
  llm::ChatRequest r;
  r.model = "gpt-4o-mini";
  r.temperature = temperature;
  r.max_tokens = 100;
  r.messages = {{"system", "be brief"}, {"user", std::move(text)}};
  return r;
}

TEST(ResponseCacheKey, OnlyDeterministicRequestsAndEveryPartCounts) {
  EXPECT_TRUE(response_cache_key(request("hi")));
  EXPECT_FALSE(response_cache_key(request("hi", std::nullopt)));
  EXPECT_FALSE(response_cache_key(request("hi", 0.7)));
  EXPECT_EQ(response_cache_key(request("hi")), response_cache_key(request("hi")));
  EXPECT_NE(response_cache_key(request("hi")), response_cache_key(request("hi!")));
  auto other_model = request("hi");
  other_model.model = "gpt-4o";
  EXPECT_NE(response_cache_key(request("hi")), response_cache_key(other_model));
  auto other_max = request("hi");
  other_max.max_tokens = 5;
  EXPECT_NE(response_cache_key(request("hi")), response_cache_key(other_max));
  // Length prefixes: moving text between messages changes the key.
  auto a = request("b");
  a.messages[0].content = "a";
  auto b = request("");
  b.messages[0].content = "ab";
  EXPECT_NE(response_cache_key(a), response_cache_key(b));
}

TEST(LruResponseCache, ExpiresAndEvictsTheLeastRecentlyUsed) {
  FakeClock clock;
  LruResponseCache cache(clock, 2, 1000ms);
  cache.put("a", {"answer a", "stop"});
  cache.put("b", {"answer b", "stop"});
  ASSERT_TRUE(cache.get("a"));  // a is now the most recent
  cache.put("c", {"answer c", "stop"});
  EXPECT_FALSE(cache.get("b")) << "b was the least recently used";
  EXPECT_EQ(cache.get("a")->content, "answer a");
  clock.advance(1001ms);
  EXPECT_FALSE(cache.get("a")) << "expired";
  EXPECT_FALSE(cache.get("c"));
  LruResponseCache none(clock, 0, 1000ms);
  none.put("a", {"x", "stop"});
  EXPECT_FALSE(none.get("a"));
}

}  // namespace
}  // namespace aas::chat
