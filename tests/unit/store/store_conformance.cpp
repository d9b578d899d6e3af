#include "store_conformance.hpp"

#include "core/ids.hpp"

#include <algorithm>
#include <cstdio>
#include <future>
#include <map>
#include <set>
#include <thread>
#include <tuple>

namespace aas::store::testing {

using namespace std::chrono_literals;

namespace {

template <class T>
std::string describe(const Result<T>& r) {
  if (r) return "ok";
  return std::string(code_name(r.error().code)) + ": " + r.error().message + " [" +
         r.error().detail + "]";
}

// For use as EXPECT_TRUE(is_ok(r)) / ASSERT_TRUE(is_ok(r)): prints the error when it fails.
template <class T>
::testing::AssertionResult is_ok(const Result<T>& r) {
  if (r) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << describe(r);
}

template <class T>
::testing::AssertionResult has_error(const Result<T>& r, errc code, std::string_view message) {
  if (r) return ::testing::AssertionFailure() << "expected " << code_name(code) << ", got a value";
  if (r.error().code != code || r.error().message != message)
    return ::testing::AssertionFailure()
           << "expected " << code_name(code) << ": " << message << ", got " << describe(r);
  return ::testing::AssertionSuccess();
}

template <class T>
::testing::AssertionResult is_not_found(const Result<T>& r) {
  return has_error(r, errc::not_found, "conversation not found");
}

template <class T>
::testing::AssertionResult is_invalid_cursor(const Result<T>& r) {
  return has_error(r, errc::invalid_request, "invalid cursor");
}

void expect_same(const Conversation& a, const Conversation& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.user_id, b.user_id);
  EXPECT_EQ(a.title, b.title);
  EXPECT_EQ(a.system_prompt, b.system_prompt);
  EXPECT_EQ(a.model, b.model);
  EXPECT_EQ(a.metadata, b.metadata);
  EXPECT_EQ(a.message_count, b.message_count);
  EXPECT_EQ(a.created_at, b.created_at);
  EXPECT_EQ(a.updated_at, b.updated_at);
}

void expect_same(const Message& a, const Message& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.conversation_id, b.conversation_id);
  EXPECT_EQ(a.role, b.role);
  EXPECT_EQ(a.content, b.content);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.model, b.model);
  EXPECT_EQ(a.input_tokens, b.input_tokens);
  EXPECT_EQ(a.output_tokens, b.output_tokens);
  EXPECT_EQ(a.cost_micros, b.cost_micros);
  EXPECT_EQ(a.latency_ms, b.latency_ms);
  EXPECT_EQ(a.metadata, b.metadata);
  ASSERT_EQ(a.parts.size(), b.parts.size());
  for (std::size_t i = 0; i < a.parts.size(); ++i) {
    EXPECT_EQ(a.parts[i].kind, b.parts[i].kind);
    EXPECT_EQ(a.parts[i].text, b.parts[i].text);
    EXPECT_EQ(a.parts[i].image_url, b.parts[i].image_url);
    EXPECT_EQ(a.parts[i].detail, b.parts[i].detail);
  }
  ASSERT_EQ(a.tool_calls.size(), b.tool_calls.size());
  for (std::size_t i = 0; i < a.tool_calls.size(); ++i) {
    EXPECT_EQ(a.tool_calls[i].id, b.tool_calls[i].id);
    EXPECT_EQ(a.tool_calls[i].name, b.tool_calls[i].name);
    EXPECT_EQ(a.tool_calls[i].arguments, b.tool_calls[i].arguments);
  }
  EXPECT_EQ(a.tool_call_id, b.tool_call_id);
  EXPECT_EQ(a.created_at, b.created_at);
}

std::vector<std::string> ids_of(const auto& items) {
  std::vector<std::string> out;
  for (const auto& i : items) out.push_back(i.id);
  return out;
}

}  // namespace

// --- Fixture -------------------------------------------------------------------------------------

void StoreConformance::SetUp() {
  factory_ = GetParam().fresh_database();
  store_ = open_store();
  ASSERT_TRUE(store_);
  auto v = store_->migrate();
  ASSERT_TRUE(is_ok(v));
}

void StoreConformance::TearDown() {
  store_.reset();      // close before the database goes away
  factory_ = nullptr;  // removes the database
}

Conversation StoreConformance::create(const std::string& user_id,
                                      std::optional<std::string> title) {
  auto r = store_->create_conversation({.user_id = user_id, .title = std::move(title)});
  EXPECT_TRUE(is_ok(r));
  return r ? *r : Conversation{};
}

Message StoreConformance::append(const std::string& user_id, const std::string& conversation_id,
                                 const std::string& content, Role role) {
  auto r = store_->append_message(
      user_id, {.conversation_id = conversation_id, .role = role, .content = content});
  EXPECT_TRUE(is_ok(r));
  return r ? *r : Message{};
}

std::vector<Conversation> StoreConformance::list_all(const std::string& user_id, int limit) {
  std::vector<Conversation> out;
  PageRequest req{.limit = limit};
  for (int pages = 0; pages < 1000; ++pages) {
    auto page = store_->list_conversations(user_id, req);
    EXPECT_TRUE(is_ok(page));
    if (!page) break;
    EXPECT_LE(page->items.size(), static_cast<std::size_t>(limit));
    out.insert(out.end(), page->items.begin(), page->items.end());
    if (!page->next_cursor) break;
    req.cursor = page->next_cursor;
  }
  return out;
}

std::vector<Message> StoreConformance::list_all_messages(const std::string& user_id,
                                                         const std::string& conversation_id,
                                                         int limit) {
  std::vector<Message> out;
  PageRequest req{.limit = limit};
  for (int pages = 0; pages < 1000; ++pages) {
    auto page = store_->list_messages(user_id, conversation_id, req);
    EXPECT_TRUE(is_ok(page));
    if (!page) break;
    EXPECT_LE(page->items.size(), static_cast<std::size_t>(limit));
    out.insert(out.end(), page->items.begin(), page->items.end());
    if (!page->next_cursor) break;
    req.cursor = page->next_cursor;
  }
  return out;
}

// --- Schema and health -----------------------------------------------------------------------

TEST_P(StoreConformance, FreshDatabaseMigratesToLatestAndMigrateIsIdempotent) {
  auto factory = GetParam().fresh_database();  // not migrated, unlike the fixture's
  auto store = factory(clock_);
  const int latest = store->latest_schema_version();
  EXPECT_GE(latest, 1);

  auto before = store->schema_version();
  ASSERT_TRUE(is_ok(before));
  EXPECT_EQ(*before, 0);

  auto first = store->migrate();
  ASSERT_TRUE(is_ok(first));
  EXPECT_EQ(*first, latest);
  auto conv = store->create_conversation({.user_id = "alice", .title = "kept"});
  ASSERT_TRUE(is_ok(conv));

  auto second = store->migrate();
  ASSERT_TRUE(is_ok(second));
  EXPECT_EQ(*second, latest);
  auto now = store->schema_version();
  ASSERT_TRUE(is_ok(now));
  EXPECT_EQ(*now, latest);

  // Migrating again neither fails nor touches the data.
  auto again = store->get_conversation("alice", conv->id);
  ASSERT_TRUE(is_ok(again));
  EXPECT_EQ(again->title, "kept");
}

TEST_P(StoreConformance, MigratedStoreReportsLatestVersion) {
  auto v = store_->schema_version();
  ASSERT_TRUE(is_ok(v));
  EXPECT_EQ(*v, store_->latest_schema_version());
}

TEST_P(StoreConformance, PingSucceeds) { EXPECT_TRUE(is_ok(store_->ping())); }

// --- Conversations -------------------------------------------------------------------------------

TEST_P(StoreConformance, CreateAndGetRoundTripEveryField) {
  const NewConversation n{
      .user_id = "user-1",
      .title = "Café ☕ 'quoted' \"double\" -- ; DROP TABLE conversations;",
      .system_prompt = "You are terse.\nLine two.",
      .model = "gpt-4o-mini",
      .metadata = R"({"source":"web","tags":["a","b"],"n":1})",
  };
  auto created = store_->create_conversation(n);
  ASSERT_TRUE(is_ok(created));
  EXPECT_TRUE(is_uuid(created->id)) << created->id;
  EXPECT_EQ(created->user_id, n.user_id);
  EXPECT_EQ(created->title, n.title);
  EXPECT_EQ(created->system_prompt, n.system_prompt);
  EXPECT_EQ(created->model, n.model);
  EXPECT_EQ(created->metadata, n.metadata);
  EXPECT_EQ(created->message_count, 0);
  EXPECT_EQ(created->created_at, clock_.now());
  EXPECT_EQ(created->updated_at, clock_.now());

  auto got = store_->get_conversation("user-1", created->id);
  ASSERT_TRUE(is_ok(got));
  expect_same(*got, *created);

  auto listed = store_->list_conversations("user-1", {});
  ASSERT_TRUE(is_ok(listed));
  ASSERT_EQ(listed->items.size(), 1u);
  expect_same(listed->items[0], *created);
}

TEST_P(StoreConformance, CreateWithOnlyAUserLeavesOptionalFieldsNull) {
  auto created = store_->create_conversation({.user_id = "user-1"});
  ASSERT_TRUE(is_ok(created));
  auto got = store_->get_conversation("user-1", created->id);
  ASSERT_TRUE(is_ok(got));
  EXPECT_EQ(got->title, std::nullopt);
  EXPECT_EQ(got->system_prompt, std::nullopt);
  EXPECT_EQ(got->model, std::nullopt);
  EXPECT_EQ(got->metadata, "{}");
  EXPECT_EQ(got->message_count, 0);
  expect_same(*got, *created);
}

TEST_P(StoreConformance, CreatedIdsAreDistinct) {
  std::set<std::string> ids;
  for (int i = 0; i < 20; ++i) ids.insert(create("user-1").id);
  EXPECT_EQ(ids.size(), 20u);
}

TEST_P(StoreConformance, UnknownConversationIsNotFound) {
  EXPECT_TRUE(is_not_found(store_->get_conversation("user-1", new_uuid_v7())));
  EXPECT_TRUE(is_not_found(store_->get_conversation("user-1", "not-a-uuid")));
  EXPECT_TRUE(is_not_found(store_->update_conversation("user-1", new_uuid_v7(), {.title = "x"})));
  EXPECT_TRUE(is_not_found(store_->delete_conversation("user-1", new_uuid_v7())));
  EXPECT_TRUE(is_not_found(
      store_->append_message("user-1", {.conversation_id = new_uuid_v7(), .content = "hi"})));
  EXPECT_TRUE(is_not_found(store_->list_messages("user-1", new_uuid_v7(), {})));
  EXPECT_TRUE(is_not_found(store_->recent_messages("user-1", new_uuid_v7(), 10)));
}

