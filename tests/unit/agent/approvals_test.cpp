// Approvals of `confirm` tools over the real SQLite store and the in-process event bus: what a
// decision is refused with (the API's 404 / 409), what the pending list shows, and how a decision
// reaches the waiting turn.
#include "agent/approvals.hpp"
#include "agent/toolbox.hpp"
#include "realtime/event_bus.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "testing/temp_dir.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>

namespace aas::agent {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

class NamedTool final : public Tool {
 public:
  NamedTool(std::string name, bool confirm) : confirm_(confirm) { def_.name = std::move(name); }
  const llm::ToolDefinition& definition() const override { return def_; }
  bool needs_confirmation() const override { return confirm_; }
  asio::awaitable<ToolOutput> call(const boost::json::object&, const ToolContext&) override { co_return ToolOutput{}; }

 private:
  llm::ToolDefinition def_;
  bool confirm_;
};

template <class T>
T run_now(asio::awaitable<T> op) {
  asio::io_context ioc;
  auto f = asio::co_spawn(ioc, std::move(op), asio::use_future);
  ioc.run();
  return f.get();
}

std::string refusal(const Result<void>& r) {
  return r ? std::string("accepted") : std::string(code_name(r.error().code)) + ": " + r.error().message;
}

class ApprovalsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = store::sqlite::open_sqlite_store((dir_ / "ai.db").string(), clock_);
    ASSERT_TRUE(store_->migrate());
    ASSERT_TRUE(tools_.add(std::make_unique<NamedTool>("delete_todo", true)));
    ASSERT_TRUE(tools_.add(std::make_unique<NamedTool>("list_todos", false)));
    events_.subscribe([this](const realtime::Event& e) {
      std::lock_guard lock(mu_);
      if (e.type == "tool.decision") published_.push_back(e.message_id + " " + e.status);
    });
    auto conv = store_->create_conversation({.user_id = "alice"});
    ASSERT_TRUE(conv);
    conversation_ = conv->id;
  }
  void TearDown() override { blocking_.join(); }

  // A model step calling `calls` in the conversation, optionally answered by tool messages.
  void step(std::vector<domain::ToolCall> calls, const std::vector<std::string>& answered = {}) {
    domain::NewMessage m{.conversation_id = conversation_, .role = domain::Role::assistant};
    m.tool_calls = std::move(calls);
    ASSERT_TRUE(store_->append_message("alice", m));
    for (const auto& id : answered) {
      domain::NewMessage t{.conversation_id = conversation_, .role = domain::Role::tool, .content = "done"};
      t.tool_call_id = id;
      ASSERT_TRUE(store_->append_message("alice", t));
    }
  }
  std::vector<std::string> published() {
    std::lock_guard lock(mu_);
    return published_;
  }

  aas::testing::TempDir dir_{"aas-approvals"};
  SystemClock clock_;
  std::unique_ptr<store::Store> store_;
  asio::thread_pool blocking_{1};
  realtime::LocalEventBus events_;
  Toolbox tools_;
  std::string conversation_;
  std::mutex mu_;
  std::vector<std::string> published_;
};

TEST_F(ApprovalsTest, ADecisionIsRefusedUnlessItAnswersAWaitingCallOfTheUsersConversation) {
  Approvals approvals(events_, *store_, blocking_, tools_, 1h);
  step({{"c-done", "delete_todo", "{}"}, {"c-free", "list_todos", "{}"}}, {"c-done"});
  step({{"c-wait", "delete_todo", R"({"id":"7"})"}});
  const auto decide = [&](std::string user, std::string conversation, std::string call) {
    return refusal(run_now(approvals.decide(std::move(user), std::move(conversation), std::move(call), true)));
  };
  EXPECT_EQ(decide("alice", "not-a-uuid", "c-wait"), "not_found: conversation not found");
  EXPECT_EQ(decide("bob", conversation_, "c-wait"), "not_found: conversation not found");
  EXPECT_EQ(decide("alice", conversation_, "c-nope"), "not_found: tool call not found");
  EXPECT_EQ(decide("alice", conversation_, "c-free"), "conflict: this tool call needs no approval");
  EXPECT_EQ(decide("alice", conversation_, "c-done"), "conflict: this tool call is no longer waiting for approval");
  EXPECT_TRUE(published().empty()) << "nothing refused reaches the bus";
  EXPECT_EQ(decide("alice", conversation_, "c-wait"), "accepted");
  EXPECT_EQ(refusal(run_now(approvals.decide("alice", conversation_, "c-wait", false))), "accepted");
  EXPECT_EQ(published(), (std::vector<std::string>{"c-wait approved", "c-wait rejected"}));
}

