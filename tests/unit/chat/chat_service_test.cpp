// The chat turn over the real SQLite store and the mock model; a failing provider is a fake of the
// LlmProvider interface.
#include "realtime/event_bus.hpp"
#include "chat/chat_service.hpp"
#include "limits/local_limiter.hpp"

#include "chat/conversation_service.hpp"
#include "llm/providers/mock.hpp"
#include "llm/token_estimate.hpp"
#include "store/sqlite/sqlite_store.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

namespace aas::chat {

namespace asio = boost::asio;

namespace {

class FailingProvider final : public llm::LlmProvider {
 public:
  std::string_view name() const override { return "failing"; }
  asio::awaitable<Result<llm::Completion>> complete(const llm::ChatRequest& req) override {
    last_request = req;
    co_return make_error(errc::upstream_error, "the model provider failed", "HTTP 500 from upstream");
  }
  asio::awaitable<Result<llm::Completion>> stream(const llm::ChatRequest& req, const llm::ChunkSink&) override {
    return complete(req);
  }
  llm::ChatRequest last_request;
};

// Records what a streamed turn delivered; stops accepting after `accept` pieces (a client that
// left), or reports itself gone at once when `gone_at_once` (a client that left before any word).
class RecordingObserver final : public TurnObserver {
 public:
  explicit RecordingObserver(int accept = 1'000'000, bool gone_at_once = false)
      : accept_(accept), gone_at_once_(gone_at_once) {}
  bool delta(std::string_view text) override {
    if (static_cast<int>(pieces.size()) >= accept_) return false;
    pieces.emplace_back(text);
    return true;
  }
  void on_gone(std::function<void()> f) override {
    if (gone_at_once_ && f) f();
  }
  std::vector<std::string> pieces;

 private:
  int accept_;
  bool gone_at_once_;
};

// Leaves once the model call is under way: the callback it was given is told from a handler that
// runs after the call started (as the server's watcher tells of a closed connection), not from
// inside the registration.
class LeavingObserver final : public TurnObserver {
 public:
  explicit LeavingObserver(asio::io_context& io) : io_(io) {}
  bool delta(std::string_view text) override {
    pieces.emplace_back(text);
    return true;
  }
  void on_gone(std::function<void()> f) override {
    tell_ = std::move(f);
    if (!tell_) return;
    ++registrations;
    asio::post(io_, [this] {
      if (tell_) std::exchange(tell_, nullptr)();
    });
  }
  std::vector<std::string> pieces;
  int registrations = 0;

 private:
  asio::io_context& io_;
  std::function<void()> tell_;
};

class ChatServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/aas-chat-XXXXXX";
    dir_ = mkdtemp(tmpl);
    store_ = store::sqlite::open_sqlite_store((dir_ / "ai.db").string(), clock_);
    ASSERT_TRUE(store_->migrate());
    models_.add({"mock", "mock", std::make_shared<llm::MockProvider>(), llm::Pricing{0, 0}, std::nullopt, std::nullopt});
    models_.add({"failing", "failing-upstream", failing_, std::nullopt, std::nullopt, std::nullopt});
    // Waits ten seconds before its first word: only a cancellation ends its turn quickly.
    models_.add({"slow", "slow", std::make_shared<llm::MockProvider>(std::chrono::seconds(10)), llm::Pricing{}, std::nullopt, std::nullopt});
    // Small context windows (counted exactly): 120 tokens with 20 kept for the answer, and one
    // too small for even the system prompt.
    models_.add({"tight", "gpt-4o-mini", failing_, std::nullopt, 120, 20});
    models_.add({"tiny", "gpt-4o-mini", failing_, std::nullopt, 30, 20});
    llm::Model embedder{"embedder", "text-embedding-3-small", failing_, std::nullopt, std::nullopt, std::nullopt};
    embedder.embedding = true;
    models_.add(std::move(embedder));
    ChatOptions options;
    options.max_message_chars = 50;
    options.context_messages = 5;
    limiter_ = std::make_unique<limits::LocalLimiter>(
        clock_, [this](std::string_view user, std::string_view day) { return store_->spent_micros(user, day); });
    accounting_ = std::make_unique<Accounting>(*store_, *limiter_, policies_, AccountingOptions{});
    recorder_ = std::make_unique<Recorder>(*store_, blocking_, *accounting_, events_);
    chat_ = std::make_unique<ChatService>(*store_, blocking_, models_, *accounting_, *recorder_, events_, options);
  }
  void TearDown() override {
    blocking_.join();
    std::filesystem::remove_all(dir_);
  }