TEST_P(StoreConformance, AnotherUsersConversationBehavesAsMissing) {
  const Conversation mine = create("alice", "private");
  append("alice", mine.id, "secret");
  auto before = store_->get_conversation("alice", mine.id);
  ASSERT_TRUE(is_ok(before));
  clock_.advance(1s);

  EXPECT_TRUE(is_not_found(store_->get_conversation("bob", mine.id)));
  EXPECT_TRUE(is_not_found(store_->update_conversation("bob", mine.id, {.title = "mine now"})));
  EXPECT_TRUE(is_not_found(store_->update_conversation("bob", mine.id, {.clear_title = true})));
  EXPECT_TRUE(is_not_found(store_->delete_conversation("bob", mine.id)));
  EXPECT_TRUE(is_not_found(
      store_->append_message("bob", {.conversation_id = mine.id, .content = "injected"})));
  EXPECT_TRUE(is_not_found(store_->list_messages("bob", mine.id, {})));
  EXPECT_TRUE(is_not_found(store_->recent_messages("bob", mine.id, 10)));
  auto bobs = store_->list_conversations("bob", {});
  ASSERT_TRUE(is_ok(bobs));
  EXPECT_TRUE(bobs->items.empty());
  EXPECT_FALSE(bobs->next_cursor);

  // None of bob's attempts changed anything.
  auto after = store_->get_conversation("alice", mine.id);
  ASSERT_TRUE(is_ok(after));
  expect_same(*after, *before);
  auto messages = store_->list_messages("alice", mine.id, {});
  ASSERT_TRUE(is_ok(messages));
  ASSERT_EQ(messages->items.size(), 1u);
  EXPECT_EQ(messages->items[0].content, "secret");
}

TEST_P(StoreConformance, ListIsNewestActivityFirst) {
  const Conversation a = create("u", "a");
  clock_.advance(1s);
  const Conversation b = create("u", "b");
  clock_.advance(1s);
  const Conversation c = create("u", "c");
  EXPECT_EQ(ids_of(list_all("u", 20)), (std::vector{c.id, b.id, a.id}));

  // A new message moves its conversation to the front...
  clock_.advance(1s);
  const Message m = append("u", a.id, "hello again");
  auto all = list_all("u", 20);
  EXPECT_EQ(ids_of(all), (std::vector{a.id, c.id, b.id}));
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(all[0].updated_at, m.created_at);
  EXPECT_EQ(all[0].created_at, a.created_at);

  // ...and so does an edit.
  clock_.advance(1s);
  ASSERT_TRUE(is_ok(store_->update_conversation("u", b.id, {.title = "b2"})));
  EXPECT_EQ(ids_of(list_all("u", 20)), (std::vector{b.id, a.id, c.id}));
}

TEST_P(StoreConformance, EqualActivityTimesOrderNewestCreatedFirst) {
  // Same millisecond: the id (UUIDv7, creation order) breaks the tie.
  const Conversation a = create("u");
  const Conversation b = create("u");
  const Conversation c = create("u");
  EXPECT_EQ(ids_of(list_all("u", 20)), (std::vector{c.id, b.id, a.id}));
  EXPECT_EQ(ids_of(list_all("u", 1)), (std::vector{c.id, b.id, a.id}));
}

TEST_P(StoreConformance, UpdatedAtNeverMovesBackwards) {
  const Conversation a = create("u");
  clock_.advance(10s);
  const Conversation b = create("u");
  append("u", a.id, "first");  // a: updated at T+10s, same as b
  const TimePoint high = clock_.now();

  clock_.set(high - 1h);  // the clock steps back (NTP, a VM restore)
  const Message late = append("u", a.id, "second");
  EXPECT_EQ(late.created_at, high - 1h);  // the message keeps what the clock said
  auto got = store_->get_conversation("u", a.id);
  ASSERT_TRUE(is_ok(got));
  EXPECT_EQ(got->updated_at, high);
  EXPECT_EQ(got->message_count, 2);

  auto updated = store_->update_conversation("u", b.id, {.title = "renamed"});
  ASSERT_TRUE(is_ok(updated));
  EXPECT_EQ(updated->updated_at, high);
}

TEST_P(StoreConformance, PaginationVisitsEveryConversationExactlyOnce) {
  std::vector<Conversation> created;
  for (int i = 0; i < 53; ++i) {
    created.push_back(create("u", "c" + std::to_string(i)));
    if (i % 5 == 0) create("someone-else");  // interleaved, never listed
    if (i % 3 == 2) clock_.advance(1ms);     // groups of three share a timestamp
  }
  // Bump a few from the middle so activity order differs from creation order.
  for (int i : {7, 30, 12}) {
    clock_.advance(1ms);
    append("u", created[static_cast<std::size_t>(i)].id, "bump");
  }
  std::vector<Conversation> expected;
  for (int i : {12, 30, 7}) expected.push_back(created[static_cast<std::size_t>(i)]);
  for (int i = 52; i >= 0; --i)
    if (i != 7 && i != 30 && i != 12) expected.push_back(created[static_cast<std::size_t>(i)]);

  std::vector<std::size_t> sizes;
  std::vector<Conversation> seen;
  PageRequest req{.limit = 10};
  for (int pages = 0; pages < 20; ++pages) {
    auto page = store_->list_conversations("u", req);
    ASSERT_TRUE(is_ok(page));
    sizes.push_back(page->items.size());
    seen.insert(seen.end(), page->items.begin(), page->items.end());
    if (!page->next_cursor) break;
    req.cursor = page->next_cursor;
  }
  EXPECT_EQ(sizes, (std::vector<std::size_t>{10, 10, 10, 10, 10, 3}));
  EXPECT_EQ(ids_of(seen), ids_of(expected));
  const auto ids = ids_of(seen);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 53u);
}

TEST_P(StoreConformance, ListEndsWithoutAnEmptyPage) {
  auto empty = store_->list_conversations("u", {.limit = 10});
  ASSERT_TRUE(is_ok(empty));
  EXPECT_TRUE(empty->items.empty());
  EXPECT_FALSE(empty->next_cursor);

  for (int i = 0; i < 20; ++i) create("u");
  auto first = store_->list_conversations("u", {.limit = 10});
  ASSERT_TRUE(is_ok(first));
  EXPECT_EQ(first->items.size(), 10u);
  ASSERT_TRUE(first->next_cursor);
  auto second = store_->list_conversations("u", {.limit = 10, .cursor = first->next_cursor});
  ASSERT_TRUE(is_ok(second));
  EXPECT_EQ(second->items.size(), 10u);
  EXPECT_FALSE(second->next_cursor);  // exactly two full pages: no third, empty one
}

TEST_P(StoreConformance, InvalidCursorIsInvalidRequest) {
  const Conversation c = create("u");
  create("u");
  append("u", c.id, "one");
  append("u", c.id, "two");
  auto conv_page = store_->list_conversations("u", {.limit = 1});
  ASSERT_TRUE(is_ok(conv_page));
  ASSERT_TRUE(conv_page->next_cursor);
  auto msg_page = store_->list_messages("u", c.id, {.limit = 1});
  ASSERT_TRUE(is_ok(msg_page));
  ASSERT_TRUE(msg_page->next_cursor);
  const std::string conv_cursor = *conv_page->next_cursor;
  const std::string msg_cursor = *msg_page->next_cursor;

  // Malformed in any encoding: nothing, noise, a real cursor cut short or extended.
  const std::vector<std::string> bad{"", "garbage", "!!!", "null", std::string(1, '\0')};
  for (const auto& cursor : bad) {
    SCOPED_TRACE("cursor '" + cursor + "'");
    EXPECT_TRUE(
        is_invalid_cursor(store_->list_conversations("u", {.limit = 10, .cursor = cursor})));
    EXPECT_TRUE(
        is_invalid_cursor(store_->list_messages("u", c.id, {.limit = 10, .cursor = cursor})));
  }
  for (const auto& cursor :
       {conv_cursor.substr(0, conv_cursor.size() - 1), conv_cursor + "0", msg_cursor}) {
    SCOPED_TRACE("conversation cursor '" + cursor + "'");
    EXPECT_TRUE(
        is_invalid_cursor(store_->list_conversations("u", {.limit = 10, .cursor = cursor})));
  }
  for (const auto& cursor :
       {msg_cursor.substr(0, msg_cursor.size() - 1), msg_cursor + "0", conv_cursor}) {
    SCOPED_TRACE("message cursor '" + cursor + "'");
    EXPECT_TRUE(
        is_invalid_cursor(store_->list_messages("u", c.id, {.limit = 10, .cursor = cursor})));
  }
}

TEST_P(StoreConformance, PatchSetsOnlyTheGivenFieldsAndClearsOnRequest) {
  auto created = store_->create_conversation({.user_id = "u",
                                              .title = "title",
                                              .system_prompt = "prompt",
                                              .model = "model-a",
                                              .metadata = R"({"k":1})"});
  ASSERT_TRUE(is_ok(created));
  const std::string id = created->id;

  clock_.advance(1s);
  auto r1 = store_->update_conversation("u", id, {.title = "new title"});
  ASSERT_TRUE(is_ok(r1));
  EXPECT_EQ(r1->title, "new title");
  EXPECT_EQ(r1->system_prompt, "prompt");
  EXPECT_EQ(r1->model, "model-a");
  EXPECT_EQ(r1->metadata, R"({"k":1})");
  EXPECT_EQ(r1->created_at, created->created_at);
  EXPECT_EQ(r1->updated_at, clock_.now());
  EXPECT_EQ(r1->user_id, "u");
  auto got1 = store_->get_conversation("u", id);
  ASSERT_TRUE(is_ok(got1));
  expect_same(*got1, *r1);

  clock_.advance(1s);
  auto r2 = store_->update_conversation(
      "u", id, {.model = "model-b", .metadata = R"({"k":2})", .clear_system_prompt = true});
  ASSERT_TRUE(is_ok(r2));
  EXPECT_EQ(r2->title, "new title");
  EXPECT_EQ(r2->system_prompt, std::nullopt);
  EXPECT_EQ(r2->model, "model-b");
  EXPECT_EQ(r2->metadata, R"({"k":2})");
  EXPECT_EQ(r2->updated_at, clock_.now());

  auto r3 = store_->update_conversation("u", id, {.clear_title = true, .clear_model = true});
  ASSERT_TRUE(is_ok(r3));
  EXPECT_EQ(r3->title, std::nullopt);
  EXPECT_EQ(r3->system_prompt, std::nullopt);
  EXPECT_EQ(r3->model, std::nullopt);
  EXPECT_EQ(r3->metadata, R"({"k":2})");
  auto got3 = store_->get_conversation("u", id);
  ASSERT_TRUE(is_ok(got3));
  expect_same(*got3, *r3);

  // A cleared field can be set again.
  auto r4 = store_->update_conversation("u", id, {.system_prompt = "back"});
  ASSERT_TRUE(is_ok(r4));
  EXPECT_EQ(r4->system_prompt, "back");
  EXPECT_EQ(r4->message_count, 0);
}

TEST_P(StoreConformance, DeleteRemovesTheConversationAndItsMessages) {
  const Conversation gone = create("u", "gone");
  const Conversation kept = create("u", "kept");
  for (int i = 0; i < 3; ++i) append("u", gone.id, "g" + std::to_string(i));
  for (int i = 0; i < 2; ++i) append("u", kept.id, "k" + std::to_string(i));

  ASSERT_TRUE(is_ok(store_->delete_conversation("u", gone.id)));

  EXPECT_TRUE(is_not_found(store_->get_conversation("u", gone.id)));
  EXPECT_TRUE(is_not_found(store_->list_messages("u", gone.id, {})));
  EXPECT_TRUE(is_not_found(store_->recent_messages("u", gone.id, 10)));
  EXPECT_TRUE(
      is_not_found(store_->append_message("u", {.conversation_id = gone.id, .content = "late"})));
  EXPECT_TRUE(is_not_found(store_->update_conversation("u", gone.id, {.title = "x"})));
  EXPECT_TRUE(is_not_found(store_->delete_conversation("u", gone.id)));  // only once
  EXPECT_EQ(ids_of(list_all("u", 10)), (std::vector{kept.id}));

  auto kept_messages = store_->list_messages("u", kept.id, {});
  ASSERT_TRUE(is_ok(kept_messages));
  EXPECT_EQ(kept_messages->items.size(), 2u);

  // A second store on the same database agrees (nothing was only cached in the first).
  auto other = open_store();
  EXPECT_TRUE(is_not_found(other->get_conversation("u", gone.id)));
  EXPECT_TRUE(is_ok(other->get_conversation("u", kept.id)));
}

