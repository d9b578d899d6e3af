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