  Result<TurnResult> send(TurnInput in) {
    ioc_.restart();
    auto fut = asio::co_spawn(ioc_, chat_->send(std::move(in)), asio::use_future);
    ioc_.run();
    return fut.get();
  }

  Result<TurnResult> stream(TurnInput in, TurnObserver& observer) {
    ioc_.restart();
    auto run = [&]() -> asio::awaitable<Result<TurnResult>> {
      auto prepared = co_await chat_->begin(std::move(in), true);
      if (!prepared) co_return prepared.error();
      co_return co_await chat_->stream(std::move(*prepared), observer);
    };
    auto fut = asio::co_spawn(ioc_, run(), asio::use_future);
    ioc_.run();
    return fut.get();
  }

  domain::Message stored_answer(const std::string& user, const std::string& conversation_id) {
    auto messages = store_->list_messages(user, conversation_id, {10, std::nullopt});
    EXPECT_TRUE(messages);
    EXPECT_EQ(messages->items.size(), 2u);
    return messages->items.back();
  }

  static TurnInput input(std::string user, std::string message) {
    TurnInput in;
    in.user_id = std::move(user);
    in.message = std::move(message);
    in.request_id = "test";
    return in;
  }

  std::filesystem::path dir_;
  SystemClock clock_;
  std::unique_ptr<store::Store> store_;
  // One io_context for the whole test, gone only after blocking_ is joined: a pool thread that
  // resumes a coroutine posts into it and may still be inside that post (signalling the
  // io_context's condition variable) when run() returns. A per-call io_context was destroyed under
  // it (TSan: pthread_cond_destroy racing pthread_cond_signal, from offload's post back).
  asio::io_context ioc_;
  asio::thread_pool blocking_{2};
  llm::ModelRegistry models_;
  std::shared_ptr<FailingProvider> failing_ = std::make_shared<FailingProvider>();
  limits::Policies policies_;
  std::unique_ptr<limits::LocalLimiter> limiter_;
  std::unique_ptr<Accounting> accounting_;
  realtime::LocalEventBus events_;
  std::unique_ptr<Recorder> recorder_;
  std::unique_ptr<ChatService> chat_;
};

}  // namespace

TEST_F(ChatServiceTest, FirstTurnCreatesATitledConversationAndStoresBothMessages) {
  auto turn = send(input("alice", "Plan my week\nwith some detail"));
  ASSERT_TRUE(turn) << turn.error().message;
  EXPECT_EQ(turn->model, "mock");
  EXPECT_EQ(turn->assistant.status, domain::MessageStatus::complete);
  EXPECT_NE(turn->assistant.content.find("Plan my week"), std::string::npos);
  EXPECT_TRUE(turn->usage.estimated);
  EXPECT_EQ(turn->assistant.cost_micros, 0);

  auto conv = store_->get_conversation("alice", turn->conversation_id);
  ASSERT_TRUE(conv);
  EXPECT_EQ(conv->title, "Plan my week");
  EXPECT_EQ(conv->message_count, 2);
  auto messages = store_->list_messages("alice", turn->conversation_id, {10, std::nullopt});
  ASSERT_TRUE(messages);
  ASSERT_EQ(messages->items.size(), 2u);
  EXPECT_EQ(messages->items[0].id, turn->user_message_id);
  EXPECT_EQ(messages->items[0].role, domain::Role::user);
  EXPECT_EQ(messages->items[1].role, domain::Role::assistant);
  EXPECT_EQ(messages->items[1].input_tokens, turn->usage.input_tokens);
  EXPECT_EQ(messages->items[1].output_tokens, turn->usage.output_tokens);
  EXPECT_EQ(messages->items[1].model, "mock");
  EXPECT_TRUE(messages->items[1].latency_ms.has_value());
}

