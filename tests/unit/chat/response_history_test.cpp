// The Responses API's stored exchanges (previous_response_id) over the real SQLite store: what is
// kept, what is read back, and that another user's or a non-response conversation is not found.
#include "chat/response_history.hpp"

#include "core/clock.hpp"
#include "store/sqlite/sqlite_store.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include <filesystem>

namespace aas::chat {
namespace {

namespace asio = boost::asio;

class ResponseHistoryTest : public ::testing::Test {
 protected:
  ResponseHistoryTest() {
    char tmpl[] = "/tmp/aas-responses-XXXXXX";
    dir_ = mkdtemp(tmpl);
    store_ = store::sqlite::open_sqlite_store((dir_ / "ai.db").string(), clock_);
    EXPECT_TRUE(store_->migrate());
  }
  ~ResponseHistoryTest() override {
    blocking_.join();
    std::filesystem::remove_all(dir_);
  }

  template <class F>
  auto run(F f) {
    ioc_.restart();
    auto fut = asio::co_spawn(ioc_, f(), asio::use_future);
    ioc_.run();
    return fut.get();
  }

  std::filesystem::path dir_;
  SystemClock clock_;
  std::unique_ptr<store::Store> store_;
  // Outlives blocking_'s join: a pool thread may still be inside its post back into the io_context
  // when run() returns (chat_service_test.cpp, ChatServiceTest::ioc_).
  asio::io_context ioc_;
  asio::thread_pool blocking_{1};
};

TEST_F(ResponseHistoryTest, KeepsTheExchangeWithoutInstructionsAndReadsItBack) {
  ResponseHistory history(blocking_, *store_);
  const std::vector<llm::ChatMessage> first{{"system", "Be brief.", {}, {}, {}, {}}, {"user", "Weather?", {}, {}, {}, {}}};
  auto id = run([&]() { return history.open("alice", "gpt", first); });
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_TRUE(id->starts_with("resp_"));
  auto closed = run([&]() {
    return history.close("alice", *id, "gpt", "", {{"call_1", "get_weather", R"({"city":"Oslo"})"}}, true);
  });
  ASSERT_TRUE(closed) << closed.error().message;

  auto back = run([&]() { return history.load("alice", *id); });
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_EQ(back->size(), 2u) << "the instructions are not kept";
  EXPECT_EQ((*back)[0].role, "user");
  EXPECT_EQ((*back)[0].content, "Weather?");
  EXPECT_EQ((*back)[1].role, "assistant");
  ASSERT_EQ((*back)[1].tool_calls.size(), 1u);
  EXPECT_EQ((*back)[1].tool_calls[0].arguments, R"({"city":"Oslo"})");

  // A continuation holds the earlier exchange, a tool result answering its call, and the answer.
  std::vector<llm::ChatMessage> second = *back;
  llm::ChatMessage result{"tool", "Snow", {}, {}, "call_1", {}};
  second.push_back(result);
  auto next = run([&]() { return history.open("alice", "gpt", second); });
  ASSERT_TRUE(next);
  EXPECT_NE(*next, *id);
  run([&]() { return history.close("alice", *next, "gpt", "It snows.", {}, true); });
  auto chain = run([&]() { return history.load("alice", *next); });
  ASSERT_TRUE(chain);
  ASSERT_EQ(chain->size(), 4u);
  EXPECT_EQ((*chain)[2].tool_call_id, "call_1");
  EXPECT_EQ((*chain)[3].content, "It snows.");

  // Kept out of the chat list: archived.
  auto listed = store_->list_conversations("alice", domain::PageRequest{20, std::nullopt});
  ASSERT_TRUE(listed);
  EXPECT_TRUE(listed->items.empty());
}

TEST_F(ResponseHistoryTest, AnotherUsersOrAnOrdinaryConversationIsNotFound) {
  ResponseHistory history(blocking_, *store_);
  auto id = run([&]() { return history.open("alice", "gpt", {{"user", "hi", {}, {}, {}, {}}}); });
  ASSERT_TRUE(id);
  domain::NewConversation chat;
  chat.user_id = "alice";
  auto ordinary = store_->create_conversation(chat);
  ASSERT_TRUE(ordinary);
  for (const auto& asked : std::vector<std::pair<std::string, std::string>>{
           {"mallory", *id}, {"alice", "resp_" + ordinary->id}, {"alice", "resp_not-a-uuid"}, {"alice", ordinary->id}}) {
    auto r = run([&]() { return history.load(asked.first, asked.second); });
    ASSERT_FALSE(r) << asked.first << " " << asked.second;
    EXPECT_EQ(r.error().code, errc::not_found);
  }
  // A call that failed: its record is gone.
  run([&]() { return history.discard("alice", *id); });
  auto gone = run([&]() { return history.load("alice", *id); });
  EXPECT_FALSE(gone);
}

}  // namespace
}  // namespace aas::chat