TEST_P(StoreConformance, MessageCountFollowsAppends) {
  const Conversation c = create("u");
  const Conversation other = create("u");
  for (int i = 1; i <= 5; ++i) {
    append("u", c.id, std::to_string(i), i % 2 ? Role::user : Role::assistant);
    auto got = store_->get_conversation("u", c.id);
    ASSERT_TRUE(is_ok(got));
    EXPECT_EQ(got->message_count, i);
  }
  for (const auto& conv : list_all("u", 10))
    EXPECT_EQ(conv.message_count, conv.id == c.id ? 5 : 0) << conv.id;
  auto untouched = store_->get_conversation("u", other.id);
  ASSERT_TRUE(is_ok(untouched));
  EXPECT_EQ(untouched->message_count, 0);
}

// --- Messages ------------------------------------------------------------------------------------

TEST_P(StoreConformance, MessageWithEveryFieldSetRoundTrips) {
  const Conversation c = create("u");
  clock_.advance(5s);
  const NewMessage n{
      .conversation_id = c.id,
      .role = Role::assistant,
      .content = "Partial answer…",
      .status = MessageStatus::interrupted,
      .model = "claude-3-5-haiku",
      .input_tokens = 1234,
      .output_tokens = 56,
      .cost_micros = 7890,
      .latency_ms = 321,
      .metadata = R"({"usageEstimated":true})",
  };
  auto m = store_->append_message("u", n);
  ASSERT_TRUE(is_ok(m));
  EXPECT_TRUE(is_uuid(m->id)) << m->id;
  EXPECT_EQ(m->conversation_id, c.id);
  EXPECT_EQ(m->role, Role::assistant);
  EXPECT_EQ(m->content, n.content);
  EXPECT_EQ(m->status, MessageStatus::interrupted);
  EXPECT_EQ(m->model, n.model);
  EXPECT_EQ(m->input_tokens, 1234);
  EXPECT_EQ(m->output_tokens, 56);
  EXPECT_EQ(m->cost_micros, 7890);
  EXPECT_EQ(m->latency_ms, 321);
  EXPECT_EQ(m->metadata, n.metadata);
  EXPECT_EQ(m->created_at, clock_.now());

  auto listed = store_->list_messages("u", c.id, {});
  ASSERT_TRUE(is_ok(listed));
  ASSERT_EQ(listed->items.size(), 1u);
  expect_same(listed->items[0], *m);
  auto recent = store_->recent_messages("u", c.id, 5);
  ASSERT_TRUE(is_ok(recent));
  ASSERT_EQ(recent->size(), 1u);
  expect_same((*recent)[0], *m);
}

// Structured content (issue 11): images beside text, an answer's tool calls, a tool's result.
TEST_P(StoreConformance, StructuredMessagesRoundTrip) {
  const Conversation c = create("u");
  NewMessage question{.conversation_id = c.id, .role = Role::user, .content = "What is in this picture?"};
  question.parts = {{domain::ContentPart::Kind::text, "What is in this picture?", "", ""},
                    {domain::ContentPart::Kind::image, "", "data:image/png;base64,iVBORw0KGgo=", "low"},
                    {domain::ContentPart::Kind::image, "", "https://example.com/cat.jpg", ""}};
  auto q = store_->append_message("u", question);
  ASSERT_TRUE(is_ok(q));
  EXPECT_EQ(q->parts.size(), 3u);

  NewMessage call{.conversation_id = c.id, .role = Role::assistant, .content = ""};
  call.tool_calls = {{"call_1", "create_todo", R"({"title":"buy \"milk\"","due":null})"},
                     {"call_2", "list_todos", "not json, kept as written"}};
  auto a = store_->append_message("u", call);
  ASSERT_TRUE(is_ok(a));
  NewMessage result{.conversation_id = c.id, .role = Role::tool, .content = R"({"id":7})"};
  result.tool_call_id = "call_1";
  auto r = store_->append_message("u", result);
  ASSERT_TRUE(is_ok(r));
  EXPECT_EQ(r->role, Role::tool);

  auto listed = store_->list_messages("u", c.id, {});
  ASSERT_TRUE(is_ok(listed));
  ASSERT_EQ(listed->items.size(), 3u);
  expect_same(listed->items[0], *q);
  expect_same(listed->items[1], *a);
  expect_same(listed->items[2], *r);
  EXPECT_EQ(listed->items[0].parts[1].image_url, "data:image/png;base64,iVBORw0KGgo=");
  EXPECT_EQ(listed->items[0].parts[1].detail, "low");
  EXPECT_EQ(listed->items[1].tool_calls[0].arguments, R"({"title":"buy \"milk\"","due":null})");
  EXPECT_EQ(listed->items[2].tool_call_id, "call_1");
  auto recent = store_->recent_messages("u", c.id, 5);
  ASSERT_TRUE(is_ok(recent));
  ASSERT_EQ(recent->size(), 3u);
  expect_same((*recent)[1], *a);

  // A streamed answer that ends in tool calls keeps them.
  auto placeholder = store_->append_message(
      "u", {.conversation_id = c.id, .role = Role::assistant, .content = "", .status = MessageStatus::streaming});
  ASSERT_TRUE(is_ok(placeholder));
  MessageUpdate done;
  done.content = "";
  done.tool_calls = {{"call_3", "complete_todo", R"({"id":7})"}};
  auto updated = store_->update_message("u", placeholder->id, done);
  ASSERT_TRUE(is_ok(updated));
  ASSERT_EQ(updated->tool_calls.size(), 1u);
  EXPECT_EQ(updated->tool_calls[0].name, "complete_todo");
  auto again = store_->get_message("u", placeholder->id);
  ASSERT_TRUE(is_ok(again));
  expect_same(*again, *updated);
}

TEST_P(StoreConformance, MessageWithOptionalFieldsNullRoundTrips) {
  const Conversation c = create("u");
  auto m = store_->append_message("u", {.conversation_id = c.id, .content = "hi"});
  ASSERT_TRUE(is_ok(m));
  auto listed = store_->list_messages("u", c.id, {});
  ASSERT_TRUE(is_ok(listed));
  ASSERT_EQ(listed->items.size(), 1u);
  const Message& got = listed->items[0];
  expect_same(got, *m);
  EXPECT_EQ(got.role, Role::user);
  EXPECT_EQ(got.status, MessageStatus::complete);
  EXPECT_EQ(got.model, std::nullopt);
  EXPECT_EQ(got.input_tokens, std::nullopt);
  EXPECT_EQ(got.output_tokens, std::nullopt);
  EXPECT_EQ(got.cost_micros, std::nullopt);
  EXPECT_EQ(got.latency_ms, std::nullopt);
  EXPECT_EQ(got.metadata, "{}");
}

TEST_P(StoreConformance, ZeroIsStoredAsZeroNotNull) {
  const Conversation c = create("u");
  auto m = store_->append_message("u", {.conversation_id = c.id,
                                        .role = Role::assistant,
                                        .content = "",
                                        .status = MessageStatus::error,
                                        .input_tokens = 0,
                                        .output_tokens = 0,
                                        .cost_micros = 0,
                                        .latency_ms = 0});
  ASSERT_TRUE(is_ok(m));
  auto listed = store_->list_messages("u", c.id, {});
  ASSERT_TRUE(is_ok(listed));
  ASSERT_EQ(listed->items.size(), 1u);
  const Message& got = listed->items[0];
  EXPECT_EQ(got.content, "");
  EXPECT_EQ(got.status, MessageStatus::error);
  EXPECT_EQ(got.input_tokens, 0);
  EXPECT_EQ(got.output_tokens, 0);
  EXPECT_EQ(got.cost_micros, 0);
  EXPECT_EQ(got.latency_ms, 0);
}

TEST_P(StoreConformance, EveryRoleAndStatusRoundTrips) {
  const Conversation c = create("u");
  std::vector<std::pair<Role, MessageStatus>> sent;
  for (Role r : {Role::system, Role::user, Role::assistant})
    for (MessageStatus s :
         {MessageStatus::complete, MessageStatus::streaming, MessageStatus::interrupted,
          MessageStatus::error}) {
      ASSERT_TRUE(is_ok(store_->append_message(
          "u", {.conversation_id = c.id, .role = r, .content = "x", .status = s})));
      sent.emplace_back(r, s);
    }
  auto listed = store_->list_messages("u", c.id, {.limit = 100});
  ASSERT_TRUE(is_ok(listed));
  ASSERT_EQ(listed->items.size(), sent.size());
  for (std::size_t i = 0; i < sent.size(); ++i) {
    EXPECT_EQ(listed->items[i].role, sent[i].first) << i;
    EXPECT_EQ(listed->items[i].status, sent[i].second) << i;
  }
}

TEST_P(StoreConformance, UpdateMessageWritesTheOutcomeOverThePlaceholder) {
  const Conversation c = create("u");
  auto placeholder = store_->append_message(
      "u", {.conversation_id = c.id, .role = Role::assistant, .status = MessageStatus::streaming,
            .model = "mock"});
  ASSERT_TRUE(is_ok(placeholder));
  clock_.advance(std::chrono::seconds(5));
  auto updated = store_->update_message(
      "u", placeholder->id,
      {.content = "partial answer", .status = MessageStatus::interrupted, .input_tokens = 12,
       .output_tokens = 3, .cost_micros = 7, .latency_ms = 900,
       .metadata = R"({"usageEstimated":true})"});
  ASSERT_TRUE(is_ok(updated));
  EXPECT_EQ(updated->id, placeholder->id);
  EXPECT_EQ(updated->content, "partial answer");
  EXPECT_EQ(updated->status, MessageStatus::interrupted);
  EXPECT_EQ(updated->model, "mock");
  EXPECT_EQ(updated->input_tokens, 12);
  EXPECT_EQ(updated->output_tokens, 3);
  EXPECT_EQ(updated->cost_micros, 7);
  EXPECT_EQ(updated->latency_ms, 900);
  EXPECT_EQ(updated->created_at, placeholder->created_at);
  auto conv = store_->get_conversation("u", c.id);
  ASSERT_TRUE(is_ok(conv));
  EXPECT_EQ(conv->updated_at, clock_.now());
  EXPECT_EQ(conv->message_count, 1);
  const auto listed = list_all_messages("u", c.id, 10);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].content, "partial answer");
}

