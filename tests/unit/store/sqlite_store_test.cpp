#include "store/sqlite/sqlite_store.hpp"

#include "core/ids.hpp"
#include "store/migrations/sqlite.hpp"
#include "knowledge_conformance.hpp"
#include "store/sqlite/knowledge_store.hpp"
#include "store_conformance.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace aas::store::sqlite {
namespace {

namespace fs = std::filesystem;
using testing::FakeClock;
using testing::StoreBackend;
using testing::StoreConformance;
using testing::StoreFactory;

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it when destroyed.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/aas-store-XXXXXX";
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

StoreFactory fresh_sqlite_database() {
  auto dir = std::make_shared<TempDir>();
  return [dir](const Clock& clock) {
    return open_sqlite_store((dir->path() / "aas.db").string(), clock);
  };
}

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance,
                         ::testing::Values(StoreBackend{"sqlite", fresh_sqlite_database}),
                         testing::backend_name);

// --- SQLite specifics: what the conformance suite cannot see through the Store interface ---------

// A second, raw connection to the file, to look at what the store really wrote.
class RawDb {
 public:
  explicit RawDb(const fs::path& file) {
    if (sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK)
      throw std::runtime_error("cannot open " + file.string());
    sqlite3_busy_timeout(db_, 5000);
  }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;
  ~RawDb() { sqlite3_close(db_); }

  // The first column of the first row, as text ("" when there is no row).
  std::string scalar(const std::string& sql, const std::string& param = {}) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK)
      throw std::runtime_error(sqlite3_errmsg(db_));
    if (!param.empty()) sqlite3_bind_text(st, 1, param.c_str(), -1, SQLITE_TRANSIENT);
    std::string out;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
      out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
  }
  // EXPLAIN QUERY PLAN's details: they name the index used, and "USE TEMP B-TREE" means a sort.
  std::string query_plan(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, ("EXPLAIN QUERY PLAN " + sql).c_str(), -1, &st, nullptr) !=
        SQLITE_OK)
      return std::string("prepare failed: ") + sqlite3_errmsg(db_);
    std::string out;
    while (sqlite3_step(st) == SQLITE_ROW)
      out += std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 3))) + "; ";
    sqlite3_finalize(st);
    return out;
  }
  // The VDBE program of a statement, one opcode per entry.
  std::vector<std::string> opcodes(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    std::vector<std::string> out;
    if (sqlite3_prepare_v2(db_, ("EXPLAIN " + sql).c_str(), -1, &st, nullptr) != SQLITE_OK)
      return {std::string("prepare failed: ") + sqlite3_errmsg(db_)};
    while (sqlite3_step(st) == SQLITE_ROW) out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 1)));
    sqlite3_finalize(st);
    return out;
  }
  int exec(const std::string& sql) {
    return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  }

 private:
  sqlite3* db_ = nullptr;
};

class SqliteStoreTest : public ::testing::Test {
 protected:
  fs::path file() const { return dir_.path() / "aas.db"; }
  std::unique_ptr<Store> open_migrated() {
    auto s = open_sqlite_store(file().string(), clock_);
    auto v = s->migrate();
    EXPECT_TRUE(v.has_value());
    return s;
  }

  TempDir dir_;
  FakeClock clock_;
};

TEST_F(SqliteStoreTest, OpenCreatesParentDirectoriesButDoesNotMigrate) {
  const fs::path nested = dir_.path() / "a" / "b" / "aas.db";
  auto store = open_sqlite_store(nested.string(), clock_);
  EXPECT_TRUE(fs::exists(nested));
  auto v = store->schema_version();
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(*v, 0);
  EXPECT_TRUE(store->ping().has_value());
}

TEST_F(SqliteStoreTest, OpenRejectsAFileThatIsNotADatabase) {
  std::ofstream(file())
      << "this is a text file, not SQLite, and it is long enough to have a header";
  EXPECT_THROW(open_sqlite_store(file().string(), clock_), std::runtime_error);
}

TEST_F(SqliteStoreTest, OpenFailsWhenThePathIsADirectory) {
  EXPECT_THROW(open_sqlite_store(dir_.path().string(), clock_), std::runtime_error);
}

