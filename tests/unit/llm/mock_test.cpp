#include "llm/providers/mock.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

namespace aas::llm {

namespace asio = boost::asio;

namespace {
ChatRequest sample() {
  ChatRequest req;
  req.model = "mock";
  req.messages = {{"system", "be brief"}, {"user", "first"}, {"assistant", "ok"}, {"user", "What is 2+2?"}};
  return req;
}

template <class F>
auto run(F f) {
  asio::io_context ioc;
  auto fut = asio::co_spawn(ioc, f(), asio::use_future);
  ioc.run();
  return fut.get();
}
}  // namespace

TEST(MockProvider, RestatesTheLastUserMessageAndTheContextSize) {
  MockProvider mock;
  // The request outlives the lazily started coroutine that holds a reference to it.
  const ChatRequest req = sample();
  auto result = run([&] { return mock.complete(req); });
  ASSERT_TRUE(result);
  EXPECT_EQ(result->content.substr(0, result->content.find(" [system: ")),
            "[mock model] You said: \"What is 2+2?\" (4 messages in context)");
  EXPECT_EQ(result->finish_reason, "stop");
  EXPECT_TRUE(result->usage.estimated);
  EXPECT_GT(result->usage.input_tokens, 0);
  EXPECT_GT(result->usage.output_tokens, 0);
}

TEST(MockProvider, StreamsTheSameTextInPieces) {
  MockProvider mock;
  std::vector<std::string> pieces;
  const ChatRequest req = sample();
  const ChunkSink sink = [&](const StreamDelta& d) {
    pieces.emplace_back(d.text);
    return true;
  };
  auto result = run([&] { return mock.stream(req, sink); });
  ASSERT_TRUE(result);
  EXPECT_GT(pieces.size(), 3u);
  std::string joined;
  for (auto& p : pieces) joined += p;
  EXPECT_EQ(joined, MockProvider::reply_for(sample()));
  EXPECT_EQ(result->content, joined);
}

TEST(MockProvider, StopsWhenTheSinkDeclines) {
  MockProvider mock;
  int calls = 0;
  const ChatRequest req = sample();
  const ChunkSink sink = [&](const StreamDelta&) { return ++calls < 3; };
  auto result = run([&] { return mock.stream(req, sink); });
  ASSERT_TRUE(result);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(result->finish_reason, "cancelled");
  EXPECT_LT(result->content.size(), MockProvider::reply_for(sample()).size());
}

}  // namespace aas::llm

namespace aas::llm {

TEST(MockProvider, CallsTheToolsTheLastUserMessageAsksForStreamedAndNot) {
  MockProvider mock;
  ChatRequest req = sample();
  req.messages.back().content = "call get_weather {\"city\": \"Paris\"} then call get_time";
  req.tools = {{"get_weather", "", "{}", false}, {"get_time", "", "{}", false}, {"unused", "", "{}", false}};
  auto result = run([&] { return mock.complete(req); });
  ASSERT_TRUE(result);
  EXPECT_EQ(result->finish_reason, "tool_calls");
  EXPECT_EQ(result->content, "");
  ASSERT_EQ(result->tool_calls.size(), 2u);
  EXPECT_EQ(result->tool_calls[0].name, "get_weather");
  EXPECT_EQ(result->tool_calls[0].arguments, R"({"city":"Paris"})");
  EXPECT_EQ(result->tool_calls[1].arguments, "{}");

  std::vector<ToolCall> streamed;
  const ChunkSink sink = [&](const StreamDelta& d) {
    EXPECT_TRUE(d.tool_call != nullptr);
    if (d.tool_call) apply_tool_call_delta(streamed, *d.tool_call);
    return true;
  };
  auto s = run([&] { return mock.stream(req, sink); });
  ASSERT_TRUE(s);
  EXPECT_EQ(s->finish_reason, "tool_calls");
  ASSERT_EQ(streamed.size(), 2u);
  EXPECT_EQ(streamed[0].arguments, result->tool_calls[0].arguments);
  EXPECT_EQ(s->tool_calls.size(), 2u);

  // A forced tool is called unasked; without tools the words are just words.
  req.messages.back().content = "hello";
  req.tool_choice = "unused";
  EXPECT_EQ(MockProvider::tool_calls_for(req).at(0).name, "unused");
  req.tools.clear();
  req.tool_choice.clear();
  req.messages.back().content = "call get_weather";
  EXPECT_TRUE(MockProvider::tool_calls_for(req).empty());
}

TEST(MockProvider, JsonObjectWrapsTheReplyAndAJsonSchemaIsRefused) {
  MockProvider mock;
  ChatRequest req = sample();
  req.response_format.kind = ResponseFormat::Kind::json_object;
  auto r = run([&] { return mock.complete(req); });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->content.rfind("{\"answer\":\"[mock model] You said:", 0), 0u) << r->content;
  req.response_format = {ResponseFormat::Kind::json_schema, "a", "{}", false};
  auto refused = run([&] { return mock.complete(req); });
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, errc::invalid_request);
  EXPECT_NE(refused.error().message.find("'response_format'"), std::string::npos);
}


// "call <name>" counts only as a whole word; what follows is its arguments when it is a JSON
// object, else the call has none ("{}"), as tools/mock-llm reads it.
TEST(MockProvider, AToolIsCalledByItsWholeNameWithAnObjectOrNoArguments) {
  ChatRequest req = sample();
  req.tools = {{"get_time", "", "{}", false}};
  const auto arguments = [&](std::string text) {
    req.messages.back().content = std::move(text);
    const auto calls = MockProvider::tool_calls_for(req);
    return calls.empty() ? std::string("(no call)") : calls.front().arguments;
  };
  EXPECT_EQ(arguments("recall get_time"), "(no call)") << "not a word of its own";
  EXPECT_EQ(arguments("call get_times"), "(no call)");
  EXPECT_EQ(arguments("recall get_time, then call get_time {\"tz\": \"UTC\"}"), R"({"tz":"UTC"})") << "the next mention";
  EXPECT_EQ(arguments("call get_time [1, 2]"), "{}") << "not an object";
  EXPECT_EQ(arguments("call get_time {\"tz\": "), "{}") << "unfinished";
  EXPECT_EQ(arguments("call get_time"), "{}");
  // Only the last message counts, and only when it is the user's.
  req.messages.push_back({"assistant", "call get_time"});
  EXPECT_TRUE(MockProvider::tool_calls_for(req).empty());
  req.messages.clear();
  EXPECT_TRUE(MockProvider::tool_calls_for(req).empty());
}

TEST(MockProvider, TheSystemPromptIsQuotedUpTo200BytesNeverSplittingACharacter) {
  ChatRequest req;
  req.messages = {{"system", std::string(199, 'a') + "\xC3\xA9" + "tail"}, {"user", "hi"}};
  const std::string reply = MockProvider::reply_for(req);
  EXPECT_NE(reply.find("[system: " + std::string(199, 'a') + "…]"), std::string::npos) << reply;
  req.messages[0].content = "Be brief.";
  EXPECT_NE(MockProvider::reply_for(req).find("[system: Be brief.]"), std::string::npos);
  req.messages = {{"assistant", "no user here"}};
  EXPECT_EQ(MockProvider::reply_for(req), "[mock model] You said: \"\" (1 messages in context)");
  req.logprobs = true;
  const auto refused = MockProvider().supports(req);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message, "'logprobs' is not supported by the offline mock model");
}

}  // namespace aas::llm
