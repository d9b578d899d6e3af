// The agent loop over the real SQLite store, the real Recorder and limits, with a scripted model
// (a fake of the LlmProvider port) and fake tools (fakes of the Tool port).
#include "agent/agent_loop.hpp"
#include "agent/approvals.hpp"
#include "agent/knowledge_tool.hpp"
#include "agent/toolbox.hpp"
#include "chat/chat_service.hpp"
#include "llm/token_estimate.hpp"
#include "limits/local_limiter.hpp"
#include "realtime/event_bus.hpp"
#include "store/sqlite/sqlite_store.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

namespace aas::agent {
namespace {

namespace asio = boost::asio;

// The model: after the user's message it calls the tools named in `script` (one step each, in
// order); after the last step's results it answers "results: <the tool messages joined>".
class ScriptedModel final : public llm::LlmProvider {
 public:
  std::vector<std::vector<llm::ToolCall>> script;
  std::vector<llm::ChatRequest> requests;
  std::function<void(const llm::ChatRequest&)> on_call;  // told of each call as it is made
  std::string_view name() const override { return "scripted"; }
  asio::awaitable<Result<llm::Completion>> complete(const llm::ChatRequest& req) override {
    requests.push_back(req);
    if (on_call) on_call(req);
    std::size_t steps = 0;
    for (const auto& m : req.messages) steps += m.role == "assistant" && !m.tool_calls.empty();
    llm::Completion c;
    c.usage = llm::Usage{100, 10, 0, 0, 0, false};
    c.provider = "scripted";
    c.deployment = "scripted#1";
    if (steps < script.size() && req.tool_choice != "none") {
      c.tool_calls = script[steps];
      c.finish_reason = "tool_calls";
      co_return c;
    }
    c.content = "results:";
    for (const auto& m : req.messages)
      if (m.role == "tool") c.content += " [" + m.content + "]";
    c.finish_reason = "stop";
    co_return c;
  }
  // Streamed as a provider streams: the text and each call's pieces through the sink.
  asio::awaitable<Result<llm::Completion>> stream(const llm::ChatRequest& req, const llm::ChunkSink& sink) override {
    auto c = co_await complete(req);
    if (!c) co_return c;
    if (!c->content.empty()) sink(llm::StreamDelta{c->content, nullptr});
    for (std::size_t i = 0; i < c->tool_calls.size(); ++i) {
      const llm::ToolCallDelta d{static_cast<int>(i), c->tool_calls[i].id, c->tool_calls[i].name, c->tool_calls[i].arguments};
      sink(llm::StreamDelta{{}, &d});
    }
    co_return c;
  }
};

// Answers its arguments back; counts its calls.
class EchoTool final : public Tool {
 public:
  EchoTool(std::string name, bool confirm = false) : confirm_(confirm) {
    def_.name = std::move(name);
    def_.parameters = R"({"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]})";
  }
  const llm::ToolDefinition& definition() const override { return def_; }
  bool needs_confirmation() const override { return confirm_; }
  asio::awaitable<ToolOutput> call(const boost::json::object& args, const ToolContext& ctx) override {
    ++calls;
    token_seen = ctx.bearer_token;
    co_return ToolOutput{boost::json::serialize(args), false};
  }
  int calls = 0;
  std::string token_seen;

 private:
  llm::ToolDefinition def_;
  bool confirm_;
};

// Never answers by itself: only a cancellation ends it.
class HangingTool final : public Tool {
 public:
  HangingTool() {
    def_.name = "hang";
    def_.parameters = R"({"type":"object","properties":{}})";
  }
  const llm::ToolDefinition& definition() const override { return def_; }
  asio::awaitable<ToolOutput> call(const boost::json::object&, const ToolContext&) override {
    asio::steady_timer never(co_await asio::this_coro::executor, asio::steady_timer::time_point::max());
    co_await never.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return ToolOutput{"never", false};
  }

 private:
  llm::ToolDefinition def_;
};