TEST_F(SqliteStoreTest, UsesWalAndRecordsEveryMigration) {
  auto store = open_migrated();
  RawDb raw(file());
  EXPECT_EQ(raw.scalar("PRAGMA journal_mode"), "wal");
  const auto all = migrations::sqlite_migrations();
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(store->latest_schema_version(), all.back().version);
  EXPECT_EQ(raw.scalar("SELECT count(*) FROM schema_migrations"), std::to_string(all.size()));
  for (const auto& m : all)
    EXPECT_EQ(raw.scalar("SELECT name FROM schema_migrations WHERE version = ?1",
                         std::to_string(m.version)),
              m.name);
  // The plan's knowledge tables exist, ready for retrieval.
  EXPECT_EQ(raw.scalar("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
                       "('conversations', 'messages', 'knowledge_bases', 'kb_documents')"),
            "4");
}

TEST_F(SqliteStoreTest, DeleteCascadesToTheMessageRows) {
  auto store = open_migrated();
  auto c = store->create_conversation({.user_id = "u"});
  ASSERT_TRUE(c.has_value());
  for (int i = 0; i < 4; ++i)
    ASSERT_TRUE(store->append_message("u", {.conversation_id = c->id, .content = "x"}).has_value());
  RawDb raw(file());
  const std::string count = "SELECT count(*) FROM messages WHERE conversation_id = ?1";
  EXPECT_EQ(raw.scalar(count, c->id), "4");
  ASSERT_TRUE(store->delete_conversation("u", c->id).has_value());
  EXPECT_EQ(raw.scalar(count, c->id), "0");
}

TEST_F(SqliteStoreTest, ListingUsesTheIndexes) {
  auto store = open_migrated();
  RawDb raw(file());
  // The same shapes as the store's list queries.
  const std::string conversations = raw.query_plan(
      "SELECT id FROM conversations WHERE user_id = 'u' AND (updated_at, id) < (1, 'x') "
      "ORDER BY updated_at DESC, id DESC LIMIT 11");
  EXPECT_NE(conversations.find("conversations_user_updated"), std::string::npos) << conversations;
  EXPECT_EQ(conversations.find("TEMP B-TREE"), std::string::npos) << conversations;  // no sort
  const std::string messages = raw.query_plan(
      "SELECT id FROM messages WHERE conversation_id = 'c' AND id > 'x' ORDER BY id LIMIT 11");
  EXPECT_NE(messages.find("messages_conversation_id"), std::string::npos) << messages;
  EXPECT_EQ(messages.find("TEMP B-TREE"), std::string::npos) << messages;
}

// Each call writes a message and a ledger row: their CHECK constraints must be plain comparisons.
// (An IN list of more than two constants makes SQLite build a temporary b-tree per row written,
// which was ~10 % of a gateway call's CPU; migration 8.)
TEST_F(SqliteStoreTest, WritingAMessageOrALedgerRowBuildsNoTemporaryTable) {
  auto store = open_migrated();
  RawDb raw(file());
  for (const std::string sql : {
           "INSERT INTO messages (id, conversation_id, role, content, status, created_at)"
           " VALUES ('m', 'c', 'user', 'x', 'complete', 1)",
           "UPDATE messages SET status = 'complete', content = 'y' WHERE id = 'm'",
           "INSERT INTO usage_ledger (id, user_id, kind, model, deployment, provider, input_tokens,"
           " output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, latency_ms,"
           " status, estimated, request_id, created_at)"
           " VALUES ('l', 'u', 'gateway', 'm', 'd', 'p', 1, 1, 0, 0, 0, 1, 'complete', 0, 'r', 1)"}) {
    const auto ops = raw.opcodes(sql);
    ASSERT_GT(ops.size(), 3u) << sql << ": " << ops.front();
    EXPECT_EQ(std::count(ops.begin(), ops.end(), "OpenEphemeral"), 0) << sql;
  }
  // The constraints still refuse what they refused.
  auto c = store->create_conversation({.user_id = "u"});
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(raw.exec("INSERT INTO messages (id, conversation_id, role, content, created_at)"
                     " VALUES ('m1', '" + c->id + "', 'robot', 'x', 1)"),
            SQLITE_CONSTRAINT);
  EXPECT_EQ(raw.exec("INSERT INTO messages (id, conversation_id, role, content, status, created_at)"
                     " VALUES ('m2', '" + c->id + "', 'user', 'x', 'done', 1)"),
            SQLITE_CONSTRAINT);
  EXPECT_EQ(raw.exec("INSERT INTO usage_ledger (id, user_id, kind, model, deployment, provider,"
                     " input_tokens, output_tokens, cached_input_tokens, cache_write_tokens,"
                     " reasoning_tokens, latency_ms, status, estimated, request_id, created_at)"
                     " VALUES ('l', 'u', 'magic', 'm', 'd', 'p', 1, 1, 0, 0, 0, 1, 'complete', 0, 'r', 1)"),
            SQLITE_CONSTRAINT);
}