// An agent step: its outcome over the placeholder (with its ledger row), its tool results and the
// next answer's placeholder, in one transaction: all of it, or (a result that cannot be appended)
// nothing, the placeholder untouched.
TEST_P(StoreConformance, UpdateMessageAndAppendWritesTheStepAndWhatFollowsInOneTransaction) {
  const Conversation c = create("u");
  auto placeholder = store_->append_message(
      "u", {.conversation_id = c.id, .role = Role::assistant, .status = MessageStatus::streaming, .model = "mock"});
  ASSERT_TRUE(is_ok(placeholder));
  MessageUpdate step{.content = "", .status = MessageStatus::complete, .input_tokens = 10, .output_tokens = 4};
  step.tool_calls = {{"call_1", "list_todos", "{}"}};
  step.usage = UsageRecord{.user_id = "u", .conversation_id = c.id, .model = "mock", .input_tokens = 10, .output_tokens = 4};
  const std::vector<NewMessage> following{
      {.conversation_id = c.id, .role = Role::tool, .content = R"({"items":[]})", .tool_call_id = "call_1"},
      {.conversation_id = c.id, .role = Role::assistant, .status = MessageStatus::streaming, .model = "mock"}};

  // Refused whole: the user's placeholder is not written over when what follows cannot be stored.
  std::vector<NewMessage> bad = following;
  bad[1].conversation_id = "01234567-89ab-7cde-8f01-23456789abcd";
  auto refused = store_->update_message_and_append("u", placeholder->id, step, bad);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, errc::not_found);
  EXPECT_EQ(list_all_messages("u", c.id, 10).size(), 1u);
  EXPECT_EQ(store_->get_message("u", placeholder->id)->status, MessageStatus::streaming);
  EXPECT_EQ(store_->update_message_and_append("other", placeholder->id, step, following).error().code, errc::not_found);

  auto written = store_->update_message_and_append("u", placeholder->id, step, following);
  ASSERT_TRUE(is_ok(written));
  ASSERT_EQ(written->size(), 3u);
  EXPECT_EQ((*written)[0].id, placeholder->id);
  EXPECT_EQ((*written)[0].status, MessageStatus::complete);
  ASSERT_EQ((*written)[0].tool_calls.size(), 1u);
  EXPECT_EQ((*written)[1].tool_call_id, "call_1");
  EXPECT_EQ((*written)[1].parent_id, placeholder->id);
  EXPECT_EQ((*written)[2].parent_id, (*written)[1].id);
  const auto listed = list_all_messages("u", c.id, 10);
  ASSERT_EQ(listed.size(), 3u);
  EXPECT_EQ(listed[2].status, MessageStatus::streaming);
  EXPECT_EQ(store_->get_conversation("u", c.id)->message_count, 3);
  // The step's ledger row went in with it.
  UsageQuery q;
  q.from_day = q.to_day = utc_day(clock_.now());
  q.user_id = "u";
  auto report = store_->usage_report(q);
  ASSERT_TRUE(is_ok(report));
  EXPECT_EQ(report->totals.requests, 1);
  EXPECT_EQ(report->totals.input_tokens, 10);
}

TEST_P(StoreConformance, UpdateMessageOfAnotherUserIsNotFound) {
  const Conversation c = create("u");
  const Message m = append("u", c.id, "mine", Role::assistant);
  auto r = store_->update_message("other", m.id, {.content = "hijacked"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::not_found);
  EXPECT_EQ(store_->update_message("u", "01234567-89ab-7cde-8f01-23456789abcd", {}).error().code,
            errc::not_found);
  EXPECT_EQ(list_all_messages("u", c.id, 10).at(0).content, "mine");
}

TEST_P(StoreConformance, InterruptStreamingMessagesMarksOnlyThoseInFlight) {
  const Conversation c = create("u");
  for (MessageStatus s : {MessageStatus::streaming, MessageStatus::complete, MessageStatus::streaming,
                          MessageStatus::error})
    ASSERT_TRUE(is_ok(store_->append_message(
        "u", {.conversation_id = c.id, .role = Role::assistant, .content = "x", .status = s})));
  auto marked = store_->interrupt_streaming_messages();
  ASSERT_TRUE(is_ok(marked));
  EXPECT_EQ(*marked, 2);
  const auto listed = list_all_messages("u", c.id, 10);
  ASSERT_EQ(listed.size(), 4u);
  EXPECT_EQ(listed[0].status, MessageStatus::interrupted);
  EXPECT_EQ(listed[1].status, MessageStatus::complete);
  EXPECT_EQ(listed[2].status, MessageStatus::interrupted);
  EXPECT_EQ(listed[3].status, MessageStatus::error);
  EXPECT_EQ(*store_->interrupt_streaming_messages(), 0);
}

// A turn's user message and its answer's placeholder go in together or not at all.
TEST_P(StoreConformance, AppendMessagesWritesAllInOrderOrNothing) {
  const Conversation c = create("u");
  auto both = store_->append_messages(
      "u", {{.conversation_id = c.id, .role = Role::user, .content = "q"},
            {.conversation_id = c.id, .role = Role::assistant, .content = "", .status = MessageStatus::streaming}});
  ASSERT_TRUE(is_ok(both));
  ASSERT_EQ(both->size(), 2u);
  EXPECT_EQ((*both)[1].parent_id, (*both)[0].id);
  auto refused = store_->append_messages(
      "u", {{.conversation_id = c.id, .role = Role::user, .content = "q2"},
            {.conversation_id = "01234567-89ab-7cde-8f01-23456789abcd", .role = Role::assistant}});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, errc::not_found);
  EXPECT_EQ(list_all_messages("u", c.id, 10).size(), 2u);  // the first of the refused pair rolled back
}

// A turn's first writes (its conversation, a replaced message off the branch, the question and
// the answer's placeholder) go in together or not at all.
TEST_P(StoreConformance, StartTurnWritesConversationAndMessagesInOneTransaction) {
  TurnStart fresh;
  fresh.create = NewConversation{.user_id = "u", .title = "first"};
  fresh.messages = {{.role = Role::user, .content = "q"},
                    {.role = Role::assistant, .content = "", .status = MessageStatus::streaming}};
  auto started = store_->start_turn("u", fresh);
  ASSERT_TRUE(is_ok(started));
  EXPECT_EQ(started->conversation.title, "first");
  ASSERT_EQ(started->messages.size(), 2u);
  EXPECT_EQ(started->messages[0].conversation_id, started->conversation.id);
  EXPECT_EQ(started->messages[1].parent_id, started->messages[0].id);
  const std::string id = started->conversation.id;
  EXPECT_EQ(store_->get_conversation("u", id)->message_count, 2);

  // A new version of the question: the old one and its answer leave the branch, the title moves.
  TurnStart again;
  again.conversation_id = id;
  again.patch = ConversationPatch{.title = "second"};
  again.deactivate_from = started->messages[0].id;
  again.messages = {{.role = Role::user, .content = "q2"}};
  auto edited = store_->start_turn("u", again);
  ASSERT_TRUE(is_ok(edited));
  EXPECT_EQ(edited->conversation.title, "second");
  EXPECT_EQ(edited->messages[0].parent_id, std::nullopt);
  auto recent = store_->recent_messages("u", id, 10);
  ASSERT_TRUE(is_ok(recent));
  ASSERT_EQ(recent->size(), 1u);
  EXPECT_EQ((*recent)[0].content, "q2");

  // Another user's conversation: not found, and nothing of the turn is written.
  TurnStart foreign = again;
  foreign.deactivate_from.reset();
  foreign.patch = ConversationPatch{.title = "stolen"};
  EXPECT_TRUE(is_not_found(store_->start_turn("intruder", foreign)));
  // A new conversation whose turn fails half way (the message it replaces does not exist): the
  // conversation is not left behind.
  TurnStart broken;
  broken.create = NewConversation{.user_id = "u", .title = "never"};
  broken.deactivate_from = "01234567-89ab-7cde-8f01-23456789abcd";
  broken.messages = {{.role = Role::user, .content = "lost"}};
  EXPECT_FALSE(store_->start_turn("u", broken));
  EXPECT_EQ(list_all("u", 10).size(), 1u);
  EXPECT_EQ(store_->get_conversation("u", id)->title, "second");
}

// Group commit: writes from many threads at once share transactions, yet each gets its own
// outcome. Writes that fail (another user's conversation) fail alone: the writes committed in
// the same batch are all there, and nothing of the failed ones is.
TEST_P(StoreConformance, ConcurrentWritesEachGetTheirOwnOutcome) {
  const Conversation mine = create("u");
  const Conversation theirs = create("other");
  constexpr int kThreads = 8, kEach = 25;
  std::vector<std::thread> threads;
  std::vector<int> ok(kThreads, 0), refused(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        const bool foreign = (i % 5) == 4;  // every fifth write is to a conversation not "u"'s
        auto r = store_->append_message(
            "u", {.conversation_id = foreign ? theirs.id : mine.id, .role = Role::user,
                  .content = std::to_string(t) + ":" + std::to_string(i)});
        if (r) ++ok[t];
        else if (r.error().code == errc::not_found) ++refused[t];
        UsageRecord row{.user_id = "u", .kind = "gateway", .model = "m", .input_tokens = 1, .output_tokens = 2,
                        .cost_micros = 3};
        EXPECT_TRUE(is_ok(store_->record_usage(row)));
      }
    });
  }
  for (auto& th : threads) th.join();
  int total_ok = 0, total_refused = 0;
  for (int t = 0; t < kThreads; ++t) {
    total_ok += ok[t];
    total_refused += refused[t];
  }
  EXPECT_EQ(total_ok, kThreads * kEach * 4 / 5);
  EXPECT_EQ(total_refused, kThreads * kEach / 5);
  const auto stored = list_all_messages("u", mine.id, 100);
  EXPECT_EQ(stored.size(), static_cast<std::size_t>(total_ok));
  EXPECT_EQ(store_->get_conversation("u", mine.id)->message_count, total_ok);
  EXPECT_EQ(list_all_messages("other", theirs.id, 100).size(), 0u);
  // Every message follows the one before it on the branch (ids issued in commit order).
  for (std::size_t i = 1; i < stored.size(); ++i) EXPECT_EQ(stored[i].parent_id, stored[i - 1].id);
  const std::string today = utc_day(clock_.now());
  UsageQuery q;
  q.from_day = today;
  q.to_day = today;
  auto report = store_->usage_report(q);
  ASSERT_TRUE(is_ok(report));
  EXPECT_EQ(report->totals.requests, kThreads * kEach);
  EXPECT_EQ(report->totals.cost_micros, 3 * kThreads * kEach);
}

// A checkpoint saves a streaming answer's progress, never an answer already recorded, and the
// restart's recovery bills what the last checkpoint saved.
TEST_P(StoreConformance, CheckpointsAndRecoveryBillWhatWasSaved) {
  const Conversation c = create("u");
  auto ph = store_->append_message("u", {.conversation_id = c.id, .role = Role::assistant, .content = "",
                                         .status = MessageStatus::streaming, .model = "gpt"});
  ASSERT_TRUE(is_ok(ph));
  EXPECT_EQ(store_->checkpoint_message("other", ph->id, "stolen", 1, 1, 1).value(), false);
  EXPECT_EQ(store_->checkpoint_message("u", ph->id, "partial ans", 40, 3, 70).value(), true);
  auto done = store_->append_message("u", {.conversation_id = c.id, .role = Role::assistant, .content = "",
                                           .status = MessageStatus::streaming, .model = "gpt"});
  ASSERT_TRUE(is_ok(done));
  ASSERT_TRUE(is_ok(store_->update_message("u", done->id, {.content = "final", .status = MessageStatus::complete})));
  EXPECT_EQ(store_->checkpoint_message("u", done->id, "late", 1, 1, 1).value(), false);

  EXPECT_EQ(store_->interrupt_streaming_messages().value(), 1);
  const auto listed = list_all_messages("u", c.id, 10);
  EXPECT_EQ(listed[0].content, "partial ans");
  EXPECT_EQ(listed[0].status, MessageStatus::interrupted);
  EXPECT_EQ(listed[1].content, "final");
  const std::string today = utc_day(clock_.now());
  UsageQuery q;
  q.from_day = today;
  q.to_day = today;
  auto r = store_->usage_report(q);
  ASSERT_TRUE(is_ok(r));
  EXPECT_EQ(r->totals.requests, 1);
  EXPECT_EQ(r->totals.input_tokens, 40);
  EXPECT_EQ(r->totals.output_tokens, 3);
  EXPECT_EQ(r->totals.cost_micros, 70);
  EXPECT_EQ(r->totals.estimated_requests, 1);
}