// Takes the loop's events; answers a confirmation through `on_confirm`.
class Events final : public chat::TurnObserver {
 public:
  std::vector<chat::ToolEvent> seen;
  std::function<void(const chat::ToolEvent&)> on_confirm;
  std::vector<std::string> answers;  // next_answer's message ids
  std::vector<std::size_t> cited;    // the size of each citations() list
  bool delta(std::string_view) override { return true; }
  void next_answer(const std::string& id) override { answers.push_back(id); }
  void citations(const std::vector<chat::Citation>& all) override { cited.push_back(all.size()); }
  void tool_event(const chat::ToolEvent& e) override {
    seen.push_back(e);
    if (e.kind == chat::ToolEvent::Kind::confirmation && on_confirm) on_confirm(e);
  }
};

// The user's bases: "kb-alice" (alice's) holds two passages; any other id is not found.
class FakeRetriever final : public chat::Retriever {
 public:
  std::vector<std::string> searched;  // the queries knowledge_search asked for
  Result<void> check(const std::string& user, const std::vector<std::string>& ids) override {
    for (const auto& id : ids)
      if (user != "alice" || id != "kb-alice") return make_error(errc::not_found, "knowledge base not found");
    return {};
  }
  Result<std::vector<chat::Citation>> retrieve(const std::string& user, const std::vector<std::string>& ids,
                                               const std::string&) override {
    if (auto c = check(user, ids); !c) return c.error();
    return std::vector<chat::Citation>{};  // the chat's own retrieval finds nothing here
  }
  Result<std::vector<chat::Citation>> search(const std::string& user, const std::vector<std::string>& ids,
                                             const std::string& query, int k) override {
    if (auto c = check(user, ids); !c) return c.error();
    searched.push_back(query);
    std::vector<chat::Citation> out;
    for (const char* chunk : {"chunk-lava", "chunk-ash"}) {
      chat::Citation c;
      c.index = static_cast<int>(out.size()) + 1;
      c.document_id = std::string("doc-") + chunk;
      c.knowledge_base_id = "kb-alice";
      c.chunk_id = chunk;
      c.title = chunk;
      c.text = std::string("text of ") + chunk;
      out.push_back(std::move(c));
    }
    out.resize(std::min<std::size_t>(out.size(), static_cast<std::size_t>(k)));
    return out;
  }
};

llm::ToolCall call(std::string id, std::string name, std::string args) { return {std::move(id), std::move(name), std::move(args)}; }

class AgentLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/aas-agent-XXXXXX";
    dir_ = mkdtemp(tmpl);
    store_ = store::sqlite::open_sqlite_store((dir_ / "ai.db").string(), clock_);
    ASSERT_TRUE(store_->migrate());
    models_.add({"scripted", "gpt-4o-mini", model_, llm::Pricing{1, 1}, std::nullopt, std::nullopt});
    limiter_ = std::make_unique<limits::LocalLimiter>(
        clock_, [this](std::string_view user, std::string_view day) { return store_->spent_micros(user, day); });
    accounting_ = std::make_unique<chat::Accounting>(*store_, *limiter_, policies_, chat::AccountingOptions{});
    recorder_ = std::make_unique<chat::Recorder>(*store_, blocking_, *accounting_, events_);
    auto echo = std::make_unique<EchoTool>("echo");
    echo_ = echo.get();
    auto guarded = std::make_unique<EchoTool>("guarded", true);
    guarded_ = guarded.get();
    ASSERT_TRUE(tools_.add(std::move(echo)));
    ASSERT_TRUE(tools_.add(std::move(guarded)));
    ASSERT_TRUE(tools_.add(std::make_unique<HangingTool>()));
    approvals_ = std::make_unique<Approvals>(events_, *store_, blocking_, tools_, std::chrono::milliseconds(200));
    settings_.max_steps = 3;
    settings_.tool_timeout = std::chrono::milliseconds(50);
    settings_.confirm_timeout = std::chrono::milliseconds(200);
    settings_.tool_result_max_tokens = 20;
  }
  void TearDown() override {
    blocking_.join();
    std::filesystem::remove_all(dir_);
  }

  Result<chat::TurnResult> run(Events* events = nullptr, std::optional<std::vector<std::string>> kb_ids = std::nullopt) {
    loop_ = std::make_unique<AgentLoop>(*store_, blocking_, *accounting_, *recorder_, tools_, *approvals_, settings_);
    chat_ = std::make_unique<chat::ChatService>(*store_, blocking_, models_, *accounting_, *recorder_, events_,
                                                chat::ChatOptions{});
    chat_->set_agent(loop_.get());
    chat_->set_retriever(&retriever_);
    chat::TurnInput in;
    in.knowledge_base_ids = kb_ids;
    in.user_id = "alice";
    in.message = "go";
    in.model = "scripted";
    in.request_id = "test";
    in.bearer_token = "alice-token";
    ioc_.restart();
    auto strand = asio::make_strand(ioc_);
    auto body = [&]() -> asio::awaitable<Result<chat::TurnResult>> {
      if (!events) co_return co_await chat_->send(in);
      auto prepared = co_await chat_->begin(in, true);
      if (!prepared) co_return prepared.error();
      co_return co_await chat_->stream(std::move(*prepared), *events);
    };
    auto fut = asio::co_spawn(strand, body(), asio::use_future);
    ioc_.run();
    return fut.get();
  }

  std::vector<domain::Message> messages(const std::string& conversation_id) {
    auto page = store_->list_messages("alice", conversation_id, {50, std::nullopt});
    EXPECT_TRUE(page);
    return page->items;
  }

  std::int64_t ledger_rows() {
    domain::UsageQuery q;
    q.from_day = "2000-01-01";
    q.to_day = "2999-12-31";
    q.user_id = "alice";
    auto report = store_->usage_report(q);
    EXPECT_TRUE(report);
    return report->totals.requests;
  }

  std::filesystem::path dir_;
  SystemClock clock_;
  std::unique_ptr<store::Store> store_;
  // Outlives blocking_'s join: a pool thread that resumed a turn still holds a copy of its strand
  // executor after the post back, and drops it once run() may have returned; a per-call io_context
  // was gone by then (TSan: the strand's release locked the destroyed strand service's mutex).
  asio::io_context ioc_;
  asio::thread_pool blocking_{2};
  std::shared_ptr<ScriptedModel> model_ = std::make_shared<ScriptedModel>();
  llm::ModelRegistry models_;
  limits::Policies policies_;
  std::unique_ptr<limits::LocalLimiter> limiter_;
  std::unique_ptr<chat::Accounting> accounting_;
  realtime::LocalEventBus events_;
  std::unique_ptr<chat::Recorder> recorder_;
  Toolbox tools_;
  FakeRetriever retriever_;
  EchoTool* echo_ = nullptr;
  EchoTool* guarded_ = nullptr;
  std::unique_ptr<Approvals> approvals_;
  AgentSettings settings_;
  std::unique_ptr<AgentLoop> loop_;
  std::unique_ptr<chat::ChatService> chat_;
};

TEST_F(AgentLoopTest, ParallelCallsRunWithTheUsersTokenAndEveryStepIsStoredAndBilled) {
  model_->script = {{call("c1", "echo", R"({"n":1})"), call("c2", "echo", R"({"n":2})")}};
  auto turn = run();
  ASSERT_TRUE(turn) << turn.error().message;
  EXPECT_EQ(turn->assistant.content, R"(results: [{"n":1}] [{"n":2}])");
  EXPECT_EQ(turn->finish_reason, "stop");
  EXPECT_EQ(echo_->calls, 2);
  EXPECT_EQ(echo_->token_seen, "alice-token");
  // The tools were offered to the model.
  ASSERT_EQ(model_->requests.front().tools.size(), 3u);

  const auto items = messages(turn->conversation_id);
  ASSERT_EQ(items.size(), 5u);  // user, step, 2 results, answer
  EXPECT_EQ(items[1].tool_calls.size(), 2u);
  EXPECT_EQ(items[1].status, domain::MessageStatus::complete);
  EXPECT_EQ(items[1].input_tokens, 100);
  EXPECT_EQ(items[2].role, domain::Role::tool);
  EXPECT_EQ(items[2].tool_call_id, "c1");
  EXPECT_EQ(items[3].tool_call_id, "c2");
  EXPECT_EQ(items[4].id, turn->assistant.id);
  EXPECT_EQ(ledger_rows(), 2) << "one ledger row per model call";
}