// A database written by the release before migration 8 keeps its messages (rowids, hence the
// search index), their structured parts, and its ledger.
TEST_F(SqliteStoreTest, MigrationEightKeepsWhatVersionSevenStored) {
  open_sqlite_store(file().string(), clock_);  // creates the file, applies nothing
  {
    RawDb raw(file());
    ASSERT_EQ(raw.exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY,"
                       " name TEXT NOT NULL, applied_at INTEGER NOT NULL)"),
              SQLITE_OK);
    for (const auto& m : migrations::sqlite_migrations()) {
      if (m.version > 7) break;
      ASSERT_EQ(raw.exec(std::string(m.sql)), SQLITE_OK) << m.name;
      ASSERT_EQ(raw.exec("INSERT INTO schema_migrations VALUES (" + std::to_string(m.version) + ", '" +
                         std::string(m.name) + "', 1)"),
                SQLITE_OK);
    }
    ASSERT_EQ(raw.exec("INSERT INTO conversations (id, user_id, created_at, updated_at)"
                       " VALUES ('c', 'u', 1, 1)"),
              SQLITE_OK);
    ASSERT_EQ(raw.exec("INSERT INTO messages (id, conversation_id, role, content, created_at, parts,"
                       " tool_calls, tool_call_id) VALUES ('m1', 'c', 'user', 'zebra crossing', 1,"
                       " '[{\"type\":\"text\",\"text\":\"zebra crossing\"}]', NULL, NULL),"
                       " ('m2', 'c', 'tool', 'result', 2, NULL, NULL, 'call_1')"),
              SQLITE_OK);
    ASSERT_EQ(raw.exec("INSERT INTO usage_ledger (id, user_id, kind, model, deployment, provider,"
                       " input_tokens, output_tokens, cached_input_tokens, cache_write_tokens,"
                       " reasoning_tokens, latency_ms, status, estimated, request_id, created_at)"
                       " VALUES ('l', 'u', 'embedding', 'm', 'd', 'p', 7, 0, 0, 0, 0, 1, 'complete', 0,"
                       " 'r', 1)"),
              SQLITE_OK);
  }
  auto store = open_migrated();
  auto v = store->schema_version();
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(*v, store->latest_schema_version());
  RawDb raw(file());
  EXPECT_EQ(raw.scalar("SELECT parts FROM messages WHERE id = 'm1'"),
            "[{\"type\":\"text\",\"text\":\"zebra crossing\"}]");
  EXPECT_EQ(raw.scalar("SELECT tool_call_id FROM messages WHERE id = 'm2'"), "call_1");
  EXPECT_EQ(raw.scalar("SELECT input_tokens FROM usage_ledger WHERE kind = 'embedding'"), "7");
  auto found = store->list_conversations("u", {}, {.query = "zebra"});
  ASSERT_TRUE(found.has_value());
  ASSERT_EQ(found->items.size(), 1u);
  EXPECT_EQ(raw.scalar("PRAGMA integrity_check"), "ok");
}