TEST_P(StoreConformance, LargeAndUnicodeContentRoundTrips) {
  const Conversation c = create("u");
  std::string big;
  while (big.size() < 256 * 1024) big += "Zeile mit Umlauten äöü, 漢字, emoji 🚀, quote ' \" \\ \n";
  append("u", c.id, big, Role::assistant);
  auto recent = store_->recent_messages("u", c.id, 1);
  ASSERT_TRUE(is_ok(recent));
  ASSERT_EQ(recent->size(), 1u);
  EXPECT_EQ((*recent)[0].content, big);
}

TEST_P(StoreConformance, ListMessagesIsOldestFirstAcrossPages) {
  const Conversation c = create("u");
  const Conversation other = create("u");
  std::vector<Message> sent;
  for (int i = 0; i < 25; ++i) {
    sent.push_back(
        append("u", c.id, "m" + std::to_string(i), i % 2 ? Role::assistant : Role::user));
    if (i % 4 == 0) append("u", other.id, "elsewhere");
    if (i % 3 == 0) clock_.advance(1ms);  // some share a millisecond
  }
  std::vector<std::size_t> sizes;
  std::vector<Message> seen;
  PageRequest req{.limit = 10};
  for (int pages = 0; pages < 10; ++pages) {
    auto page = store_->list_messages("u", c.id, req);
    ASSERT_TRUE(is_ok(page));
    sizes.push_back(page->items.size());
    seen.insert(seen.end(), page->items.begin(), page->items.end());
    if (!page->next_cursor) break;
    req.cursor = page->next_cursor;
  }
  EXPECT_EQ(sizes, (std::vector<std::size_t>{10, 10, 5}));
  ASSERT_EQ(seen.size(), sent.size());
  for (std::size_t i = 0; i < sent.size(); ++i) expect_same(seen[i], sent[i]);
}

TEST_P(StoreConformance, RecentMessagesAreTheLastNOldestFirst) {
  const Conversation c = create("u");
  const Conversation empty = create("u");
  std::vector<std::string> sent;
  for (int i = 0; i < 7; ++i) sent.push_back(append("u", c.id, "m" + std::to_string(i)).id);

  auto last3 = store_->recent_messages("u", c.id, 3);
  ASSERT_TRUE(is_ok(last3));
  EXPECT_EQ(ids_of(*last3), (std::vector{sent[4], sent[5], sent[6]}));

  auto all = store_->recent_messages("u", c.id, 100);
  ASSERT_TRUE(is_ok(all));
  EXPECT_EQ(ids_of(*all), sent);

  auto none = store_->recent_messages("u", c.id, 0);
  ASSERT_TRUE(is_ok(none));
  EXPECT_TRUE(none->empty());

  auto nothing_yet = store_->recent_messages("u", empty.id, 10);
  ASSERT_TRUE(is_ok(nothing_yet));
  EXPECT_TRUE(nothing_yet->empty());
}

// --- Durability and sharing ----------------------------------------------------------------------

TEST_P(StoreConformance, DataPersistsAfterClosingAndReopening) {
  auto conv = store_->create_conversation(
      {.user_id = "u", .title = "persist", .model = "m", .metadata = R"({"a":true})"});
  ASSERT_TRUE(is_ok(conv));
  clock_.advance(1s);
  const Message m1 = append("u", conv->id, "question");
  const Message m2 = append("u", conv->id, "answer", Role::assistant);
  auto before = store_->get_conversation("u", conv->id);
  ASSERT_TRUE(is_ok(before));

  store_.reset();
  store_ = open_store();

  auto v = store_->schema_version();
  ASSERT_TRUE(is_ok(v));
  EXPECT_EQ(*v, store_->latest_schema_version());
  auto after = store_->get_conversation("u", conv->id);
  ASSERT_TRUE(is_ok(after));
  expect_same(*after, *before);
  auto messages = list_all_messages("u", conv->id, 10);
  ASSERT_EQ(messages.size(), 2u);
  expect_same(messages[0], m1);
  expect_same(messages[1], m2);
}

TEST_P(StoreConformance, TwoStoresOnOneDatabaseSeeEachOthersWrites) {
  auto other = open_store();
  const Conversation c = create("u", "shared");
  auto seen = other->get_conversation("u", c.id);
  ASSERT_TRUE(is_ok(seen));
  EXPECT_EQ(seen->title, "shared");

  ASSERT_TRUE(is_ok(other->append_message("u", {.conversation_id = c.id, .content = "from B"})));
  auto back = store_->list_messages("u", c.id, {});
  ASSERT_TRUE(is_ok(back));
  ASSERT_EQ(back->items.size(), 1u);
  EXPECT_EQ(back->items[0].content, "from B");
}

// --- Concurrency ---------------------------------------------------------------------------------

TEST_P(StoreConformance, ConcurrentAppendsToOneConversationAllLand) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 50;
  const Conversation c = create("u");

  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        // "t<thread>-<nnn>": zero-padded so per-thread order is also text order.
        char content[32];
        std::snprintf(content, sizeof content, "t%d-%03d", t, i);
        auto m = store_->append_message("u", {.conversation_id = c.id, .content = content});
        if (!m) {
          ADD_FAILURE() << describe(m);
          ++failures;
        }
        // Reads interleaved with the writes, as a chat turn does.
        if (i % 5 == 0) {
          auto got = store_->get_conversation("u", c.id);
          auto recent = store_->recent_messages("u", c.id, 10);
          if (!got || !recent) ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(failures.load(), 0);

  auto got = store_->get_conversation("u", c.id);
  ASSERT_TRUE(is_ok(got));
  EXPECT_EQ(got->message_count, kThreads * kPerThread);

  const auto all = list_all_messages("u", c.id, 100);
  ASSERT_EQ(all.size(), static_cast<std::size_t>(kThreads * kPerThread));
  std::set<std::string> ids;
  std::vector<std::vector<std::string>> per_thread(kThreads);
  for (const auto& m : all) {
    ids.insert(m.id);
    per_thread[static_cast<std::size_t>(m.content[1] - '0')].push_back(m.content);
  }
  EXPECT_EQ(ids.size(), all.size());
  // Each thread's messages come back in the order that thread wrote them.
  for (const auto& contents : per_thread) {
    EXPECT_EQ(contents.size(), static_cast<std::size_t>(kPerThread));
    EXPECT_TRUE(std::is_sorted(contents.begin(), contents.end()));
  }
}

TEST_P(StoreConformance, ConcurrentUsersKeepTheirOwnConversations) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 10;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string user = "user-" + std::to_string(t);
      for (int i = 0; i < kPerThread; ++i) {
        auto c = store_->create_conversation({.user_id = user});
        EXPECT_TRUE(is_ok(c));
        if (!c) continue;
        EXPECT_TRUE(
            is_ok(store_->append_message(user, {.conversation_id = c->id, .content = "x"})));
        EXPECT_TRUE(is_ok(store_->list_conversations(user, {.limit = 5})));
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    const auto mine = list_all("user-" + std::to_string(t), 3);
    EXPECT_EQ(mine.size(), static_cast<std::size_t>(kPerThread));
    for (const auto& c : mine) {
      EXPECT_EQ(c.user_id, "user-" + std::to_string(t));
      EXPECT_EQ(c.message_count, 1);
    }
  }
}

}  // namespace aas::store::testing

// --- Accounting: ledger, daily rollup, limit overrides --------------------------------------------