TEST_F(AgentLoopTest, BadArgumentsUnknownToolsAndHangingToolsAreToolErrorsNotFailedTurns) {
  model_->script = {{call("a", "echo", R"({"n":"x"})"), call("b", "nope", "{}"), call("c", "echo", "not json"),
                     call("d", "hang", "{}")}};
  auto turn = run();
  ASSERT_TRUE(turn) << turn.error().message;
  EXPECT_EQ(echo_->calls, 0) << "nothing reached the tool";
  EXPECT_EQ(turn->assistant.content,
            "results: [Error: invalid arguments: n: must be of type \"integer\"] [Error: unknown tool: nope] "
            "[Error: invalid arguments: not a JSON object] [Error: the tool did not answer within 50 ms]");
  const auto items = messages(turn->conversation_id);
  EXPECT_EQ(items[2].metadata, R"({"tool":"echo","isError":true})");
}

TEST_F(AgentLoopTest, ARunawayModelStopsAtTheStepLimitWithFinishReasonMaxSteps) {
  model_->script.assign(10, {call("x", "echo", R"({"n":1})")});
  for (std::size_t i = 0; i < model_->script.size(); ++i) model_->script[i][0].id = "x" + std::to_string(i);
  auto turn = run();
  ASSERT_TRUE(turn) << turn.error().message;
  EXPECT_EQ(turn->finish_reason, "max_steps");
  EXPECT_EQ(model_->requests.size(), 3u);
  EXPECT_EQ(model_->requests.back().tool_choice, "none") << "the last call must answer in words";
  EXPECT_EQ(echo_->calls, 2);
  EXPECT_EQ(ledger_rows(), 3);
  EXPECT_NE(turn->assistant.metadata.find(R"("finishReason":"max_steps")"), std::string::npos);
}

TEST(CapResult, CutsLongResultsAtTheTokenCapWithAMarker) {
  std::string words;
  for (int i = 0; i < 200; ++i) words += "word" + std::to_string(i) + " ";
  const std::string cut = cap_result(words, "gpt-4o-mini", 20);
  const std::string marker = "\n[truncated: the result was longer than 20 tokens]";
  ASSERT_GT(cut.size(), marker.size());
  EXPECT_EQ(cut.substr(cut.size() - marker.size()), marker);
  EXPECT_LE(llm::count_text_tokens("gpt-4o-mini", cut.substr(0, cut.size() - marker.size())), 20);
  EXPECT_EQ(words.rfind(cut.substr(0, cut.size() - marker.size()), 0), 0u) << "a prefix of the result";
  EXPECT_EQ(cap_result("short", "gpt-4o-mini", 20), "short");
}

TEST(NextPromptTokens, EqualsTheWholeExtendedRequestCountedAgain) {
  // A request with a system prompt, history, a structured message and tool schemas, then a step
  // with two calls (one with a name and JSON arguments) and their results: the count made from
  // the added messages alone must be the count of the whole request made again.
  llm::ChatRequest req;
  req.model = "gpt-4o-mini";
  req.messages = {{"system", "You are a helpful AI assistant for the Todo app."},
                  {"user", "earlier question, with some words"},
                  {"assistant", "earlier answer"},
                  {"user", "call list_todos {} and then create_todo"}};
  req.tools = {{"list_todos", "List the user's todos.", R"({"type":"object","properties":{}})"},
               {"create_todo", "Create a todo.", R"({"type":"object","properties":{"title":{"type":"string"}}})"}};
  const std::int64_t before = llm::count_request_tokens(req);

  std::vector<llm::ChatMessage> added;
  llm::ChatMessage step{"assistant", "Let me look."};
  step.tool_calls = {call("call_1", "list_todos", "{}"), call("call_2", "create_todo", R"({"title":"buy milk"})")};
  added.push_back(step);
  llm::ChatMessage first{"tool", R"({"items":[{"id":"1","title":"bread","done":false}]})"};
  first.tool_call_id = "call_1";
  added.push_back(first);
  llm::ChatMessage second{"tool", "Error: the app refused the request (HTTP 400)"};
  second.tool_call_id = "call_2";
  added.push_back(second);

  req.messages.insert(req.messages.end(), added.begin(), added.end());
  EXPECT_EQ(next_prompt_tokens(before, req.model, added), llm::count_request_tokens(req));
  EXPECT_GT(next_prompt_tokens(before, req.model, added), before);
}