// Migration 13 back-fills its rollups from the daily rows already there (a database that has run
// every other migration, as one upgraded from the previous release has), and its triggers then
// keep them: a later write to an existing daily row and a new one both reach them.
TEST_F(SqliteStoreTest, MigrationThirteenRollsUpTheDailyRowsAlreadyStored) {
  open_sqlite_store(file().string(), clock_);  // creates the file, applies nothing
  {
    RawDb raw(file());
    ASSERT_EQ(raw.exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY,"
                       " name TEXT NOT NULL, applied_at INTEGER NOT NULL)"),
              SQLITE_OK);
    for (const auto& m : migrations::sqlite_migrations()) {
      if (m.version == 13) continue;
      ASSERT_EQ(raw.exec(std::string(m.sql)), SQLITE_OK) << m.name;
      ASSERT_EQ(raw.exec("INSERT INTO schema_migrations VALUES (" + std::to_string(m.version) + ", '" +
                         std::string(m.name) + "', 1)"),
                SQLITE_OK);
    }
    ASSERT_EQ(raw.exec("INSERT INTO usage_daily VALUES"
                       " ('2026-01-31', 'u', 'gpt', 2, 10, 20, 1, 0, 3, 500, 0, 1),"
                       " ('2026-01-31', 'u', 'free', 1, 5, 5, 0, 0, 0, 0, 1, 0),"
                       " ('2026-02-01', 'u', 'gpt', 1, 1, 1, 0, 0, 0, 7, 0, 0),"
                       " ('2026-02-01', 'v', 'gpt', 4, 4, 4, 0, 2, 0, 40, 0, 0)"),
              SQLITE_OK);
  }
  auto store = open_migrated();
  RawDb raw(file());
  EXPECT_EQ(raw.scalar("SELECT group_concat(month || ' ' || user_id || ' ' || requests || ' ' || cost_micros, ', ')"
                       " FROM (SELECT * FROM usage_monthly_user ORDER BY month, user_id)"),
            "2026-01 u 3 500, 2026-02 u 1 7, 2026-02 v 4 40");
  EXPECT_EQ(raw.scalar("SELECT group_concat(day || ' ' || model || ' ' || requests || ' ' || unpriced_requests, ', ')"
                       " FROM (SELECT * FROM usage_daily_model ORDER BY day, model)"),
            "2026-01-31 free 1 1, 2026-01-31 gpt 2 0, 2026-02-01 gpt 5 0");
  // The triggers: one more call on an existing daily row (an update) and one on a new row.
  ASSERT_EQ(raw.exec("INSERT INTO usage_daily VALUES ('2026-02-01', 'v', 'gpt', 1, 1, 1, 0, 0, 0, 2, 0, 0)"
                     " ON CONFLICT (day, user_id, model) DO UPDATE SET requests = requests + excluded.requests,"
                     " cost_micros = cost_micros + excluded.cost_micros"),
            SQLITE_OK);
  ASSERT_EQ(raw.exec("INSERT INTO usage_daily VALUES ('2026-02-02', 'w', 'claude', 1, 1, 1, 0, 0, 0, 9, 0, 0)"),
            SQLITE_OK);
  EXPECT_EQ(raw.scalar("SELECT requests || ' ' || cost_micros FROM usage_monthly_user WHERE month = '2026-02' AND user_id = 'v'"),
            "5 42");
  EXPECT_EQ(raw.scalar("SELECT requests || ' ' || cost_micros FROM usage_daily_model WHERE day = '2026-02-01' AND model = 'gpt'"),
            "6 49");
  EXPECT_EQ(raw.scalar("SELECT requests FROM usage_monthly_user WHERE month = '2026-02' AND user_id = 'w'"), "1");
  EXPECT_EQ(raw.scalar("PRAGMA integrity_check"), "ok");
}

