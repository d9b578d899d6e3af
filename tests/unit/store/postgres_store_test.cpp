#include "store/postgres/postgres_store.hpp"

#include "core/ids.hpp"
#include "store/migrations/postgres.hpp"
#include "store/migrations/sqlite.hpp"
#include "store/postgres/pq.hpp"
#include "knowledge_conformance.hpp"
#include "store/postgres/knowledge_store.hpp"
#include "store_conformance.hpp"
#include "testing/postgres_database.hpp"

#include <gtest/gtest.h>
#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

// The conformance suite and the PostgreSQL specifics run against a real server named by
// AAS_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1:PORT/postgres): `ctest` starts a
// throwaway one through scripts/with-postgres.sh. Each test gets a database of its own, created
// on that server and dropped afterwards. Without the variable the run FAILS (a conformance run
// that did not happen is not a pass), unless AAS_SKIP_POSTGRES=1 asks to skip it, for quick
// local runs.

namespace aas::store::postgres {
namespace {

using detail::Connection;
using detail::Params;
using testing::FakeClock;
using ::aas::testing::server_url;
using ::aas::testing::skip_requested;
using ::aas::testing::TestDatabase;
using testing::StoreBackend;
using testing::StoreConformance;
using testing::StoreFactory;

StoreFactory fresh_postgres_database() {
  auto db = std::make_shared<TestDatabase>(*server_url());
  return [db](const Clock& clock) { return open_postgres_store(db->url(), clock); };
}

// Evaluated once per TEST_P by GoogleTest: the banner is printed once.
std::vector<StoreBackend> postgres_backends() {
  if (server_url()) return {StoreBackend{"postgres", fresh_postgres_database}};
  static bool said = false;
  if (std::exchange(said, true)) return {};
  std::fprintf(stderr,
               skip_requested()
                   ? "\n*** AAS_SKIP_POSTGRES=1: the PostgreSQL store conformance suite is NOT RUN ***\n\n"
                   : "\n*** AAS_TEST_POSTGRES_URL is not set: the PostgreSQL store tests FAIL (run "
                     "through scripts/with-postgres.sh, or set AAS_SKIP_POSTGRES=1 to skip) ***\n\n");
  return {};
}

INSTANTIATE_TEST_SUITE_P(Postgres, StoreConformance, ::testing::ValuesIn(postgres_backends()),
                         testing::backend_name);

TEST(PostgresServer, IsGivenToTheTests) {
  if (server_url()) return;
  if (skip_requested())
    GTEST_SKIP() << "AAS_SKIP_POSTGRES=1: the PostgreSQL store conformance suite is NOT RUN";
  FAIL() << "AAS_TEST_POSTGRES_URL is not set, so the PostgreSQL store conformance suite did not "
            "run. Run the tests through scripts/with-postgres.sh (ctest does), or set "
            "AAS_SKIP_POSTGRES=1 to skip it knowingly.";
}

// --- Without a server ------------------------------------------------------------------------------

TEST(PostgresMigrations, HaveTheSameNumbersAndNamesAsSqlite) {
  const auto pg = migrations::postgres_migrations();
  const auto lite = migrations::sqlite_migrations();
  ASSERT_EQ(pg.size(), lite.size());
  for (std::size_t i = 0; i < pg.size(); ++i) {
    EXPECT_EQ(pg[i].version, lite[i].version);
    EXPECT_EQ(pg[i].name, lite[i].name);
  }
}

TEST(PostgresUrl, SchemesAndRedaction) {
  EXPECT_TRUE(is_postgres_url("postgresql://h/db"));
  EXPECT_TRUE(is_postgres_url("postgres://u@h:5432/db"));
  EXPECT_FALSE(is_postgres_url("sqlite:./data/x.db"));
  EXPECT_FALSE(is_postgres_url("mysql://h/db"));
  EXPECT_EQ(redact_url("postgresql://app:s3cret@db:5432/aas"), "postgresql://app:***@db:5432/aas");
  EXPECT_EQ(redact_url("postgres://app@db/aas?sslmode=require&password=s3cret&x=1"),
            "postgres://app@db/aas?sslmode=require&password=***&x=1");
  EXPECT_EQ(redact_url("postgresql://db/aas"), "postgresql://db/aas");
  EXPECT_EQ(redact_url("postgresql://a:b:c@db/aas"), "postgresql://a:***@db/aas");
}

TEST(PostgresOpen, AnUnreachableServerFailsAtOpenWithoutThePassword) {
  FakeClock clock;
  try {
    open_postgres_store("postgresql://app:s3cret@127.0.0.1:1/aas?connect_timeout=2", clock);
    FAIL() << "opened a store on a closed port";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.find("s3cret"), std::string::npos) << what;
    EXPECT_NE(what.find("app:***@127.0.0.1:1"), std::string::npos) << what;
  }
  // The knowledge store opens its own connections, and fails alike.
  try {
    open_postgres_knowledge_store("postgresql://app:s3cret@127.0.0.1:1/aas?connect_timeout=2", clock);
    FAIL() << "opened a knowledge store on a closed port";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind("cannot connect to PostgreSQL at 'postgresql://app:***@127.0.0.1:1/aas", 0), 0u) << what;
    EXPECT_EQ(what.find("s3cret"), std::string::npos) << what;
  }
}