TEST_F(AgentLoopTest, TheAnswerAfterAStepIsEstimatedAtItsWholePrompt) {
  // While the model answers after a step, its placeholder (what a crash would leave to bill)
  // carries the whole prompt's count, made step by step: the count of what the model was sent.
  model_->script = {{call("c1", "echo", R"({"n":1})")}};
  std::vector<std::pair<std::int64_t, std::int64_t>> seen;  // (placeholder's estimate, the prompt's count)
  model_->on_call = [&](const llm::ChatRequest& req) {
    auto conversations = store_->list_conversations("alice", {});
    ASSERT_TRUE(conversations);
    ASSERT_EQ(conversations->items.size(), 1u);
    auto recent = store_->recent_messages("alice", conversations->items.front().id, 1);
    ASSERT_TRUE(recent);
    ASSERT_EQ(recent->size(), 1u);
    EXPECT_EQ(recent->front().status, domain::MessageStatus::streaming);
    seen.emplace_back(recent->front().input_tokens.value_or(-1), llm::count_request_tokens(req));
  };
  auto turn = run();
  ASSERT_TRUE(turn) << turn.error().message;
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].first, seen[0].second);
  EXPECT_EQ(seen[1].first, seen[1].second) << "the step's placeholder";
  EXPECT_GT(seen[1].second, seen[0].second);
}

TEST_F(AgentLoopTest, AConfirmToolWaitsForApprovalRejectionOrExpiry) {
  // Approved: the call runs.
  model_->script = {{call("g1", "guarded", R"({"n":7})")}};
  Events approve;
  approve.on_confirm = [this](const chat::ToolEvent& e) {
    events_.publish(realtime::Event{"tool.decision", "alice", "", e.call_id, "approved"});
  };
  auto turn = run(&approve);
  ASSERT_TRUE(turn) << turn.error().message;
  EXPECT_EQ(guarded_->calls, 1);
  EXPECT_EQ(turn->assistant.content, R"(results: [{"n":7}])");
  ASSERT_GE(approve.seen.size(), 3u);
  EXPECT_EQ(approve.seen[0].kind, chat::ToolEvent::Kind::call);
  EXPECT_EQ(approve.seen[1].kind, chat::ToolEvent::Kind::confirmation);
  EXPECT_EQ(approve.seen[1].arguments, R"({"n":7})");
  EXPECT_EQ(approve.seen[2].kind, chat::ToolEvent::Kind::result);

  // Rejected, or decided by another user (ignored, so it expires): never runs.
  Events reject;
  reject.on_confirm = [this](const chat::ToolEvent& e) {
    events_.publish(realtime::Event{"tool.decision", "alice", "", e.call_id, "rejected"});
  };
  model_->requests.clear();
  auto rejected = run(&reject);
  ASSERT_TRUE(rejected);
  EXPECT_EQ(rejected->assistant.content, "results: [Error: the user rejected this call: it was not made]");
  Events stranger;
  stranger.on_confirm = [this](const chat::ToolEvent& e) {
    events_.publish(realtime::Event{"tool.decision", "mallory", "", e.call_id, "approved"});
  };
  auto expired = run(&stranger);
  ASSERT_TRUE(expired);
  EXPECT_EQ(expired->assistant.content, "results: [Error: the user did not approve this call in time: it was not made]");
  EXPECT_EQ(guarded_->calls, 1);
}

// A stop request while a call waits for approval ends the wait at once: the call is not made, the
// turn ends stopped after the stored results, and only the step's model call is billed.
TEST_F(AgentLoopTest, AStopDuringAnApprovalWaitEndsTheTurnStoppedWithNothingMoreBilled) {
  model_->script = {{call("g1", "guarded", R"({"n":7})")}};
  Events stop;
  stop.on_confirm = [this](const chat::ToolEvent&) {
    auto conversations = store_->list_conversations("alice", {1, std::nullopt});
    ASSERT_TRUE(conversations && !conversations->items.empty());
    events_.publish(realtime::Event{"answer.stop", "alice", conversations->items[0].id, {}, {}});
  };
  auto turn = run(&stop);
  ASSERT_TRUE(turn) << turn.error().message;
  EXPECT_EQ(guarded_->calls, 0);
  EXPECT_EQ(turn->finish_reason, "stopped");
  EXPECT_EQ(turn->assistant.status, domain::MessageStatus::interrupted);
  EXPECT_EQ(turn->usage.input_tokens, 0);
  EXPECT_EQ(turn->usage.output_tokens, 0);
  EXPECT_EQ(model_->requests.size(), 1u);  // the answer after the step was never asked
  const auto stored = messages(turn->conversation_id);
  ASSERT_EQ(stored.size(), 4u);
  EXPECT_EQ(stored[1].tool_calls.size(), 1u);
  EXPECT_EQ(stored[2].tool_call_id, "g1");
  EXPECT_EQ(stored[2].content, "Error: the turn was stopped before this call was approved: it was not made");
  EXPECT_EQ(stored[3].id, turn->assistant.id);
  EXPECT_EQ(ledger_rows(), 2);  // the step's call, and the stopped answer's row with nothing in it
  ASSERT_GE(stop.seen.size(), 3u);
  EXPECT_EQ(stop.seen.back().kind, chat::ToolEvent::Kind::result);
  EXPECT_TRUE(stop.seen.back().error);
}

