// ConversationService over the real SQLite store: each refusal of a conversation's fields, tags,
// searches, prompts and knowledge bases with its message, and the reads that page for the caller.
#include "chat/conversation_service.hpp"

#include "llm/providers/mock.hpp"
#include "store/sqlite/sqlite_store.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

namespace aas::chat {
namespace {

namespace asio = boost::asio;

class ConversationServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/aas-conv-svc-XXXXXX";
    dir_ = mkdtemp(tmpl);
    store_ = store::sqlite::open_sqlite_store((dir_ / "ai.db").string(), clock_);
    ASSERT_TRUE(store_->migrate());
    models_.add({"mock", "mock", std::make_shared<llm::MockProvider>(), llm::Pricing{}});
    // Titles of 10 characters, system prompts of 100, metadata of 64 bytes, 3 tags of 5, searches of 10.
    svc_ = std::make_unique<ConversationService>(*store_, blocking_, models_, ConversationLimits{10, 100, 64, 3, 5, 10});
  }
  void TearDown() override {
    blocking_.join();
    std::filesystem::remove_all(dir_);
  }

  template <class T>
  T run(asio::awaitable<T> a) {
    ioc_.restart();
    auto fut = asio::co_spawn(ioc_, std::move(a), asio::use_future);
    ioc_.run();
    return fut.get();
  }

  // "created" or the refusal's message.
  std::string create(domain::NewConversation c) {
    c.user_id = "alice";
    auto r = run(svc_->create(std::move(c)));
    return r ? std::string("created") : r.error().message;
  }

  std::string conversation() {
    domain::NewConversation c;
    c.user_id = "alice";
    return run(svc_->create(c)).value().id;
  }

  std::filesystem::path dir_;
  SystemClock clock_;
  std::unique_ptr<store::Store> store_;
  asio::io_context ioc_;
  asio::thread_pool blocking_{1};
  llm::ModelRegistry models_;
  std::unique_ptr<ConversationService> svc_;
};

TEST_F(ConversationServiceTest, EachRefusedFieldOfANewConversationIsNamed) {
  const auto with = [](auto change) {
    domain::NewConversation c;
    change(c);
    return c;
  };
  EXPECT_EQ(create(with([](auto&) {})), "created");
  EXPECT_EQ(create(with([](auto& c) { c.title = std::string(11, 't'); })), "title is longer than 10 characters");
  EXPECT_EQ(create(with([](auto& c) { c.title = "caf\xe9"; })), "title must be valid UTF-8");
  EXPECT_EQ(create(with([](auto& c) { c.system_prompt = std::string(101, 's'); })),
            "systemPrompt is longer than 100 characters");
  EXPECT_EQ(create(with([](auto& c) { c.system_prompt = std::string(100, 's'); })), "created");
  EXPECT_EQ(create(with([](auto& c) { c.metadata = "{\"k\":\"" + std::string(60, 'v') + "\"}"; })),
            "metadata is larger than 64 bytes");
  EXPECT_EQ(create(with([](auto& c) {
              c.system_prompt = "own";
              c.prompt_id = "0192f0d2-6c1e-7a3b-9a4e-1f2d3c4b5a69";
            })),
            "give systemPrompt or promptId, not both");
  EXPECT_EQ(create(with([](auto& c) { c.prompt_id = "not-a-uuid"; })), "prompt not found");
  EXPECT_EQ(create(with([](auto& c) { c.knowledge_base_ids = std::vector<std::string>(21, "kb"); })),
            "at most 20 knowledge bases per conversation");
  EXPECT_EQ(create(with([](auto& c) { c.knowledge_base_ids = {"kb"}; })), "knowledge base not found")
      << "no retriever: no knowledge base can be the user's";
  EXPECT_NE(create(with([](auto& c) { c.model = "nope"; })), "created");
}

TEST_F(ConversationServiceTest, TagsAreTrimmedSortedAndDistinctAndEachBadOneRefused) {
  const std::string id = conversation();
  const auto tag = [&](std::vector<std::string> tags) {
    domain::ConversationPatch p;
    p.tags = std::move(tags);
    auto r = run(svc_->update("alice", id, p));
    if (!r) return "error: " + r.error().message;
    std::string out;
    for (const std::string& t : r->tags) out += "[" + t + "]";
    return out;
  };
  EXPECT_EQ(tag({" b ", "a\t", "b"}), "[a][b]");
  EXPECT_EQ(tag({}), "");
  const std::string refused = "error: a tag is 1 to 5 characters, without commas or control characters";
  EXPECT_EQ(tag({"  "}), refused);
  EXPECT_EQ(tag({"a,b"}), refused);
  EXPECT_EQ(tag({"a\x01"}), refused);
  EXPECT_EQ(tag({"toolong"}), refused);
  EXPECT_EQ(tag({"\xff"}), refused);
  EXPECT_EQ(tag({"a", "b", "c", "d"}), "error: at most 3 tags");
}