TEST_F(ApprovalsTest, PendingListsTheLatestStepsUnansweredConfirmCallsUntilTheyExpire) {
  Approvals approvals(events_, *store_, blocking_, tools_, 1h);
  const auto pending = [&](Approvals& a, std::string user, std::string conversation) {
    return run_now(a.pending(std::move(user), std::move(conversation)));
  };
  auto none = pending(approvals, "alice", conversation_);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty()) << "no step yet";
  step({{"old", "delete_todo", "{}"}});  // an earlier step's call is no longer the turn's
  step({{"c1", "delete_todo", R"({"id":"1"})"}, {"c2", "delete_todo", "{}"}, {"c3", "list_todos", "{}"},
        {"c4", "gone_tool", "{}"}},
       {"c2"});
  auto waiting = pending(approvals, "alice", conversation_);
  ASSERT_TRUE(waiting);
  ASSERT_EQ(waiting->size(), 1u);
  EXPECT_EQ((*waiting)[0].call_id, "c1");
  EXPECT_EQ((*waiting)[0].name, "delete_todo");
  EXPECT_EQ((*waiting)[0].arguments, R"({"id":"1"})");
  EXPECT_GT((*waiting)[0].expires_at, std::chrono::system_clock::now() + 50min);

  Approvals expired(events_, *store_, blocking_, tools_, 0ms);
  auto late = pending(expired, "alice", conversation_);
  ASSERT_TRUE(late);
  EXPECT_TRUE(late->empty()) << "a wait of 0 ms has expired";

  auto other = pending(approvals, "bob", conversation_);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, errc::not_found);
  auto malformed = pending(approvals, "alice", "c1");
  ASSERT_FALSE(malformed);
  EXPECT_EQ(malformed.error().message, "conversation not found");
}

TEST_F(ApprovalsTest, TheDecisionOfTheCallsUserWakesTheWaitAndAnotherUsersIsIgnored) {
  Approvals approvals(events_, *store_, blocking_, tools_, 1h);
  asio::io_context ioc;
  auto strand = asio::make_strand(ioc);
  const auto decided = [&](std::string call, std::string decider, std::string status, std::chrono::milliseconds wait) {
    auto waiter = approvals.expect(strand, "alice", call);
    // Delivered before the wait starts: the decision is kept until the turn waits for it.
    events_.publish(realtime::Event{"tool.decision", decider, conversation_, call, status});
    auto f = asio::co_spawn(strand, approvals.wait(waiter, wait), asio::use_future);
    ioc.restart();
    ioc.run();
    return f.get();
  };
  EXPECT_EQ(decided("a", "alice", "approved", 1h), Decision::approved);
  EXPECT_EQ(decided("b", "alice", "rejected", 1h), Decision::rejected);
  // Real time passes here: mallory's approval is ignored, so only the 20 ms timeout ends the wait.
  EXPECT_EQ(decided("c", "mallory", "approved", 20ms), Decision::expired);
  // A decision for a call nobody waits for (any more) goes nowhere.
  events_.publish(realtime::Event{"tool.decision", "alice", conversation_, "a", "approved"});
  EXPECT_EQ(decided("d", "alice", "approved", 1h), Decision::approved);
}

}  // namespace
}  // namespace aas::agent