TEST_F(AgentLoopTest, AConfirmToolWithNoClientToAskIsNotCalledAndNothingWaits) {
  model_->script = {{call("g1", "guarded", R"({"n":7})")}};
  settings_.confirm_timeout = std::chrono::hours(1);  // a wait would hang the test
  auto turn = run();
  ASSERT_TRUE(turn) << turn.error().message;
  EXPECT_EQ(guarded_->calls, 0);
  EXPECT_EQ(turn->assistant.content,
            "results: [Error: this call needs the user's approval, which cannot be asked here: it was not made]");
}

TEST_F(AgentLoopTest, LaterStepsAnnounceTheirOwnAnswerMessage) {
  model_->script = {{call("s1", "echo", R"({"n":1})")}, {call("s2", "echo", R"({"n":2})")}};
  Events events;
  auto turn = run(&events);
  ASSERT_TRUE(turn) << turn.error().message;
  // Two steps with tools: each next call streams into a new placeholder, the last one the answer.
  ASSERT_EQ(events.answers.size(), 2u);
  EXPECT_NE(events.answers[0], events.answers[1]);
  EXPECT_EQ(events.answers[1], turn->assistant.id);
}

TEST_F(AgentLoopTest, KnowledgeSearchIsOfferedWithBasesOnlyAndItsPassagesBecomeNumberedCitations) {
  ASSERT_TRUE(tools_.add(std::make_unique<KnowledgeSearchTool>(retriever_, blocking_, 10)));
  settings_.tool_result_max_tokens = 200;  // whole passages
  // Without bases, not offered (echo, guarded, hang only).
  model_->script = {};
  ASSERT_TRUE(run());
  EXPECT_EQ(model_->requests.back().tools.size(), 3u);

  model_->requests.clear();
  model_->script = {{call("k1", "knowledge_search", R"({"query":"lava"})")},
                    {call("k2", "knowledge_search", R"({"query":"ash","k":1})")}};
  Events events;
  auto turn = run(&events, std::vector<std::string>{"kb-alice"});
  ASSERT_TRUE(turn) << turn.error().message;
  EXPECT_EQ(model_->requests.front().tools.size(), 4u);
  EXPECT_EQ(retriever_.searched, (std::vector<std::string>{"lava", "ash"}));
  // The second search's passage was found before: it keeps its number.
  EXPECT_EQ(turn->assistant.content,
            "results: [[1] chunk-lava\ntext of chunk-lava\n\n[2] chunk-ash\ntext of chunk-ash] [[1] chunk-lava\ntext of chunk-lava]");
  ASSERT_EQ(turn->citations.size(), 2u);
  EXPECT_EQ(turn->citations[0].index, 1);
  EXPECT_EQ(turn->citations[0].document_id, "doc-chunk-lava");
  EXPECT_EQ(turn->citations[1].index, 2);
  EXPECT_EQ(events.cited, (std::vector<std::size_t>{2})) << "told once, when the list grew";
  // Stored with the answer, as retrieved citations are.
  EXPECT_NE(turn->assistant.metadata.find("doc-chunk-ash"), std::string::npos) << turn->assistant.metadata;

  // Another user's base: refused before anything runs (as any turn naming it).
  model_->script = {};
  auto stranger = run(nullptr, std::vector<std::string>{"kb-bob"});
  ASSERT_FALSE(stranger);
  EXPECT_EQ(stranger.error().code, errc::not_found);
}

}  // namespace
}  // namespace aas::agent