// --- PostgreSQL specifics: what the conformance suite cannot see through the Store interface ---

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!server_url()) GTEST_SKIP() << "no AAS_TEST_POSTGRES_URL (PostgresServer.IsGivenToTheTests says why)";
    db_ = std::make_unique<TestDatabase>(*server_url());
  }
  std::unique_ptr<Store> open() { return open_postgres_store(db_->url(), clock_); }
  std::unique_ptr<Store> open_migrated() {
    auto s = open();
    EXPECT_TRUE(s->migrate().has_value());
    return s;
  }
  // A connection of the test's own to the test database.
  Connection raw() { return Connection(db_->url()); }

  FakeClock clock_;
  std::unique_ptr<TestDatabase> db_;
};

TEST_F(PostgresStoreTest, RecordsEveryMigrationUnderTheSqliteNumbers) {
  auto store = open_migrated();
  auto c = raw();
  const auto all = migrations::postgres_migrations();
  EXPECT_EQ(store->latest_schema_version(), all.back().version);
  auto rows = c.query("SELECT version, name FROM schema_migrations ORDER BY version");
  ASSERT_EQ(rows.size(), static_cast<int>(all.size()));
  for (int i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows.int64(i, 0), all[static_cast<std::size_t>(i)].version);
    EXPECT_EQ(rows.text(i, 1), all[static_cast<std::size_t>(i)].name);
  }
  EXPECT_EQ(c.query("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename IN"
                    " ('conversations', 'messages', 'knowledge_bases', 'kb_documents', 'usage_ledger',"
                    " 'usage_daily', 'limit_overrides')")
                .int64(0, 0),
            7);
}

TEST_F(PostgresStoreTest, PreparedStatementsArePlannedForTheTableAsItIsNow) {
  // A statement prepared and run while a table is small (a new database, analyzed early by
  // autovacuum) must not keep that plan, a sequential scan, once the table is large: connections
  // live for the whole process, and the next ANALYZE may be a minute away.
  auto store = open_migrated();
  auto c = raw();
  c.exec("INSERT INTO conversations (id, user_id, created_at, updated_at)"
         " SELECT 'a' || g, 'u', 0, 0 FROM generate_series(1, 20) g");
  c.exec("ANALYZE conversations");
  const std::string update = "UPDATE conversations SET message_count = message_count + 1 WHERE id = $1";
  for (int i = 0; i < 10; ++i) c.query(update, Params().add("a1"));
  c.exec("INSERT INTO conversations (id, user_id, created_at, updated_at)"
         " SELECT 'c' || g, 'u', 0, 0 FROM generate_series(1, 20000) g");
  auto plan = c.query("EXPLAIN EXECUTE aas_1('c17')");
  std::string text;
  for (int i = 0; i < plan.size(); ++i) text += plan.text(i, 0) + "\n";
  EXPECT_NE(text.find("Index Scan"), std::string::npos) << text;
  EXPECT_EQ(text.find("Seq Scan"), std::string::npos) << text;
}