TEST_F(ChatServiceTest, LaterTurnsCarryTheHistoryUpToTheContextLimit) {
  auto first = send(input("alice", "one"));
  ASSERT_TRUE(first);
  TurnInput second = input("alice", "two");
  second.conversation_id = first->conversation_id;
  auto turn = send(second);
  ASSERT_TRUE(turn);
  // system + user + assistant + user
  EXPECT_NE(turn->assistant.content.find("(4 messages in context)"), std::string::npos) << turn->assistant.content;
  for (int i = 0; i < 5; ++i) {
    TurnInput next = input("alice", "more " + std::to_string(i));
    next.conversation_id = first->conversation_id;
    turn = send(next);
    ASSERT_TRUE(turn);
  }
  // context_messages = 5 stored messages plus the system prompt
  EXPECT_NE(turn->assistant.content.find("(6 messages in context)"), std::string::npos) << turn->assistant.content;
}

TEST_F(ChatServiceTest, TheContextFitsTheWindowNewestFirstAndSaysWhatWasLeftOut) {
  ChatOptions wide;
  wide.max_message_chars = 50;
  wide.context_messages = 100;  // the window, not the message count, is what limits here
  chat_ = std::make_unique<ChatService>(*store_, blocking_, models_, *accounting_, *recorder_, events_, wide);
  std::optional<std::string> conversation;
  for (int i = 0; i < 30; ++i) {
    TurnInput in = input("fit", "message number " + std::to_string(i) + " with a few more words");
    in.model = "tight";
    in.conversation_id = conversation;
    auto r = send(std::move(in));  // the provider fails; the user messages pile up
    ASSERT_FALSE(r);
    const llm::ChatRequest& sent = failing_->last_request;
    EXPECT_LE(llm::count_prompt_tokens("gpt-4o-mini", sent.messages), 100) << "turn " << i;
    EXPECT_EQ(sent.max_tokens, 20);
    EXPECT_EQ(sent.messages.back().content, "message number " + std::to_string(i) + " with a few more words");
    if (!conversation) {
      auto list = store_->list_conversations("fit", {1, std::nullopt});
      conversation = list->items.front().id;
    }
  }
  const llm::ChatRequest& last = failing_->last_request;
  EXPECT_EQ(last.messages.front().role, "system");
  EXPECT_GT(last.messages.size(), 2u) << "recent turns still fit";
  EXPECT_LT(last.messages.size(), 31u) << "old turns were left out";
  // The latest turns are the ones kept, in order.
  EXPECT_EQ(last.messages[last.messages.size() - 2].content, "message number 28 with a few more words");
  auto recent = store_->recent_messages("fit", *conversation, 1);
  EXPECT_EQ(recent->front().role, domain::Role::assistant);
  EXPECT_NE(recent->front().metadata.find("\"contextOmitted\":"), std::string::npos) << recent->front().metadata;

  TurnInput small = input("fit", "hello");
  small.model = "tiny";
  auto refused = send(std::move(small));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, errc::invalid_request);
  EXPECT_NE(refused.error().message.find("context window"), std::string::npos);
}

TEST_F(ChatServiceTest, AStoredSummaryIsSentInPlaceOfTheTurnsItCovers) {
  TurnInput first = input("sum", "the first question");
  first.model = "failing";
  ASSERT_FALSE(send(first));
  auto list = store_->list_conversations("sum", {1, std::nullopt});
  const std::string conversation = list->items.front().id;
  auto recent = store_->recent_messages("sum", conversation, 10);
  ASSERT_TRUE(store_->set_summary("sum", conversation, "They asked a first question.", recent->back().id));

  TurnInput second = input("sum", "the second question");
  second.model = "failing";
  second.conversation_id = conversation;
  ASSERT_FALSE(send(second));
  const auto& sent = failing_->last_request.messages;
  ASSERT_EQ(sent.size(), 3u) << "system prompt, summary, the new message";
  EXPECT_EQ(sent[1].role, "system");
  EXPECT_EQ(sent[1].content, "Summary of the earlier conversation:\nThey asked a first question.");
  EXPECT_EQ(sent[2].content, "the second question");
}