namespace aas::store::testing {
namespace {

UsageRecord usage_of(const std::string& user, const std::string& model, std::int64_t in,
                     std::int64_t out, std::optional<std::int64_t> cost) {
  UsageRecord r;
  r.user_id = user;
  r.model = model;
  r.deployment = "openai/" + model + "#1";
  r.provider = "openai";
  r.input_tokens = in;
  r.output_tokens = out;
  r.cost_micros = cost;
  r.latency_ms = 12;
  r.request_id = "req";
  return r;
}

}  // namespace

TEST_P(StoreConformance, UsageWrittenWithAMessageIsInTheRollup) {
  const Conversation c = create("u");
  NewMessage m;
  m.conversation_id = c.id;
  m.role = Role::assistant;
  m.content = "answer";
  m.usage = usage_of("u", "gpt", 100, 20, 7);
  m.usage->cached_input_tokens = 40;
  m.usage->reasoning_tokens = 5;
  ASSERT_TRUE(is_ok(store_->append_message("u", m)));

  // A streamed answer: the ledger row comes with the update of its placeholder.
  NewMessage ph;
  ph.conversation_id = c.id;
  ph.role = Role::assistant;
  ph.status = MessageStatus::streaming;
  auto placeholder = store_->append_message("u", ph);
  ASSERT_TRUE(is_ok(placeholder));
  MessageUpdate up;
  up.status = MessageStatus::interrupted;
  up.usage = usage_of("u", "gpt", 50, 3, std::nullopt);  // unpriced
  up.usage->estimated = true;
  up.usage->status = "interrupted";
  ASSERT_TRUE(is_ok(store_->update_message("u", placeholder->id, up)));

  const std::string today = utc_day(clock_.now());
  UsageQuery q;
  q.from_day = today;
  q.to_day = today;
  auto r = store_->usage_report(q);
  ASSERT_TRUE(is_ok(r));
  EXPECT_EQ(r->totals.requests, 2);
  EXPECT_EQ(r->totals.input_tokens, 150);
  EXPECT_EQ(r->totals.output_tokens, 23);
  EXPECT_EQ(r->totals.cached_input_tokens, 40);
  EXPECT_EQ(r->totals.reasoning_tokens, 5);
  EXPECT_EQ(r->totals.cost_micros, 7);
  EXPECT_EQ(r->totals.unpriced_requests, 1);
  EXPECT_EQ(r->totals.estimated_requests, 1);
  EXPECT_TRUE(r->rows.empty());
}

TEST_P(StoreConformance, UsageReportGroupsFiltersOrdersAndPages) {
  // Day 1: alice 2 calls of gpt, bob 1 of claude; day 2: carol 1 expensive call.
  ASSERT_TRUE(is_ok(store_->record_usage(usage_of("alice", "gpt", 10, 1, 100))));
  ASSERT_TRUE(is_ok(store_->record_usage(usage_of("alice", "gpt", 10, 1, 100))));
  ASSERT_TRUE(is_ok(store_->record_usage(usage_of("bob", "claude", 5, 5, 50))));
  const std::string day1 = utc_day(clock_.now());
  clock_.advance(std::chrono::hours(24));
  ASSERT_TRUE(is_ok(store_->record_usage(usage_of("carol", "claude", 1, 1, 1000))));
  const std::string day2 = utc_day(clock_.now());
  ASSERT_LT(day1, day2);

  UsageQuery q;
  q.from_day = day1;
  q.to_day = day2;
  q.group = UsageGroup::user;
  q.by_cost = true;
  q.limit = 2;
  auto page1 = store_->usage_report(q);
  ASSERT_TRUE(is_ok(page1));
  EXPECT_EQ(page1->totals.requests, 4);
  EXPECT_EQ(page1->totals.cost_micros, 1250);
  ASSERT_EQ(page1->rows.size(), 2u);
  EXPECT_EQ(page1->rows[0].key, "carol");
  EXPECT_EQ(page1->rows[1].key, "alice");
  EXPECT_EQ(page1->rows[1].totals.requests, 2);
  EXPECT_TRUE(page1->more);
  q.offset = 2;
  auto page2 = store_->usage_report(q);
  ASSERT_TRUE(is_ok(page2));
  ASSERT_EQ(page2->rows.size(), 1u);
  EXPECT_EQ(page2->rows[0].key, "bob");
  EXPECT_FALSE(page2->more);

  q = {};
  q.from_day = day1;
  q.to_day = day2;
  q.group = UsageGroup::day;
  auto days = store_->usage_report(q);
  ASSERT_TRUE(is_ok(days));
  ASSERT_EQ(days->rows.size(), 2u);
  EXPECT_EQ(days->rows[0].key, day1);
  EXPECT_EQ(days->rows[0].totals.requests, 3);

  q.group = UsageGroup::model;
  q.model = "claude";
  auto claude = store_->usage_report(q);
  ASSERT_TRUE(is_ok(claude));
  EXPECT_EQ(claude->totals.requests, 2);
  ASSERT_EQ(claude->rows.size(), 1u);

  q = {};
  q.from_day = day2;
  q.to_day = day2;
  q.user_id = "alice";
  auto none = store_->usage_report(q);
  ASSERT_TRUE(is_ok(none));
  EXPECT_EQ(none->totals.requests, 0);
  EXPECT_EQ(none->totals.cost_micros, 0);
}

// Reports read three rollups (by day/user/model, by day/model, by month/user) and a by-user ranking
// adds and takes away months and days (store/detail/usage_rollup.hpp). Whatever they read, every
// report equals the sums of the ledger rows themselves: computed here from the calls recorded, over
// ranges whose ends sit on UTC month and year boundaries (a leap February included), calls at the
// first and last millisecond of a UTC day, and "today" both after all the calls and amid them.
TEST_P(StoreConformance, UsageReportsEqualSumsOfTheLedgerAcrossMonthBoundaries) {
  using std::chrono::sys_days;
  using namespace std::chrono;
  struct Call {
    std::string day;
    UsageRecord r;
  };
  std::vector<Call> calls;
  const std::vector<std::string> users = {"ann", "bob", "cy", "dee"};
  const std::vector<std::string> models = {"gpt", "claude", "free"};
  std::uint32_t seed = 7;
  const auto next = [&seed](std::uint32_t n) {
    seed = seed * 1664525u + 1013904223u;
    return (seed >> 8) % n;
  };
  const sys_days first = sys_days{2027y / December / 27};
  const sys_days last = sys_days{2028y / March / 2};
  for (sys_days d = first; d <= last; d += days{1}) {
    // Some days have no calls; the first and last milliseconds of a day belong to it.
    const int n = static_cast<int>(next(4));
    for (int i = 0; i < n; ++i) {
      const std::int64_t ms = i == 0 ? 0 : i == 1 ? 86'399'999 : next(86'400'000);
      clock_.set(TimePoint(d) + milliseconds(ms));
      const std::string& model = models[next(3)];
      UsageRecord r = usage_of(users[next(4)], model, 1 + next(1000), next(300),
                               model == "free" ? std::nullopt : std::optional<std::int64_t>(1 + next(5000)));
      r.cached_input_tokens = next(50);
      r.cache_write_tokens = next(3) == 0 ? next(20) : 0;
      r.reasoning_tokens = next(40);
      r.estimated = next(5) == 0;
      ASSERT_TRUE(is_ok(store_->record_usage(r)));
      calls.push_back({utc_day(clock_.now()), r});
    }
  }
  ASSERT_GT(calls.size(), 60u);

  const auto show = [](const UsageTotals& t) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "req %lld in %lld out %lld cached %lld cw %lld reason %lld cost %lld unpriced %lld est %lld",
                  static_cast<long long>(t.requests), static_cast<long long>(t.input_tokens),
                  static_cast<long long>(t.output_tokens), static_cast<long long>(t.cached_input_tokens),
                  static_cast<long long>(t.cache_write_tokens), static_cast<long long>(t.reasoning_tokens),
                  static_cast<long long>(t.cost_micros), static_cast<long long>(t.unpriced_requests),
                  static_cast<long long>(t.estimated_requests));
    return std::string(buf);
  };
  const auto add = [](UsageTotals& t, const UsageRecord& r) {
    t.requests += 1;
    t.input_tokens += r.input_tokens;
    t.output_tokens += r.output_tokens;
    t.cached_input_tokens += r.cached_input_tokens;
    t.cache_write_tokens += r.cache_write_tokens;
    t.reasoning_tokens += r.reasoning_tokens;
    t.cost_micros += r.cost_micros.value_or(0);
    t.unpriced_requests += r.cost_micros ? 0 : 1;
    t.estimated_requests += r.estimated ? 1 : 0;
  };
  // The report the ledger itself gives: every group of the range (no paging).
  const auto expected = [&](const UsageQuery& q) {
    UsageReport out;
    std::map<std::string, UsageTotals> groups;
    for (const Call& c : calls) {
      if (c.day < q.from_day || c.day > q.to_day) continue;
      if (q.user_id && c.r.user_id != *q.user_id) continue;
      if (q.model && c.r.model != *q.model) continue;
      add(out.totals, c.r);
      if (q.group == UsageGroup::none) continue;
      add(groups[q.group == UsageGroup::user ? c.r.user_id : q.group == UsageGroup::model ? c.r.model : c.day], c.r);
    }
    for (auto& [k, t] : groups) out.rows.push_back({k, t});
    if (q.by_cost)
      std::stable_sort(out.rows.begin(), out.rows.end(),
                       [](const UsageRow& a, const UsageRow& b) { return a.totals.cost_micros > b.totals.cost_micros; });
    return out;
  };
  const auto check = [&](const UsageQuery& q, const std::string& what) {
    SCOPED_TRACE(what + " " + q.from_day + ".." + q.to_day);
    const UsageReport want = expected(q);
    auto got = store_->usage_report(q);
    ASSERT_TRUE(is_ok(got));
    EXPECT_EQ(show(got->totals), show(want.totals));
    EXPECT_FALSE(got->more);
    ASSERT_EQ(got->rows.size(), want.rows.size());
    for (std::size_t i = 0; i < want.rows.size(); ++i) {
      EXPECT_EQ(got->rows[i].key, want.rows[i].key);
      EXPECT_EQ(show(got->rows[i].totals), show(want.rows[i].totals)) << want.rows[i].key;
    }
  };

  const std::vector<sys_days> ends = {
      first,
      sys_days{2027y / December / 31},
      sys_days{2028y / January / 1},
      sys_days{2028y / January / 2},
      sys_days{2028y / January / 16},
      sys_days{2028y / January / 31},
      sys_days{2028y / February / 1},
      sys_days{2028y / February / 28},
      sys_days{2028y / February / 29},
      sys_days{2028y / March / 1},
      last};
  // "Today" after every call, then amid them (calls after today: the rollups must still sum exactly).
  for (const sys_days today : {last, sys_days{2028y / February / 10}}) {
    clock_.set(TimePoint(today) + hours(12));
    for (std::size_t i = 0; i < ends.size(); ++i) {
      for (std::size_t j = i; j < ends.size(); ++j) {
        UsageQuery q;
        q.from_day = utc_day(TimePoint(ends[i]));
        q.to_day = utc_day(TimePoint(ends[j]));
        q.limit = 100;
        check(q, "totals");
        for (const UsageGroup g : {UsageGroup::day, UsageGroup::model, UsageGroup::user}) {
          q.group = g;
          check(q, "grouped");
        }
        q.by_cost = true;
        check(q, "by user, by cost");
        q.model = "claude";
        check(q, "by user, one model");
        q.group = UsageGroup::day;
        q.by_cost = false;
        check(q, "by day, one model");
        q.model.reset();
        q.user_id = "bob";
        q.group = UsageGroup::model;
        check(q, "by model, one user");
      }
    }
  }

  // Pages of the widest ranking, by cost: the same rows as the whole list, in order.
  UsageQuery q;
  q.from_day = utc_day(TimePoint(first));
  q.to_day = utc_day(TimePoint(last));
  q.group = UsageGroup::user;
  q.by_cost = true;
  const UsageReport all = expected(q);
  ASSERT_EQ(all.rows.size(), users.size());
  q.limit = 3;
  auto page1 = store_->usage_report(q);
  ASSERT_TRUE(is_ok(page1));
  ASSERT_EQ(page1->rows.size(), 3u);
  EXPECT_TRUE(page1->more);
  q.offset = 3;
  auto page2 = store_->usage_report(q);
  ASSERT_TRUE(is_ok(page2));
  ASSERT_EQ(page2->rows.size(), 1u);
  EXPECT_FALSE(page2->more);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(page1->rows[i].key, all.rows[i].key);
  EXPECT_EQ(page2->rows[0].key, all.rows[3].key);
  EXPECT_EQ(show(page2->totals), show(all.totals));  // totals over every group, on each page
  q.offset = 4;
  auto past = store_->usage_report(q);
  ASSERT_TRUE(is_ok(past));
  EXPECT_TRUE(past->rows.empty());
  EXPECT_EQ(show(past->totals), show(all.totals));
}

TEST_P(StoreConformance, SpentMicrosSumsAUsersPricedCallsFromADay) {
  ASSERT_TRUE(is_ok(store_->record_usage(usage_of("u", "gpt", 1, 1, 300))));
  ASSERT_TRUE(is_ok(store_->record_usage(usage_of("other", "gpt", 1, 1, 999))));
  const std::string day1 = utc_day(clock_.now());
  clock_.advance(std::chrono::hours(24));
  ASSERT_TRUE(is_ok(store_->record_usage(usage_of("u", "gpt", 1, 1, 40))));
  ASSERT_TRUE(is_ok(store_->record_usage(usage_of("u", "free", 1, 1, std::nullopt))));
  const std::string day2 = utc_day(clock_.now());
  EXPECT_EQ(store_->spent_micros("u", day1).value(), 340);
  EXPECT_EQ(store_->spent_micros("u", day2).value(), 40);
  EXPECT_EQ(store_->spent_micros("nobody", day1).value(), 0);
}

TEST_P(StoreConformance, LimitOverridesPutGetReplaceDelete) {
  auto none = store_->get_limit_override("u");
  ASSERT_TRUE(is_ok(none));
  EXPECT_FALSE(*none);
  LimitOverride o;
  o.user_id = "u";
  o.requests_per_minute = 5;
  o.daily_budget_micros = 1'000'000;
  auto saved = store_->put_limit_override(o);
  ASSERT_TRUE(is_ok(saved));
  EXPECT_EQ(saved->requests_per_minute, 5);
  EXPECT_FALSE(saved->tokens_per_minute);
  EXPECT_EQ(saved->updated_at, clock_.now());
  o.requests_per_minute.reset();
  o.tokens_per_minute = 1000;
  ASSERT_TRUE(is_ok(store_->put_limit_override(o)));
  auto got = store_->get_limit_override("u");
  ASSERT_TRUE(is_ok(got));
  ASSERT_TRUE(*got);
  EXPECT_FALSE((*got)->requests_per_minute) << "a put replaces the whole override";
  EXPECT_EQ((*got)->tokens_per_minute, 1000);
  EXPECT_EQ((*got)->daily_budget_micros, 1'000'000);
  ASSERT_TRUE(is_ok(store_->delete_limit_override("u")));
  EXPECT_FALSE(store_->get_limit_override("u").value().has_value());
  auto again = store_->delete_limit_override("u");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, errc::not_found);
}