TEST_F(PostgresStoreTest, ConcurrentMigrationsAreSafe) {
  // Replicas starting together: every one migrates, each migration is applied exactly once.
  constexpr int kStores = 6;
  std::vector<std::unique_ptr<Store>> stores;
  for (int i = 0; i < kStores; ++i) stores.push_back(open());
  std::vector<Result<int>> results(kStores, Result<int>(0));
  std::vector<std::thread> threads;
  for (int i = 0; i < kStores; ++i)
    threads.emplace_back([&, i] { results[static_cast<std::size_t>(i)] = stores[static_cast<std::size_t>(i)]->migrate(); });
  for (auto& t : threads) t.join();
  for (const auto& r : results) {
    ASSERT_TRUE(r.has_value()) << r.error().detail;
    EXPECT_EQ(*r, stores[0]->latest_schema_version());
  }
  EXPECT_EQ(raw().query("SELECT count(*) FROM schema_migrations").int64(0, 0),
            static_cast<std::int64_t>(migrations::postgres_migrations().size()));
}

TEST_F(PostgresStoreTest, UnmigratedDatabaseFailsWithoutLeakingSql) {
  auto store = open();
  auto v = store->schema_version();
  ASSERT_TRUE(v.has_value()) << v.error().detail;
  EXPECT_EQ(*v, 0);
  auto r = store->create_conversation({.user_id = "u"});
  ASSERT_TRUE(r.has_error());
  EXPECT_EQ(r.error().code, errc::internal);
  EXPECT_EQ(r.error().message, "internal error");
  EXPECT_NE(r.error().detail.find("create_conversation"), std::string::npos) << r.error().detail;
  EXPECT_NE(r.error().detail.find("does not exist"), std::string::npos) << r.error().detail;
}

TEST_F(PostgresStoreTest, ReconnectsWhenTheServerDropsItsConnections) {
  auto store = open_migrated();
  auto conv = store->create_conversation({.user_id = "u", .title = "before"});
  ASSERT_TRUE(conv.has_value());
  // Fill the pool with idle connections, then have the server kill them all (a restart, a
  // failover, an idle timeout in a proxy).
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&] { EXPECT_TRUE(store->get_conversation("u", conv->id).has_value()); });
  for (auto& t : threads) t.join();
  Connection admin(*server_url());
  const auto killed = admin.query_with(
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1", db_->name());
  EXPECT_GE(killed.int64(0, 0), 1);

  // Every kind of work still succeeds, on fresh connections.
  EXPECT_TRUE(store->ping().has_value());
  auto got = store->get_conversation("u", conv->id);
  ASSERT_TRUE(got.has_value()) << got.error().detail;
  EXPECT_EQ(got->title, "before");
  for (int i = 0; i < 10; ++i) {
    auto m = store->append_message("u", {.conversation_id = conv->id, .content = "after"});
    ASSERT_TRUE(m.has_value()) << m.error().detail;
  }
  auto page = store->list_messages("u", conv->id, {.limit = 100});
  ASSERT_TRUE(page.has_value()) << page.error().detail;
  EXPECT_EQ(page->items.size(), 10u);
}