// On demand: all but the newest `keep` messages not yet summarized; failed answers are left out;
// a second call summarizes only what came after the first; with nothing new it changes nothing.
TEST_F(ChatServiceTest, SummarizingOnDemandCoversWhatIsNewAndSkipsFailedAnswers) {
  const auto summarize = [&](const std::string& conversation, int keep) {
    ioc_.restart();
    auto fut = asio::co_spawn(ioc_, chat_->summarize("ond", conversation, keep), asio::use_future);
    ioc_.run();
    return fut.get();
  };
  std::optional<std::string> conversation;
  for (int i = 0; i < 3; ++i) {
    TurnInput in = input("ond", "turn " + std::to_string(i));
    in.conversation_id = conversation;
    auto r = send(std::move(in));
    ASSERT_TRUE(r) << r.error().message;
    conversation = r->conversation_id;
  }
  auto m = store_->recent_messages("ond", *conversation, 100);
  ASSERT_EQ(m->size(), 6u);
  auto first = summarize(*conversation, 2);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->summary_through, (*m)[3].id) << "all but the newest 2";

  TurnInput failed = input("ond", "this one fails");
  failed.model = "failing";
  failed.conversation_id = conversation;
  ASSERT_FALSE(send(failed));
  m = store_->recent_messages("ond", *conversation, 100);
  ASSERT_EQ(m->size(), 8u);
  ASSERT_EQ((*m)[7].status, domain::MessageStatus::error);
  auto second = summarize(*conversation, 0);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->summary_through, (*m)[6].id) << "the failed answer is not summarized";
  auto again = summarize(*conversation, 0);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->summary_through, (*m)[6].id);
  EXPECT_EQ(again->summary, second->summary) << "nothing new: nothing rewritten";

  EXPECT_EQ(summarize("not-a-uuid", 0).error().code, errc::not_found);
  EXPECT_EQ(summarize("0192f0d2-6c1e-7a3b-9a4e-1f2d3c4b5a69", 0).error().code, errc::not_found);
}

TEST_F(ChatServiceTest, PastTheThresholdEarlierTurnsAreSummarizedEvenWhenTheyFit) {
  ChatOptions opts;
  opts.context_messages = 100;
  opts.summarize_after_messages = 4;
  chat_ = std::make_unique<ChatService>(*store_, blocking_, models_, *accounting_, *recorder_, events_, opts);
  std::optional<std::string> conversation;
  for (int i = 0; i < 3; ++i) {
    TurnInput in = input("thr", "turn " + std::to_string(i));
    in.conversation_id = conversation;
    auto r = send(std::move(in));  // the mock model answers; summaries run on the io_context
    ASSERT_TRUE(r) << r.error().message;
    conversation = r->conversation_id;
  }
  // The third turn saw 4 earlier messages (not more than the threshold); the next one sees 6.
  EXPECT_FALSE(store_->get_conversation("thr", *conversation)->summary);
  TurnInput in = input("thr", "turn 3");
  in.conversation_id = conversation;
  ASSERT_TRUE(send(std::move(in)));
  auto conv = store_->get_conversation("thr", *conversation);
  ASSERT_TRUE(conv->summary) << "6 earlier messages > 4: all but the newest 2 summarized";
  auto recent = store_->recent_messages("thr", *conversation, 100);
  EXPECT_EQ(conv->summary_through, (*recent)[3].id);
}

TEST_F(ChatServiceTest, ValidatesTheMessage) {
  EXPECT_EQ(send(input("alice", "   \n")).error().code, errc::invalid_request);
  EXPECT_EQ(send(input("alice", std::string(51, 'x'))).error().code, errc::invalid_request);
  EXPECT_TRUE(send(input("alice", std::string(50, 'x'))));
  EXPECT_EQ(send(input("alice", "bad \xff utf8")).error().code, errc::invalid_request);
  TurnInput unknown = input("alice", "hi");
  unknown.model = "gpt-9";
  auto r = send(unknown);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::invalid_request);
  EXPECT_NE(r.error().message.find("available: mock, failing, slow"), std::string::npos);
}