// What a `_then` write handed its `done`, waited for here (a test's thread may block; `done` may not).
template <class T, class Start>
Result<T> handed(Start start) {
  std::promise<Result<T>> got;
  start([&got](Result<T> r) { got.set_value(std::move(r)); });
  return got.get_future().get();
}

// The `_then` writes (issue 16: queued for the group commit, the caller not waiting): each
// hands its own outcome to its `done`, writes of other users and models batched together still
// add up in the usage rollup (PostgreSQL sums a batch's rollup rows before writing them), and
// an answer to another user's message fails alone, leaving nothing of itself behind.
TEST_P(StoreConformance, QueuedTurnWritesEachGetTheirOwnOutcome) {
  constexpr int kThreads = 8, kEach = 10;
  const Conversation theirs = create("other");
  auto their_answer = store_->append_message("other", {.conversation_id = theirs.id, .role = Role::assistant,
                                                       .content = "", .status = MessageStatus::streaming});
  ASSERT_TRUE(is_ok(their_answer));
  std::atomic<int> answered = 0, refused = 0, gateway = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string user = "u" + std::to_string(t % 2);
      const std::string model = t % 3 == 0 ? "claude" : "gpt";
      for (int i = 0; i < kEach; ++i) {
        TurnStart turn;
        turn.create = NewConversation{.user_id = user};
        turn.messages = {{.role = Role::user, .content = "q" + std::to_string(i)},
                         {.role = Role::assistant, .content = "", .status = MessageStatus::streaming, .model = model}};
        auto started = handed<TurnStarted>([&](auto done) { store_->start_turn_then(user, turn, done); });
        ASSERT_TRUE(is_ok(started));
        ASSERT_EQ(started->messages.size(), 2u);
        EXPECT_EQ(started->messages[1].parent_id, started->messages[0].id);
        const bool foreign = i % 5 == 4;  // every fifth answer is written over another user's message
        MessageUpdate answer{.content = "a" + std::to_string(i), .status = MessageStatus::complete};
        answer.usage = usage_of(user, model, 10, 2, i % 2 ? std::optional<std::int64_t>(7) : std::nullopt);
        answer.usage->estimated = i % 3 == 0;
        const std::string target = foreign ? their_answer->id : started->messages[1].id;
        auto updated = handed<Message>([&](auto done) { store_->update_message_then(user, target, answer, done); });
        if (foreign) {
          EXPECT_TRUE(has_error(updated, errc::not_found, "message not found"));
          ++refused;
          continue;
        }
        ASSERT_TRUE(is_ok(updated));
        EXPECT_EQ(updated->content, answer.content);
        EXPECT_EQ(updated->id, started->messages[1].id);
        ++answered;
        auto row = handed<void>([&](auto done) { store_->record_usage_then(usage_of(user, model, 1, 1, 3), done); });
        EXPECT_TRUE(is_ok(row));
        ++gateway;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(refused, kThreads * kEach / 5);
  EXPECT_EQ(store_->get_message("other", their_answer->id)->status, MessageStatus::streaming);
  // What the rollup must hold, counted the way the writes above chose their values.
  UsageTotals want;
  for (int t = 0; t < kThreads; ++t)
    for (int i = 0; i < kEach; ++i) {
      if (i % 5 == 4) continue;
      want.requests += 2;
      want.input_tokens += 11;
      want.output_tokens += 3;
      want.cost_micros += 3 + (i % 2 ? 7 : 0);
      want.unpriced_requests += i % 2 ? 0 : 1;
      want.estimated_requests += i % 3 == 0 ? 1 : 0;
    }
  const std::string today = utc_day(clock_.now());
  UsageQuery q;
  q.from_day = today;
  q.to_day = today;
  q.group = UsageGroup::user;
  auto report = store_->usage_report(q);
  ASSERT_TRUE(is_ok(report));
  EXPECT_EQ(report->totals.requests, want.requests);
  EXPECT_EQ(report->totals.input_tokens, want.input_tokens);
  EXPECT_EQ(report->totals.output_tokens, want.output_tokens);
  EXPECT_EQ(report->totals.cost_micros, want.cost_micros);
  EXPECT_EQ(report->totals.unpriced_requests, want.unpriced_requests);
  EXPECT_EQ(report->totals.estimated_requests, want.estimated_requests);
  ASSERT_EQ(report->rows.size(), 2u);  // u0 and u1, each half of it
  EXPECT_EQ(report->rows[0].totals.requests, want.requests / 2);
  EXPECT_EQ(report->rows[1].totals.requests, want.requests / 2);
  UsageQuery by_model = q;
  by_model.group = UsageGroup::model;
  auto models = store_->usage_report(by_model);
  ASSERT_TRUE(is_ok(models));
  EXPECT_EQ(models->totals.requests, want.requests);
  std::int64_t per_model = 0;
  for (const UsageRow& r : models->rows) per_model += r.totals.requests;
  EXPECT_EQ(per_model, want.requests);
  EXPECT_EQ(answered + refused, kThreads * kEach);
  EXPECT_EQ(gateway, answered.load());
}

}  // namespace aas::store::testing

// --- Organising and finding conversations ---------------------------------------------------------

namespace aas::store::testing {

TEST_P(StoreConformance, PinArchiveAndTagsArePatchedAndFiltered) {
  const Conversation a = create("u", std::string("alpha"));
  const Conversation b = create("u", std::string("beta"));
  const Conversation c = create("u", std::string("gamma"));
  EXPECT_FALSE(a.pinned);
  EXPECT_FALSE(a.archived);
  EXPECT_TRUE(a.tags.empty());

  ConversationPatch pin;
  pin.pinned = true;
  pin.tags = std::vector<std::string>{"work", "q4 plans"};
  auto pinned = store_->update_conversation("u", a.id, pin);
  ASSERT_TRUE(is_ok(pinned));
  EXPECT_TRUE(pinned->pinned);
  EXPECT_EQ(pinned->tags, (std::vector<std::string>{"work", "q4 plans"}));
  EXPECT_EQ(pinned->title, std::optional<std::string>("alpha")) << "other fields untouched";
  ConversationPatch archive;
  archive.archived = true;
  archive.tags = std::vector<std::string>{"work"};
  ASSERT_TRUE(is_ok(store_->update_conversation("u", b.id, archive)));
  ConversationPatch other_tag;
  other_tag.tags = std::vector<std::string>{"working"};
  ASSERT_TRUE(is_ok(store_->update_conversation("u", c.id, other_tag)));

  const auto ids = [&](const ConversationFilter& f) {
    auto page = store_->list_conversations("u", {100, std::nullopt}, f);
    EXPECT_TRUE(is_ok(page));
    std::set<std::string> out;
    for (const Conversation& x : page->items) out.insert(x.id);
    return out;
  };
  ConversationFilter f;  // default: not archived
  EXPECT_EQ(ids(f), (std::set<std::string>{a.id, c.id}));
  f.archived = true;
  EXPECT_EQ(ids(f), (std::set<std::string>{b.id}));
  f.archived.reset();
  EXPECT_EQ(ids(f), (std::set<std::string>{a.id, b.id, c.id}));
  f.tag = "work";
  EXPECT_EQ(ids(f), (std::set<std::string>{a.id, b.id})) << "whole tags only: 'working' is not 'work'";
  f.tag.reset();
  f.pinned = true;
  EXPECT_EQ(ids(f), (std::set<std::string>{a.id}));
  auto got = store_->get_conversation("u", a.id);
  ASSERT_TRUE(is_ok(got));
  EXPECT_EQ(got->tags, (std::vector<std::string>{"work", "q4 plans"}));
  ConversationPatch untag;
  untag.tags = std::vector<std::string>{};
  untag.pinned = false;
  auto cleared = store_->update_conversation("u", a.id, untag);
  ASSERT_TRUE(is_ok(cleared));
  EXPECT_TRUE(cleared->tags.empty());
  EXPECT_FALSE(cleared->pinned);
}

TEST_P(StoreConformance, SearchFindsWordsInTitlesAndMessagesOfTheUserOnly) {
  const Conversation trip = create("u", std::string("Holiday planning"));
  append("u", trip.id, "Book the ferry to Naxos in June");
  append("u", trip.id, "The ferry leaves at nine", Role::assistant);
  const Conversation code = create("u", std::string("Refactoring"));
  append("u", code.id, "Split the parser into modules");
  const Conversation theirs = create("other", std::string("Naxos too"));
  append("other", theirs.id, "ferry ferry ferry");

  const auto found = [&](const std::string& user, const std::string& q) {
    ConversationFilter f;
    f.query = q;
    auto page = store_->list_conversations(user, {100, std::nullopt}, f);
    EXPECT_TRUE(is_ok(page)) << q;
    std::vector<std::string> out;
    for (const Conversation& x : page->items) out.push_back(x.id);
    return out;
  };
  EXPECT_EQ(found("u", "ferry"), std::vector<std::string>{trip.id}) << "a word in a message";
  EXPECT_EQ(found("u", "FERRY naxos"), std::vector<std::string>{trip.id}) << "case-insensitive, all words";
  EXPECT_EQ(found("u", "holiday"), std::vector<std::string>{trip.id}) << "a word in the title";
  EXPECT_EQ(found("u", "parser"), std::vector<std::string>{code.id});
  EXPECT_TRUE(found("u", "ferry parser").empty()) << "every word must occur in one place";
  EXPECT_TRUE(found("u", "submarine").empty());
  EXPECT_TRUE(found("u", "ferr").empty()) << "whole words";
  EXPECT_EQ(found("other", "ferry"), std::vector<std::string>{theirs.id}) << "never another user's";
  // Operators and quotes in the text are words, not syntax.
  EXPECT_TRUE(found("u", "\"ferry\" OR NOT -naxos*").empty());
  EXPECT_EQ(found("u", "  ferry  "), std::vector<std::string>{trip.id});

  // The index follows edits and deletions.
  ConversationPatch rename;
  rename.title = "Vacation";
  ASSERT_TRUE(is_ok(store_->update_conversation("u", trip.id, rename)));
  EXPECT_TRUE(found("u", "holiday").empty());
  EXPECT_EQ(found("u", "vacation"), std::vector<std::string>{trip.id});
  ASSERT_TRUE(is_ok(store_->delete_conversation("u", trip.id)));
  EXPECT_TRUE(found("u", "ferry").empty());
}

// PostgreSQL cannot keep a NUL in text (it used to cut the text there), SQLite can: both stores
// turn it into U+FFFD, so text that reaches a store past the edge's check (a model's answer)
// reads back whole and the same from either.
TEST_P(StoreConformance, TextWithNulReadsBackTheSameOnEveryStore) {
  const std::string nul("before\0after", 12);
  const Conversation c = create("u", nul);
  const Message m = append("u", c.id, nul, Role::assistant);
  auto got = store_->get_conversation("u", c.id);
  ASSERT_TRUE(is_ok(got));
  EXPECT_EQ(got->title, "before\xEF\xBF\xBD" "after");
  const auto messages = list_all_messages("u", c.id, 10);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].id, m.id);
  EXPECT_EQ(messages[0].content, "before\xEF\xBF\xBD" "after");

  ConversationFilter f;
  f.query = nul;  // refused at the edge; here it must still be no error
  auto page = store_->list_conversations("u", {100, std::nullopt}, f);
  ASSERT_TRUE(is_ok(page));
}

