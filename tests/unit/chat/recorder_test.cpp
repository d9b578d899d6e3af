// The record stage: one billing rule for every outcome, and the same rule whichever way a call
// came in (chat or gateway), over the real SQLite store.
#include "chat/recorder.hpp"

#include "chat/chat_service.hpp"
#include "chat/gateway_service.hpp"
#include "limits/local_limiter.hpp"
#include "llm/token_estimate.hpp"
#include "realtime/event_bus.hpp"
#include "store/sqlite/sqlite_store.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include <filesystem>

namespace aas::chat {

namespace asio = boost::asio;

namespace {

llm::ChatRequest request_of(std::string text) {
  llm::ChatRequest r;
  r.model = "gpt-4o-mini";
  r.messages = {{"system", "Be brief."}, {"user", std::move(text)}};
  return r;
}

TEST(BilledUsage, AFailedCallUsedNothing) {
  CallResult r;
  r.end = CallEnd::failed;
  r.error = make_error(errc::upstream_error, "boom");
  const llm::Usage u = billed_usage(r, request_of("hello"));
  EXPECT_EQ(u.input_tokens, 0);
  EXPECT_EQ(u.output_tokens, 0);
  EXPECT_FALSE(u.estimated);
}

TEST(BilledUsage, AFinishedCallIsBilledAsTheProviderSays) {
  CallResult r;
  r.end = CallEnd::complete;
  r.text = "Hi.";
  r.usage = llm::Usage{40, 3, 0, 0, 0, false};
  const llm::Usage u = billed_usage(r, request_of("hello"));
  EXPECT_EQ(u.input_tokens, 40);
  EXPECT_EQ(u.output_tokens, 3);
}

TEST(BilledUsage, ACutCallWithoutTheProvidersFiguresIsEstimatedFromWhatArrived) {
  const llm::ChatRequest req = request_of("tell me a story");
  for (CallEnd end : {CallEnd::interrupted, CallEnd::cancelled, CallEnd::stopped}) {
    CallResult r;
    r.end = end;
    r.text = "Once upon a time";
    const llm::Usage u = billed_usage(r, req);
    EXPECT_EQ(u.input_tokens, llm::count_request_tokens(req)) << to_string(end);
    EXPECT_EQ(u.output_tokens, llm::count_text_tokens("gpt-4o-mini", "Once upon a time")) << to_string(end);
    EXPECT_TRUE(u.estimated);
  }
}

TEST(BilledUsage, ACutCallKeepsTheProvidersFiguresWhenItGaveThem) {
  CallResult r;
  r.end = CallEnd::cancelled;
  r.text = "Once";
  r.usage = llm::Usage{1234, 7, 0, 0, 0, false};
  const llm::Usage u = billed_usage(r, request_of("x"));
  EXPECT_EQ(u.input_tokens, 1234);
  EXPECT_EQ(u.output_tokens, 7);
  EXPECT_FALSE(u.estimated);
}

TEST(RecordedStatus, NamesEveryOutcome) {
  EXPECT_EQ(recorded_status(CallEnd::complete), "complete");
  EXPECT_EQ(recorded_status(CallEnd::failed), "error");
  EXPECT_EQ(recorded_status(CallEnd::interrupted), "interrupted");
  EXPECT_EQ(recorded_status(CallEnd::cancelled), "interrupted");
  EXPECT_EQ(recorded_status(CallEnd::stopped), "interrupted");
}

// Streams three words; when the client stops taking them, ends as "cancelled" with the usage the
// upstream reported (as OpenAI does with include_usage when the connection is closed by us).
class ReportingProvider final : public llm::LlmProvider {
 public:
  std::string_view name() const override { return "reporting"; }
  asio::awaitable<Result<llm::Completion>> complete(const llm::ChatRequest&) override {
    co_return make_error(errc::internal, "not used");
  }
  asio::awaitable<Result<llm::Completion>> stream(const llm::ChatRequest&, const llm::ChunkSink& sink) override {
    llm::Completion c;
    c.usage = {1234, 7, 0, 0, 0, false};
    c.deployment = "reporting#1";
    c.provider = "reporting";
    for (std::string_view word : {"one ", "two ", "three"}) {
      if (!sink(llm::StreamDelta{word})) {
        c.finish_reason = "cancelled";
        co_return c;
      }
      c.content += word;
    }
    c.finish_reason = "stop";
    co_return c;
  }
};

// Takes one piece, then is gone.
class OnePieceClient final : public TurnObserver {
 public:
  bool delta(std::string_view) override { return ++pieces_ <= 1; }