// Each refusal of a turn's input, with its message, before anything is stored or sent.
TEST_F(ChatServiceTest, EachRefusedInputIsNamedAndNothingIsStored) {
  const auto with = [](auto change) {
    TurnInput in = input("alice", "hi");
    change(in);
    return in;
  };
  const std::vector<std::pair<TurnInput, std::string>> cases{
      {with([](TurnInput& in) { in.system_prompt = std::string(51, 's'); }),
       "systemPrompt must be valid UTF-8 and at most 50 characters"},
      {with([](TurnInput& in) { in.system_prompt = "caf\xe9"; }), "systemPrompt must be valid UTF-8 and at most 50 characters"},
      {with([](TurnInput& in) {
         in.system_prompt = "own";
         in.prompt_id = "0192f0d2-6c1e-7a3b-9a4e-1f2d3c4b5a69";
       }),
       "give systemPrompt or promptId, not both"},
      {with([](TurnInput& in) { in.prompt_id = "not-a-uuid"; }), "prompt not found"},
      {with([](TurnInput& in) { in.replace_message_id = "0192f0d2-6c1e-7a3b-9a4e-1f2d3c4b5a69"; }), "message not found"},
      {with([](TurnInput& in) {
         in.conversation_id = "0192f0d2-6c1e-7a3b-9a4e-1f2d3c4b5a69";
         in.replace_message_id = "not-a-uuid";
       }),
       "message not found"},
      {with([](TurnInput& in) {
         in.parts = {llm::ContentPart{llm::ContentPart::Kind::text, "hi", {}, {}},
                     llm::ContentPart{llm::ContentPart::Kind::image, {}, "ftp://example.com/a.png", {}}};
       }),
       "message[1].image_url "},
      {with([](TurnInput& in) { in.knowledge_base_ids = std::vector<std::string>{"kb"}; }), "knowledge base not found"},
  };
  for (const auto& [in, expected] : cases) {
    auto r = send(in);
    ASSERT_FALSE(r) << expected;
    EXPECT_EQ(r.error().message.substr(0, expected.size()), expected);
  }
  auto list = store_->list_conversations("alice", {10, std::nullopt});
  ASSERT_TRUE(list);
  EXPECT_TRUE(list->items.empty()) << "a refused first turn creates no conversation";
}

// A later turn that brings its own system prompt or model changes the conversation's.
TEST_F(ChatServiceTest, ALaterTurnsSystemPromptAndModelAreKeptByTheConversation) {
  auto first = send(input("alice", "hello"));
  ASSERT_TRUE(first) << first.error().message;
  TurnInput next = input("alice", "again");
  next.conversation_id = first->conversation_id;
  next.system_prompt = "Answer in French.";
  next.model = "mock";
  auto second = send(next);
  ASSERT_TRUE(second) << second.error().message;
  auto conv = store_->get_conversation("alice", first->conversation_id);
  ASSERT_TRUE(conv);
  EXPECT_EQ(conv->system_prompt, "Answer in French.");
  EXPECT_EQ(conv->model, "mock");
  // A prompt of the library that does not exist is not found, and changes nothing.
  TurnInput missing = input("alice", "third");
  missing.conversation_id = first->conversation_id;
  missing.prompt_id = "0192f0d2-6c1e-7a3b-9a4e-1f2d3c4b5a69";
  EXPECT_EQ(send(missing).error().code, errc::not_found);
  EXPECT_EQ(store_->get_conversation("alice", first->conversation_id)->system_prompt, "Answer in French.");
}

// Regenerating asks the answer's own question again: an answer with none before it (an imported
// conversation can start with one) or one given another message's id is refused, named.
TEST_F(ChatServiceTest, RegeneratingNeedsAnAnswerOfThisConversationWithItsQuestion) {
  auto conv = store_->create_conversation(domain::NewConversation{"regen", {}, {}, {}, "{}", {}, false, {}});
  ASSERT_TRUE(conv);
  domain::NewMessage opening;
  opening.conversation_id = conv->id;
  opening.role = domain::Role::assistant;
  opening.content = "Welcome!";
  auto answer = store_->append_message("regen", opening);
  ASSERT_TRUE(answer);
  const auto regenerate = [&](const std::string& conversation, const std::string& message) {
    TurnInput in = input("regen", "");
    in.conversation_id = conversation;
    in.replace_message_id = message;
    in.regenerate = true;
    auto r = send(in);
    return r ? std::string("regenerated") : r.error().message;
  };
  EXPECT_EQ(regenerate(conv->id, answer->id), "this answer has no question to answer again");
  auto turn = send(input("regen", "a question"));
  ASSERT_TRUE(turn);
  EXPECT_EQ(regenerate(conv->id, turn->assistant.id), "message not found") << "an answer of another conversation";
  EXPECT_EQ(regenerate(turn->conversation_id, turn->user_message_id), "only an answer can be regenerated");
  EXPECT_EQ(regenerate(turn->conversation_id, turn->assistant.id), "regenerated");
}