TEST_F(PostgresStoreTest, MessageIdsStayInCommitOrderWhenAnotherReplicasClockIsAhead) {
  auto store = open_migrated();
  auto conv = store->create_conversation({.user_id = "u"});
  ASSERT_TRUE(conv.has_value());
  // Another replica, its clock an hour ahead, appended a message.
  const std::string ahead = new_uuid_v7(std::chrono::system_clock::now() + std::chrono::hours(1));
  auto c = raw();
  c.query_with("INSERT INTO messages (id, conversation_id, role, content, created_at)"
               " VALUES ($1, $2, 'user', 'from the fast replica', 0)",
               ahead, conv->id);
  // Our append commits after it, so a reader paging by id must find it after that one.
  auto m = store->append_message("u", {.conversation_id = conv->id, .content = "from us"});
  ASSERT_TRUE(m.has_value()) << m.error().detail;
  EXPECT_GT(m->id, ahead);
  EXPECT_TRUE(is_uuid(m->id));
  auto first = store->list_messages("u", conv->id, {.limit = 1});
  ASSERT_TRUE(first.has_value());
  ASSERT_EQ(first->items.size(), 1u);
  EXPECT_EQ(first->items[0].id, ahead);
  auto rest = store->list_messages("u", conv->id, {.limit = 1, .cursor = first->next_cursor});
  ASSERT_TRUE(rest.has_value());
  ASSERT_EQ(rest->items.size(), 1u);
  EXPECT_EQ(rest->items[0].id, m->id);
}

TEST_F(PostgresStoreTest, AnAppendWaitsForTheConversationsLockAndIssuesItsIdAfterwards) {
  auto store = open_migrated();
  auto conv = store->create_conversation({.user_id = "u"});
  ASSERT_TRUE(conv.has_value());
  // Another writer holds the conversation's row lock, and inserts a message whose id is issued
  // later than our append starts.
  auto c = raw();
  c.exec("BEGIN");
  c.query_with("UPDATE conversations SET message_count = message_count + 1 WHERE id = $1", conv->id);
  Result<Message> ours = make_error(errc::internal, "not run");
  std::thread t([&] { ours = store->append_message("u", {.conversation_id = conv->id, .content = "B"}); });
  // Wait until the append is blocked on that lock (the server says so), rather than guessing a time.
  Connection watcher(*server_url());
  for (int i = 0; i < 1000; ++i) {
    if (watcher.query_with("SELECT count(*) FROM pg_stat_activity WHERE datname = $1"
                           " AND wait_event_type = 'Lock'", db_->name()).int64(0, 0) > 0)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(watcher.query_with("SELECT count(*) FROM pg_stat_activity WHERE datname = $1"
                               " AND wait_event_type = 'Lock'", db_->name()).int64(0, 0), 1);
  const std::string theirs = new_uuid_v7();
  c.query_with("INSERT INTO messages (id, conversation_id, role, content, created_at)"
               " VALUES ($1, $2, 'user', 'A', 0)",
               theirs, conv->id);
  c.exec("COMMIT");
  t.join();
  ASSERT_TRUE(ours.has_value()) << ours.error().detail;
  EXPECT_GT(ours->id, theirs) << "the id was issued before the lock was held";
  auto got = store->get_conversation("u", conv->id);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->message_count, 2);
}

}  // namespace
}  // namespace aas::store::postgres

// The knowledge store on the same database as the main store.
namespace aas::store::postgres {
namespace {
std::vector<testing::KnowledgeBackend> postgres_knowledge_backends() {
  if (!server_url()) return {};
  return {testing::KnowledgeBackend{"postgres", [] {
                                      auto db = std::make_shared<TestDatabase>(*server_url());
                                      return std::function<testing::KnowledgeStores(const Clock&)>(
                                          [db](const Clock& clock) {
                                            return testing::KnowledgeStores{
                                                open_postgres_store(db->url(), clock),
                                                open_postgres_knowledge_store(db->url(), clock)};
                                          });
                                    }}};
}
using testing::KnowledgeConformance;
INSTANTIATE_TEST_SUITE_P(Postgres, KnowledgeConformance, ::testing::ValuesIn(postgres_knowledge_backends()),
                         testing::knowledge_backend_name);
}  // namespace
}  // namespace aas::store::postgres