 private:
  int pieces_ = 0;
};

TEST(Recorder, AnInterruptedStreamIsBilledByTheSameRuleThroughChatAndGateway) {
  char tmpl[] = "/tmp/aas-recorder-XXXXXX";
  const std::filesystem::path dir = mkdtemp(tmpl);
  SystemClock clock;
  auto store = store::sqlite::open_sqlite_store((dir / "ai.db").string(), clock);
  ASSERT_TRUE(store->migrate());
  llm::ModelRegistry models;
  models.add({"reporting", "gpt-4o-mini", std::make_shared<ReportingProvider>(), llm::Pricing{1'000'000, 2'000'000},
              std::nullopt, std::nullopt});
  asio::thread_pool blocking(2);
  limits::Policies policies;
  limits::LocalLimiter limiter(clock, [&](std::string_view u, std::string_view d) { return store->spent_micros(u, d); });
  std::vector<CallOutcome> recorded;
  Accounting accounting(*store, limiter, policies, {}, [&](const CallOutcome& c) { recorded.push_back(c); });
  realtime::LocalEventBus events;
  Recorder recorder(*store, blocking, accounting, events);
  ChatService chat(*store, blocking, models, accounting, recorder, events, {});
  GatewayService gateway(blocking, models, accounting, recorder);

  asio::io_context ioc;
  OnePieceClient chat_client, gateway_client;
  auto both = [&]() -> asio::awaitable<void> {
    TurnInput in;
    in.user_id = "alice";
    in.message = "count to three";
    in.model = "reporting";
    in.request_id = "chat-1";
    auto turn = co_await chat.begin(std::move(in), true);
    EXPECT_TRUE(turn);
    auto answered = co_await chat.stream(std::move(*turn), chat_client);
    EXPECT_TRUE(answered);
    EXPECT_EQ(answered->assistant.status, domain::MessageStatus::interrupted);
    EXPECT_EQ(answered->assistant.content, "one ");

    DirectRequest req;
    req.user_id = "alice";
    req.model = "reporting";
    req.call.messages = {{"user", "count to three"}};
    req.request_id = "gw-1";
    auto call = co_await gateway.admit(std::move(req), true);
    EXPECT_TRUE(call);
    auto relayed = co_await gateway.stream(*call, gateway_client);
    EXPECT_TRUE(relayed);
    EXPECT_EQ(relayed->content, "one ");
    EXPECT_EQ(relayed->finish_reason, "cancelled");
  };
  auto fut = asio::co_spawn(ioc, both(), asio::use_future);
  ioc.run();
  fut.get();
  blocking.join();

  ASSERT_EQ(recorded.size(), 2u);
  for (const CallOutcome& c : recorded) {
    SCOPED_TRACE(c.kind);
    EXPECT_EQ(c.status, "interrupted");
    EXPECT_EQ(c.usage.input_tokens, 1234);  // the provider's figures, not an estimate
    EXPECT_EQ(c.usage.output_tokens, 7);
    EXPECT_FALSE(c.usage.estimated);
    EXPECT_EQ(c.cost_micros, llm::cost_micros(llm::Pricing{1'000'000, 2'000'000}, c.usage));
    EXPECT_EQ(c.deployment, "reporting#1");
  }
  EXPECT_EQ(recorded[0].kind, "chat");
  EXPECT_EQ(recorded[1].kind, "gateway");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace aas::chat