TEST_F(ChatServiceTest, AnEmbeddingModelCannotChat) {
  TurnInput in = input("alice", "hello");
  in.model = "embedder";
  auto r = send(in);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::invalid_request);
  EXPECT_NE(r.error().message.find("embedding model"), std::string::npos);
  EXPECT_EQ(failing_->last_request.model, "");  // nothing was sent
  auto list = store_->list_conversations("alice", {10, std::nullopt});
  ASSERT_TRUE(list);
  EXPECT_TRUE(list->items.empty());  // nothing stored
}

TEST_F(ChatServiceTest, AnotherUsersConversationIsNotFound) {
  auto first = send(input("alice", "secret plans"));
  ASSERT_TRUE(first);
  TurnInput intruder = input("mallory", "let me in");
  intruder.conversation_id = first->conversation_id;
  auto r = send(intruder);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::not_found);
  intruder.conversation_id = "not-a-uuid";
  EXPECT_EQ(send(intruder).error().code, errc::not_found);
  EXPECT_EQ(store_->get_conversation("alice", first->conversation_id)->message_count, 2);
}

TEST_F(ChatServiceTest, AFailedModelCallKeepsTheUserMessageAndRecordsTheFailure) {
  TurnInput in = input("alice", "will fail");
  in.model = "failing";
  in.system_prompt = "You are terse.";
  auto r = send(in);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::upstream_error);
  // The provider was asked with the deployment's upstream name and our system prompt first.
  EXPECT_EQ(failing_->last_request.model, "failing-upstream");
  ASSERT_FALSE(failing_->last_request.messages.empty());
  EXPECT_EQ(failing_->last_request.messages.front().content, "You are terse.");

  auto list = store_->list_conversations("alice", {10, std::nullopt});
  ASSERT_TRUE(list);
  ASSERT_EQ(list->items.size(), 1u);
  auto messages = store_->list_messages("alice", list->items[0].id, {10, std::nullopt});
  ASSERT_TRUE(messages);
  ASSERT_EQ(messages->items.size(), 2u);
  EXPECT_EQ(messages->items[0].content, "will fail");
  EXPECT_EQ(messages->items[1].status, domain::MessageStatus::error);
  EXPECT_EQ(messages->items[1].cost_micros, std::nullopt);
}

// Runs one of the service's awaitables to its end, on an io_context that outlives every test's
// blocking pool (see ChatServiceTest::ioc_ for why a per-call one races with offload's post back).
template <class T>
T run(asio::awaitable<T> a) {
  static asio::io_context ioc;
  ioc.restart();
  auto fut = asio::co_spawn(ioc, std::move(a), asio::use_future);
  ioc.run();
  return fut.get();
}

TEST(ConversationService, PatchValidation) {
  char tmpl[] = "/tmp/aas-conv-XXXXXX";
  const std::filesystem::path dir = mkdtemp(tmpl);
  SystemClock clock;
  auto store = store::sqlite::open_sqlite_store((dir / "ai.db").string(), clock);
  ASSERT_TRUE(store->migrate());
  llm::ModelRegistry models;
  models.add({"mock", "mock", std::make_shared<llm::MockProvider>(), llm::Pricing{}});
  asio::thread_pool blocking(1);
  ConversationService svc(*store, blocking, models, ConversationLimits{10, 100, 64});

  domain::NewConversation nc;
  nc.user_id = "alice";
  nc.title = "ok";
  auto conv = run(svc.create(nc));
  ASSERT_TRUE(conv);
  EXPECT_EQ(run(svc.update("alice", conv->id, {})).error().code, errc::invalid_request);
  domain::ConversationPatch long_title;
  long_title.title = std::string(11, 't');
  EXPECT_EQ(run(svc.update("alice", conv->id, long_title)).error().code, errc::invalid_request);
  domain::ConversationPatch bad_model;
  bad_model.model = "nope";
  EXPECT_EQ(run(svc.update("alice", conv->id, bad_model)).error().code, errc::invalid_request);
  domain::ConversationPatch big_metadata;
  big_metadata.metadata = "{\"k\":\"" + std::string(100, 'v') + "\"}";
  EXPECT_EQ(run(svc.update("alice", conv->id, big_metadata)).error().code, errc::invalid_request);
  EXPECT_EQ(run(svc.get("alice", "../etc/passwd")).error().code, errc::not_found);
  domain::ConversationPatch clear;
  clear.clear_title = true;
  auto cleared = run(svc.update("alice", conv->id, clear));
  ASSERT_TRUE(cleared);
  EXPECT_FALSE(cleared->title.has_value());
  blocking.join();
  std::filesystem::remove_all(dir);
}

}  // namespace aas::chat