TEST_F(ConversationServiceTest, ListingRefusesABadTagOrSearchAndIgnoresABlankSearch) {
  const std::string id = conversation();
  domain::ConversationPatch p;
  p.tags = std::vector<std::string>{"work"};
  ASSERT_TRUE(run(svc_->update("alice", id, p)));
  const auto listed = [&](domain::ConversationFilter f) {
    auto r = run(svc_->list("alice", {10, std::nullopt}, f));
    return r ? std::to_string(r->items.size()) : r.error().message;
  };
  domain::ConversationFilter by_tag;
  by_tag.tag = " work ";
  EXPECT_EQ(listed(by_tag), "1") << "the tag is trimmed as when it was set";
  by_tag.tag = "a,b";
  EXPECT_EQ(listed(by_tag), "a tag is 1 to 5 characters, without commas or control characters");
  domain::ConversationFilter search;
  search.query = "   ";
  EXPECT_EQ(listed(search), "1") << "a blank search is no search";
  search.query = std::string(11, 'q');
  EXPECT_EQ(listed(search), "q is at most 10 characters of valid UTF-8");
  search.query = "\xc3";
  EXPECT_EQ(listed(search), "q is at most 10 characters of valid UTF-8");
}

TEST_F(ConversationServiceTest, UpdatesRefuseWhatCreateRefusesAndChoosingOnePromptDropsTheOther) {
  const std::string id = conversation();
  domain::ConversationPatch both;
  both.system_prompt = "own";
  both.prompt_id = "0192f0d2-6c1e-7a3b-9a4e-1f2d3c4b5a69";
  EXPECT_EQ(run(svc_->update("alice", id, both)).error().message, "give systemPrompt or promptId, not both");
  domain::ConversationPatch kbs;
  kbs.knowledge_base_ids = std::vector<std::string>{"kb"};
  EXPECT_EQ(run(svc_->update("alice", id, kbs)).error().message, "knowledge base not found");
  kbs.knowledge_base_ids = std::vector<std::string>{};
  EXPECT_TRUE(run(svc_->update("alice", id, kbs))) << "no knowledge bases is always allowed";
  domain::ConversationPatch own;
  own.system_prompt = "Be brief.";
  auto updated = run(svc_->update("alice", id, own));
  ASSERT_TRUE(updated) << updated.error().message;
  EXPECT_EQ(updated->system_prompt, "Be brief.");
  EXPECT_EQ(run(svc_->update("alice", "not-a-uuid", own)).error().code, errc::not_found);
}

TEST_F(ConversationServiceTest, ReadsAWholeConversationAcrossPagesAndOnlyItsOwnMessageVersions) {
  const std::string id = conversation();
  std::string first_id;
  for (int i = 0; i < 130; ++i) {
    domain::NewMessage m;
    m.conversation_id = id;
    m.role = i % 2 ? domain::Role::assistant : domain::Role::user;
    m.content = "m" + std::to_string(i);
    auto stored = store_->append_message("alice", m);
    ASSERT_TRUE(stored);
    if (i == 0) first_id = stored->id;
  }
  auto whole = run(svc_->read_whole("alice", id));
  ASSERT_TRUE(whole) << whole.error().message;
  ASSERT_EQ(whole->messages.items.size(), 130u) << "more than one page of 100";
  EXPECT_EQ(whole->messages.items.back().content, "m129");
  EXPECT_FALSE(whole->messages.next_cursor);
  EXPECT_EQ(run(svc_->read_whole("alice", "not-a-uuid")).error().code, errc::not_found);
  EXPECT_EQ(run(svc_->read_whole("bob", id)).error().code, errc::not_found);

  auto page = run(svc_->read("alice", id, {10, std::nullopt}));
  ASSERT_TRUE(page);
  EXPECT_EQ(page->messages.items.size(), 10u);
  EXPECT_EQ(run(svc_->read("bob", id, {10, std::nullopt})).error().code, errc::not_found);
  EXPECT_EQ(run(svc_->messages("alice", "x", {10, std::nullopt})).error().code, errc::not_found);

  auto versions = run(svc_->versions("alice", id, first_id));
  ASSERT_TRUE(versions) << versions.error().message;
  EXPECT_EQ(versions->size(), 1u);
  const std::string other = conversation();
  EXPECT_EQ(run(svc_->versions("alice", other, first_id)).error().message, "message not found")
      << "a message of another conversation";
  EXPECT_EQ(run(svc_->get("alice", "x")).error().code, errc::not_found);
  EXPECT_EQ(run(svc_->remove("alice", "x")).error().code, errc::not_found);
}

TEST_F(ConversationServiceTest, AnImportIsRefusedForABadImageOrABadConversationField) {
  domain::NewConversation c;
  c.user_id = "alice";
  domain::NewMessage image;
  image.role = domain::Role::user;
  image.content = "look";
  domain::ContentPart part;
  part.kind = domain::ContentPart::Kind::image;
  part.image_url = "ftp://example.com/a.png";
  image.parts = {part};
  auto refused = run(svc_->import(c, {image}));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message.rfind("messages[0].parts[0].image_url ", 0), 0u) << refused.error().message;

  c.title = std::string(11, 't');
  EXPECT_EQ(run(svc_->import(c, {})).error().message, "title is longer than 10 characters");
}

}  // namespace
}  // namespace aas::chat