// A message's owner is checked through its own conversation (one primary-key lookup). The form
// `conversation_id IN (SELECT id FROM conversations WHERE user_id = ?)` listed ALL of the user's
// conversations on every answer written: ~2.7x slower turns once a user had a few thousand.
TEST_F(SqliteStoreTest, AMessagesOwnerIsCheckedThroughItsConversationOnly) {
  auto store = open_migrated();
  RawDb raw(file());
  // The same shape as the store's message statements (update_message, checkpoint_message, ...).
  const std::string plan = raw.query_plan(
      "SELECT id FROM messages WHERE id = 'm' AND EXISTS"
      " (SELECT 1 FROM conversations c WHERE c.id = messages.conversation_id AND c.user_id = 'u')");
  EXPECT_NE(plan.find("CORRELATED"), std::string::npos) << plan;
  EXPECT_NE(plan.find("sqlite_autoindex_conversations_1 (id=?)"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("LIST SUBQUERY"), std::string::npos) << plan;
  // And the store's own statements do not list a user's conversations any more.
  std::ifstream source(std::string(AAS_SOURCE_DIR) + "/src/store/sqlite/sqlite_store.cpp");
  const std::string code((std::istreambuf_iterator<char>(source)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(code.empty());
  EXPECT_EQ(code.find("conversation_id IN"), std::string::npos);
}

TEST_F(SqliteStoreTest, UnmigratedDatabaseFailsWithoutLeakingSql) {
  auto store = open_sqlite_store(file().string(), clock_);
  auto r = store->create_conversation({.user_id = "u"});
  ASSERT_TRUE(r.has_error());
  EXPECT_EQ(r.error().code, errc::internal);
  EXPECT_EQ(r.error().message, "internal error");
  // The operator learns what went wrong; the client does not.
  EXPECT_NE(r.error().detail.find("create_conversation"), std::string::npos) << r.error().detail;
  EXPECT_NE(r.error().detail.find("no such table"), std::string::npos) << r.error().detail;
}

TEST_F(SqliteStoreTest, ALockedDatabaseIsUnavailable) {
  auto store = open_migrated();
  auto c = store->create_conversation({.user_id = "u"});
  ASSERT_TRUE(c.has_value());
  RawDb raw(file());
  ASSERT_EQ(raw.exec("BEGIN IMMEDIATE"), SQLITE_OK);  // another process holds the write lock
  // Waits out the 5 s busy timeout, then gives up with "try again later".
  auto r = store->append_message("u", {.conversation_id = c->id, .content = "x"});
  ASSERT_TRUE(r.has_error());
  EXPECT_EQ(r.error().code, errc::unavailable);
  EXPECT_EQ(r.error().message, "database unavailable");
  EXPECT_NE(r.error().detail.find("locked"), std::string::npos) << r.error().detail;
  // Reads still work beside a writer (WAL), and writes resume once the lock is gone.
  EXPECT_TRUE(store->get_conversation("u", c->id).has_value());
  ASSERT_EQ(raw.exec("ROLLBACK"), SQLITE_OK);
  EXPECT_TRUE(store->append_message("u", {.conversation_id = c->id, .content = "x"}).has_value());
  auto got = store->get_conversation("u", c->id);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->message_count, 1);
}

TEST_F(SqliteStoreTest, InMemoryDatabaseWorksForTests) {
  auto store = open_sqlite_store(":memory:", clock_);
  ASSERT_TRUE(store->migrate().has_value());
  auto c = store->create_conversation({.user_id = "u", .title = "mem"});
  ASSERT_TRUE(c.has_value());
  ASSERT_TRUE(store->append_message("u", {.conversation_id = c->id, .content = "x"}).has_value());
  auto got = store->get_conversation("u", c->id);  // a read sees the write: one shared database
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->message_count, 1);
  auto page = store->list_messages("u", c->id, {});
  ASSERT_TRUE(page.has_value());
  EXPECT_EQ(page->items.size(), 1u);
}

}  // namespace
}  // namespace aas::store::sqlite

// The knowledge store on the same file as the main store.
namespace aas::store::sqlite {
namespace {
std::function<testing::KnowledgeStores(const Clock&)> fresh_sqlite_knowledge_database() {
  auto dir = std::make_shared<TempDir>();
  return [dir](const Clock& clock) {
    const std::string path = (dir->path() / "aas.db").string();
    return testing::KnowledgeStores{open_sqlite_store(path, clock), open_sqlite_knowledge_store(path, clock)};
  };
}
using testing::KnowledgeConformance;
INSTANTIATE_TEST_SUITE_P(Sqlite, KnowledgeConformance,
                         ::testing::Values(testing::KnowledgeBackend{"sqlite", fresh_sqlite_knowledge_database}),
                         testing::knowledge_backend_name);
}  // namespace
}  // namespace aas::store::sqlite