namespace aas::chat {

TEST_F(ChatServiceTest, StreamedTurnDeliversPiecesAndStoresTheWholeAnswer) {
  RecordingObserver observer;
  auto turn = stream(input("alice", "stream this"), observer);
  ASSERT_TRUE(turn) << turn.error().message;
  EXPECT_GT(observer.pieces.size(), 3u);
  std::string joined;
  for (const auto& p : observer.pieces) joined += p;
  EXPECT_EQ(turn->assistant.content, joined);
  EXPECT_EQ(turn->assistant.status, domain::MessageStatus::complete);
  EXPECT_EQ(turn->finish_reason, "stop");
  EXPECT_FALSE(turn->interruption);
  const domain::Message stored = stored_answer("alice", turn->conversation_id);
  EXPECT_EQ(stored.id, turn->assistant.id);
  EXPECT_EQ(stored.content, joined);
  EXPECT_EQ(stored.status, domain::MessageStatus::complete);
  EXPECT_EQ(stored.output_tokens, turn->usage.output_tokens);
}

TEST_F(ChatServiceTest, AClientLeavingMidStreamLeavesAnInterruptedBilledAnswer) {
  RecordingObserver observer(2);
  auto turn = stream(input("alice", "I will leave after two words"), observer);
  ASSERT_TRUE(turn) << turn.error().message;
  ASSERT_EQ(observer.pieces.size(), 2u);
  EXPECT_EQ(turn->assistant.status, domain::MessageStatus::interrupted);
  EXPECT_EQ(turn->finish_reason, "cancelled");
  ASSERT_TRUE(turn->interruption);
  // What reached the model's sink is kept, the third piece included (it was produced, then refused).
  EXPECT_EQ(turn->assistant.content.rfind(observer.pieces[0] + observer.pieces[1], 0), 0u);
  EXPECT_TRUE(turn->usage.estimated);
  EXPECT_GT(turn->usage.input_tokens, 0);
  const domain::Message stored = stored_answer("alice", turn->conversation_id);
  EXPECT_EQ(stored.status, domain::MessageStatus::interrupted);
  EXPECT_EQ(stored.input_tokens, turn->usage.input_tokens);
  EXPECT_NE(stored.metadata.find("\"usageEstimated\":true"), std::string::npos) << stored.metadata;
}

TEST_F(ChatServiceTest, AClientGoneBeforeTheFirstWordCancelsTheModelCall) {
  RecordingObserver observer(1'000'000, /*gone_at_once=*/true);
  TurnInput in = input("alice", "nobody is listening");
  in.model = "slow";
  auto turn = stream(in, observer);
  // Without the cancellation the model would have waited out its 10 s and produced a first word,
  // which the answer keeps even when the observer refuses it (see the test above): the empty
  // content below shows the call was cancelled before it, with no clock read here.
  ASSERT_TRUE(turn) << turn.error().message;
  EXPECT_TRUE(observer.pieces.empty());
  EXPECT_EQ(turn->assistant.status, domain::MessageStatus::interrupted);
  EXPECT_EQ(turn->assistant.content, "");
  EXPECT_EQ(stored_answer("alice", turn->conversation_id).status, domain::MessageStatus::interrupted);
}

TEST_F(ChatServiceTest, AClientLeavingWhileTheModelWaitsCancelsTheModelCall) {
  LeavingObserver observer(ioc_);
  TurnInput in = input("alice", "I leave before the first word");
  in.model = "slow";
  auto turn = stream(in, observer);
  // As above: the slow model's first word would be kept had the call not been cancelled.
  ASSERT_TRUE(turn) << turn.error().message;
  EXPECT_EQ(observer.registrations, 1);
  EXPECT_TRUE(observer.pieces.empty());
  EXPECT_EQ(turn->finish_reason, "cancelled");
  EXPECT_EQ(turn->assistant.status, domain::MessageStatus::interrupted);
  EXPECT_EQ(turn->assistant.content, "");
}

TEST_F(ChatServiceTest, AStreamThatFailsBeforeAnyTextIsStoredAsAnError) {
  RecordingObserver observer;
  TurnInput in = input("alice", "fail please");
  in.model = "failing";
  auto turn = stream(in, observer);
  ASSERT_FALSE(turn);
  EXPECT_EQ(turn.error().code, errc::upstream_error);
  auto list = store_->list_conversations("alice", {10, std::nullopt});
  ASSERT_TRUE(list);
  ASSERT_EQ(list->items.size(), 1u);
  EXPECT_EQ(stored_answer("alice", list->items[0].id).status, domain::MessageStatus::error);
}

namespace {

// Retrieval that takes `takes` (a slow embedding call or index, simulated on the blocking pool
// where the real one runs) and finds nothing.
class SlowRetriever final : public Retriever {
 public:
  explicit SlowRetriever(std::chrono::milliseconds takes) : takes_(takes) {}
  Result<void> check(const std::string&, const std::vector<std::string>&) override { return {}; }
  Result<std::vector<Citation>> retrieve(const std::string&, const std::vector<std::string>&,
                                         const std::string&) override {
    std::this_thread::sleep_for(takes_);
    return std::vector<Citation>{};
  }
  Result<std::vector<Citation>> search(const std::string&, const std::vector<std::string>&, const std::string&,
                                       int) override {
    return std::vector<Citation>{};
  }