TEST_P(StoreConformance, SearchTakesFtsSyntaxAsWords) {
  const Conversation hit = create("u", std::string("gamma NEAR delta AND epsilon (draft) col:x"));
  create("u", std::string("unrelated"));
  const auto found = [&](const std::string& q) {
    ConversationFilter f;
    f.query = q;
    auto page = store_->list_conversations("u", {100, std::nullopt}, f);
    EXPECT_TRUE(is_ok(page)) << q;
    std::vector<std::string> out;
    if (is_ok(page))
      for (const Conversation& x : page->items) out.push_back(x.id);
    return out;
  };
  for (const char* q : {"\"", "\"\"", "\"gamma", "*", "gam*", "NEAR(gamma delta)", "gamma AND", "AND", "OR", "NOT",
                        "-gamma", "title:gamma", "col:x", "(", ")", "(draft", "^gamma", "'", "\\", "{title}: gamma",
                        "+", "gamma:*", "!gamma", "gamma & delta", "gamma | x", "<->"})
    found(q);
  EXPECT_EQ(found("(draft)"), std::vector<std::string>{hit.id});
  EXPECT_EQ(found("NEAR"), std::vector<std::string>{hit.id});
  EXPECT_EQ(found("gamma AND epsilon"), std::vector<std::string>{hit.id});
  EXPECT_TRUE(found("gamma OR unrelated").empty());
}

TEST_P(StoreConformance, SearchResultsPageWithTheCursor) {
  std::vector<std::string> sent;
  for (int i = 0; i < 7; ++i) {
    const Conversation c = create("u", "chat " + std::to_string(i));
    append("u", c.id, "the keyword appears here");
    sent.push_back(c.id);
    clock_.advance(std::chrono::milliseconds(5));
  }
  create("u", std::string("no match"));
  ConversationFilter f;
  f.query = "keyword";
  PageRequest req{3, std::nullopt};
  std::vector<std::string> seen;
  for (int guard = 0; guard < 10; ++guard) {
    auto page = store_->list_conversations("u", req, f);
    ASSERT_TRUE(is_ok(page));
    for (const Conversation& c : page->items) seen.push_back(c.id);
    if (!page->next_cursor) break;
    req.cursor = page->next_cursor;
  }
  std::reverse(sent.begin(), sent.end());  // newest activity first
  EXPECT_EQ(seen, sent);
}

}  // namespace aas::store::testing

// --- Prompt library -------------------------------------------------------------------------------

namespace aas::store::testing {

TEST_P(StoreConformance, PromptsAreOwnOrGlobalAndConversationsReferToThem) {
  auto mine = store_->create_prompt({std::string("u"), "Pirate", "Talk like a pirate to {{user.name}}."});
  ASSERT_TRUE(is_ok(mine));
  EXPECT_EQ(mine->owner_user_id, std::optional<std::string>("u"));
  EXPECT_EQ(mine->created_at, clock_.now());
  auto global = store_->create_prompt({std::nullopt, "Concise", "Answer in one sentence."});
  ASSERT_TRUE(is_ok(global));
  auto theirs = store_->create_prompt({std::string("other"), "Secret", "x"});
  ASSERT_TRUE(is_ok(theirs));

  EXPECT_TRUE(is_ok(store_->get_prompt("u", mine->id)));
  EXPECT_TRUE(is_ok(store_->get_prompt("u", global->id)));
  EXPECT_TRUE(has_error(store_->get_prompt("u", theirs->id), errc::not_found, "prompt not found"));
  auto page = store_->list_prompts("u", {1, std::nullopt});
  ASSERT_TRUE(is_ok(page));
  ASSERT_EQ(page->items.size(), 1u);
  ASSERT_TRUE(page->next_cursor);
  auto rest = store_->list_prompts("u", {10, page->next_cursor});
  ASSERT_TRUE(is_ok(rest));
  ASSERT_EQ(rest->items.size(), 1u);
  EXPECT_EQ((std::set<std::string>{page->items[0].id, rest->items[0].id}),
            (std::set<std::string>{mine->id, global->id}));

  // Only the owner changes a prompt; a global one only through the global path (nullopt owner).
  EXPECT_TRUE(has_error(store_->update_prompt(std::string("other"), mine->id, {std::string("x"), {}}),
                        errc::not_found, "prompt not found"));
  EXPECT_TRUE(has_error(store_->update_prompt(std::string("u"), global->id, {std::string("x"), {}}),
                        errc::not_found, "prompt not found"));
  clock_.advance(std::chrono::milliseconds(10));
  auto renamed = store_->update_prompt(std::string("u"), mine->id, {std::string("Pirate v2"), std::nullopt});
  ASSERT_TRUE(is_ok(renamed));
  EXPECT_EQ(renamed->name, "Pirate v2");
  EXPECT_EQ(renamed->content, mine->content);
  EXPECT_GT(renamed->updated_at, renamed->created_at);
  EXPECT_TRUE(is_ok(store_->update_prompt(std::nullopt, global->id, {std::nullopt, std::string("Be brief.")})));

  // A conversation uses its user's prompt or a global one, never another user's.
  NewConversation nc;
  nc.user_id = "u";
  nc.prompt_id = mine->id;
  auto conv = store_->create_conversation(nc);
  ASSERT_TRUE(is_ok(conv));
  EXPECT_EQ(conv->prompt_id, mine->id);
  nc.prompt_id = theirs->id;
  EXPECT_TRUE(has_error(store_->create_conversation(nc), errc::not_found, "prompt not found"));
  ConversationPatch to_global;
  to_global.prompt_id = global->id;
  auto switched = store_->update_conversation("u", conv->id, to_global);
  ASSERT_TRUE(is_ok(switched));
  EXPECT_EQ(switched->prompt_id, global->id);
  ConversationPatch to_theirs;
  to_theirs.prompt_id = theirs->id;
  EXPECT_TRUE(has_error(store_->update_conversation("u", conv->id, to_theirs), errc::not_found, "prompt not found"));

  // Deleting a prompt clears it from the conversations that used it.
  EXPECT_TRUE(has_error(store_->delete_prompt(std::string("u"), global->id), errc::not_found, "prompt not found"));
  ASSERT_TRUE(is_ok(store_->delete_prompt(std::nullopt, global->id)));
  auto after_delete = store_->get_conversation("u", conv->id);
  ASSERT_TRUE(is_ok(after_delete));
  EXPECT_FALSE(after_delete->prompt_id);
  ConversationPatch clear;
  clear.clear_prompt_id = true;
  EXPECT_TRUE(is_ok(store_->update_conversation("u", conv->id, clear)));
}

}  // namespace aas::store::testing

// --- Summaries and service-made titles ------------------------------------------------------------

namespace aas::store::testing {

TEST_P(StoreConformance, SummariesAndAutomaticTitles) {
  NewConversation nc;
  nc.user_id = "u";
  nc.title = "first line";
  nc.title_auto = true;
  auto conv = store_->create_conversation(nc);
  ASSERT_TRUE(is_ok(conv));
  EXPECT_TRUE(conv->title_auto);
  EXPECT_FALSE(conv->summary);
  const Message m = append("u", conv->id, "hello");
  const TimePoint before = store_->get_conversation("u", conv->id)->updated_at;

  clock_.advance(std::chrono::milliseconds(5));
  ASSERT_TRUE(is_ok(store_->set_summary("u", conv->id, "They said hello.", m.id)));
  auto got = store_->get_conversation("u", conv->id);
  ASSERT_TRUE(is_ok(got));
  EXPECT_EQ(got->summary, std::optional<std::string>("They said hello."));
  EXPECT_EQ(got->summary_through, std::optional<std::string>(m.id));
  EXPECT_EQ(got->updated_at, before) << "a summary is not activity";
  EXPECT_TRUE(has_error(store_->set_summary("other", conv->id, "x", m.id), errc::not_found, "conversation not found"));

  ConversationPatch generated;
  generated.title = "A model's title";
  generated.title_auto = true;
  EXPECT_TRUE(store_->update_conversation("u", conv->id, generated)->title_auto);
  ConversationPatch by_user;
  by_user.title = "Mine";
  auto mine = store_->update_conversation("u", conv->id, by_user);
  ASSERT_TRUE(is_ok(mine));
  EXPECT_FALSE(mine->title_auto) << "a user's title is final";
  ConversationPatch pin;
  pin.pinned = true;
  EXPECT_FALSE(store_->update_conversation("u", conv->id, pin)->title_auto) << "other patches leave it";
}

}  // namespace aas::store::testing

// --- Message versions -----------------------------------------------------------------------------

namespace aas::store::testing {

TEST_P(StoreConformance, VersionsBranchFromADeactivatedMessage) {
  const Conversation c = create("u");
  const Message q = append("u", c.id, "question");
  const Message a1 = append("u", c.id, "answer one", Role::assistant);
  EXPECT_FALSE(q.parent_id);
  EXPECT_EQ(a1.parent_id, q.id);

  // Regenerate: the answer leaves the branch; the new one follows the same question.
  auto off = store_->deactivate_from("u", a1.id);
  ASSERT_TRUE(is_ok(off));
  EXPECT_EQ(*off, 1);
  const Message a2 = append("u", c.id, "answer two", Role::assistant);
  EXPECT_EQ(a2.parent_id, q.id);
  auto page = store_->list_messages("u", c.id, {10, std::nullopt});
  ASSERT_TRUE(is_ok(page));
  ASSERT_EQ(page->items.size(), 2u);
  EXPECT_EQ(page->items[1].id, a2.id);
  EXPECT_EQ(page->items[1].version_count, 2);
  EXPECT_EQ(page->items[0].version_count, 1);
  auto recent = store_->recent_messages("u", c.id, 10);
  ASSERT_TRUE(is_ok(recent));
  EXPECT_EQ(recent->size(), 2u) << "the context is the active branch";

  auto versions = store_->message_versions("u", a2.id);
  ASSERT_TRUE(is_ok(versions));
  ASSERT_EQ(versions->size(), 2u);
  EXPECT_EQ((*versions)[0].id, a1.id);
  EXPECT_FALSE((*versions)[0].active);
  EXPECT_TRUE((*versions)[1].active);

  // Edit the question: it and everything after leave the branch.
  auto edit = store_->deactivate_from("u", q.id);
  ASSERT_TRUE(is_ok(edit));
  EXPECT_EQ(*edit, 2);
  const Message q2 = append("u", c.id, "better question");
  EXPECT_FALSE(q2.parent_id);
  EXPECT_EQ(store_->message_versions("u", q2.id)->size(), 2u);
  EXPECT_EQ(store_->list_messages("u", c.id, {10, std::nullopt})->items.size(), 1u);

  EXPECT_TRUE(has_error(store_->deactivate_from("u", a1.id), errc::not_found, "message not found"))
      << "only active messages";
  EXPECT_TRUE(has_error(store_->deactivate_from("other", q2.id), errc::not_found, "message not found"));
  EXPECT_TRUE(has_error(store_->get_message("other", q2.id), errc::not_found, "message not found"));
  EXPECT_TRUE(is_ok(store_->get_message("u", a1.id)));
}

}  // namespace aas::store::testing
