#include "chat/response_cache.hpp"
#include "testing/fake_clock.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <vector>


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

TEST(ResponseCacheKey, EveryStructuredFieldCountsAndTheScopeSeparatesUsers) {
  const auto base = request("hi");
  const auto key = [](const llm::ChatRequest& r) { return response_cache_key(r); };
  // Each change below must give a key of its own.
  std::vector<std::function<void(llm::ChatRequest&)>> changes = {
      [](auto& r) { r.top_p = 0.5; },
      [](auto& r) { r.seed = 1; },
      [](auto& r) { r.presence_penalty = 1; },
      [](auto& r) { r.frequency_penalty = 1; },
      [](auto& r) { r.stop = {"x"}; },
      [](auto& r) { r.user = "u"; },
      [](auto& r) { r.tools = {{"f", "", "{}", false}}; },
      [](auto& r) { r.tools = {{"f", "", "{}", true}}; },
      [](auto& r) { r.tools = {{"f", "", R"({"type":"object"})", false}}; },
      [](auto& r) { r.tools = {{"f", "does f", "{}", false}}; },
      [](auto& r) { r.tool_choice = "required"; },
      [](auto& r) { r.parallel_tool_calls = false; },
      [](auto& r) { r.parallel_tool_calls = true; },
      [](auto& r) { r.response_format = {llm::ResponseFormat::Kind::json_schema, "a", "{}", true}; },
      [](auto& r) { r.messages[1].parts = {{llm::ContentPart::Kind::text, "hi", "", ""}}; },
      [](auto& r) { r.response_format.kind = llm::ResponseFormat::Kind::json_object; },
      [](auto& r) { r.response_format = {llm::ResponseFormat::Kind::json_schema, "a", "{}", false}; },
      [](auto& r) { r.response_format = {llm::ResponseFormat::Kind::json_schema, "a", R"({"type":"object"})", false}; },
      [](auto& r) { r.messages[1].parts = {{llm::ContentPart::Kind::image, "", "https://x/a.png", ""}}; },
      [](auto& r) { r.messages[1].parts = {{llm::ContentPart::Kind::image, "", "https://x/a.png", "low"}}; },
      [](auto& r) { r.messages[1].name = "alice"; },
      [](auto& r) { r.messages.push_back({"assistant", ""}); r.messages.back().tool_calls = {{"c", "f", "{}"}}; },
      [](auto& r) { r.messages.push_back({"tool", "ok"}); r.messages.back().tool_call_id = "c"; },
  };
  std::set<std::string> keys{*key(base)};
  for (std::size_t i = 0; i < changes.size(); ++i) {
    auto changed = base;
    changes[i](changed);
    EXPECT_TRUE(keys.insert(*key(changed)).second) << "change " << i << " did not change the key";
  }
  EXPECT_NE(response_cache_key(base, "alice"), response_cache_key(base, "bob"));
  EXPECT_NE(response_cache_key(base, "alice"), response_cache_key(base));
  EXPECT_EQ(response_cache_key(base, "alice"), response_cache_key(base, "alice"));
}

TEST(CachedAnswerEncoding, RoundTripsToolCallsAndAnyBytes) {
  const CachedAnswer answer{"line one\nline two: 3:x", "tool_calls",
                            {{"call_1", "get_weather", R"({"city":"Paris"})"}, {"call_2", "f", ""}},
                            "\n\nHuman:"};
  const auto back = decode_cached_answer(encode_cached_answer(answer));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->content, answer.content);
  EXPECT_EQ(back->finish_reason, answer.finish_reason);
  EXPECT_EQ(back->stop_sequence, answer.stop_sequence);
  ASSERT_EQ(back->tool_calls.size(), 2u);
  EXPECT_EQ(back->tool_calls[0].id, "call_1");
  EXPECT_EQ(back->tool_calls[0].arguments, R"({"city":"Paris"})");
  EXPECT_EQ(back->tool_calls[1].arguments, "");
  // The old format ("finish\ncontent") and damaged entries read as misses.
  EXPECT_FALSE(decode_cached_answer("stop\nhello"));
  std::string cut = encode_cached_answer(answer);
  cut.pop_back();
  EXPECT_FALSE(decode_cached_answer(cut));
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

// Each way an entry can be damaged reads as a miss, never as a wrong answer.
TEST(CachedAnswerEncoding, EachDamagedFieldIsAMiss) {
  const std::string head = "12:aas-answer-3";
  const std::string plain = head + "4:stop2:hi0:1:0";
  ASSERT_TRUE(decode_cached_answer(plain));
  EXPECT_EQ(decode_cached_answer(plain)->content, "hi");
  for (const std::string& damaged : std::vector<std::string>{
           "",
           "12:aas-answer-2" "4:stop2:hi0:1:0",   // another format
           head + "4stop",                          // no colon
           head + ":stop",                          // no length
           head + "1234567890123:x",                // a length of more than 12 digits
           head + "4x:stop",                        // a length that is not a number
           head + "9:stop",                         // longer than what is left
           head + "4:stop2:hi0:",                   // no tool call count
           head + "4:stop2:hi0:0:",                 // an empty count
           head + "4:stop2:hi0:7:1234567",          // a count of more than 6 digits
           head + "4:stop2:hi0:1:x",                // a count that is not a number (threw std::invalid_argument)
           head + "4:stop2:hi0:2:-1",               // ... nor a negative one
           head + "4:stop2:hi0:1:1" "2:id",         // a tool call without its name
           head + "4:stop2:hi0:1:1" "2:id1:f",      // ... or its arguments
           plain + "x",                             // bytes after the last field
       })
    EXPECT_FALSE(decode_cached_answer(damaged)) << damaged;
}

TEST(LruResponseCache, PuttingAKeyAgainReplacesItsAnswerAndRenewsIt) {
  FakeClock clock;
  LruResponseCache cache(clock, 2, 1000ms);
  cache.put("a", {"first", "stop"});
  cache.put("b", {"b", "stop"});
  clock.advance(600ms);
  cache.put("a", {"second", "stop"});  // a is now the most recent, good for another second
  cache.put("c", {"c", "stop"});
  EXPECT_FALSE(cache.get("b")) << "b was the least recently used";
  clock.advance(600ms);
  ASSERT_TRUE(cache.get("a"));
  EXPECT_EQ(cache.get("a")->content, "second");
  EXPECT_FALSE(cache.get("missing"));
}

}  // namespace
}  // namespace aas::chat