 private:
  std::chrono::milliseconds takes_;
};

}  // namespace

// A non-streamed call's timeout counts from the request's arrival, not from the call's start:
// a turn whose retrieval used up the whole timeout fails upstream_timeout, recorded, rather than
// calling the model with a fresh timeout the request's own (later) timeout would cut short,
// leaving the turn unrecorded (issue 18, finding 2).
TEST_F(ChatServiceTest, ANonStreamedCallsTimeoutCountsFromTheRequestsArrival) {
  models_.add({"quick", "quick", std::make_shared<llm::MockProvider>(std::chrono::milliseconds(50)), llm::Pricing{},
               std::nullopt, std::nullopt});
  AccountingOptions timed;
  timed.limits.timeout = std::chrono::milliseconds(2000);  // generous: the quick turn must fit on a loaded machine
  Accounting accounting(*store_, *limiter_, policies_, timed);
  Recorder recorder(*store_, blocking_, accounting, events_);
  ChatService chat(*store_, blocking_, models_, accounting, recorder, events_, ChatOptions{});
  auto send_with = [&](std::chrono::milliseconds retrieval, std::string user) {
    SlowRetriever retriever(retrieval);
    chat.set_retriever(&retriever);
    TurnInput in = input(std::move(user), "hello");
    in.model = "quick";
    in.knowledge_base_ids = std::vector<std::string>{"kb"};
    ioc_.restart();
    auto fut = asio::co_spawn(ioc_, chat.send(std::move(in)), asio::use_future);
    ioc_.run();
    return fut.get();
  };

  // The model answers well within the timeout when retrieval is quick...
  auto quick = send_with(std::chrono::milliseconds(0), "alice");
  ASSERT_TRUE(quick) << quick.error().message;
  EXPECT_EQ(quick->assistant.status, domain::MessageStatus::complete);

  // ...but not when retrieval took all of it: the call had no time left.
  auto late = send_with(std::chrono::milliseconds(2100), "bob");
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, errc::upstream_timeout);
  auto conversations = store_->list_conversations("bob", {10, std::nullopt});
  ASSERT_TRUE(conversations);
  ASSERT_EQ(conversations->items.size(), 1u);
  const domain::Message answer = stored_answer("bob", conversations->items[0].id);
  EXPECT_EQ(answer.status, domain::MessageStatus::error);
}

}  // namespace aas::chat
