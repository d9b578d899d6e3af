// The libpq pipeline of store/postgres/pq.hpp against a real server (AAS_TEST_POSTGRES_URL, as
// the rest of the PostgreSQL tests): results by ticket, a failure in the middle, and a pipeline
// far larger than the socket's buffers in both directions.
#include "store/postgres/pq.hpp"

#include "testing/postgres_database.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace aas::store::postgres::detail {
namespace {

using ::aas::testing::server_url;
using ::aas::testing::TestDatabase;

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!server_url()) GTEST_SKIP() << "no AAS_TEST_POSTGRES_URL (PostgresServer.IsGivenToTheTests says why)";
    db_ = std::make_unique<TestDatabase>(*server_url());
    c_ = std::make_unique<Connection>(db_->url());
    c_->exec("CREATE TABLE t (k BIGINT PRIMARY KEY, v TEXT NOT NULL)");
  }
  std::int64_t count() { return c_->query("SELECT count(*) FROM t").int64(0, 0); }

  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<Connection> c_;
};

TEST_F(PipelineTest, RunsStatementsInOrderAndAnswersEachByItsTicket) {
  std::size_t first = 0, again = 0, read = 0;
  {
    Pipeline p(*c_);
    p.send("BEGIN");
    first = p.send_with("INSERT INTO t (k, v) VALUES ($1, $2) RETURNING k", std::int64_t{1}, "one");
    // The same text again: prepared once, in this pipeline, and used twice.
    again = p.send_with("INSERT INTO t (k, v) VALUES ($1, $2) RETURNING k", std::int64_t{2}, "two");
    read = p.send("SELECT string_agg(v, ',' ORDER BY k) FROM t");  // sees the two inserts before it
    EXPECT_EQ(p.size(), 4u);
    p.sync();
    EXPECT_EQ(p.result(first).int64(0, 0), 1);
    EXPECT_EQ(p.result(again).int64(0, 0), 2);
    EXPECT_EQ(p.result(read).text(0, 0), "one,two");
  }
  EXPECT_FALSE(c_->reusable()) << "still inside the transaction the pipeline began";
  c_->exec("COMMIT");
  EXPECT_TRUE(c_->reusable());
  // Back in ordinary mode, the statement prepared in the pipeline serves a plain query.
  EXPECT_EQ(c_->query_with("INSERT INTO t (k, v) VALUES ($1, $2) RETURNING k", std::int64_t{3}, "three").int64(0, 0),
            3);
  EXPECT_EQ(count(), 3);
}

TEST_F(PipelineTest, AFailureSkipsTheRestAndIsThrownAtSync) {
  c_->exec("INSERT INTO t (k, v) VALUES (1, 'taken')");
  {
    Pipeline p(*c_);
    p.send("BEGIN");
    p.send_with("INSERT INTO t (k, v) VALUES ($1, $2)", std::int64_t{2}, "before");
    p.send_with("INSERT INTO t (k, v) VALUES ($1, $2)", std::int64_t{1}, "duplicate");
    // First prepared after the failure: the server never saw it, so it must not count as prepared.
    p.send_with("UPDATE t SET v = $1 WHERE k = $2", "after", std::int64_t{2});
    try {
      p.sync();
      ADD_FAILURE() << "sync() did not throw";
    } catch (const PgError& e) {
      EXPECT_EQ(e.sqlstate(), "23505") << e.what();
      EXPECT_FALSE(e.connection_lost());
    }
  }
  c_->exec("ROLLBACK");
  EXPECT_TRUE(c_->reusable());
  EXPECT_EQ(count(), 1);
  EXPECT_EQ(c_->query_with("UPDATE t SET v = $1 WHERE k = $2", "after", std::int64_t{1}).affected(), 1);
  EXPECT_EQ(c_->query("SELECT v FROM t").text(0, 0), "after");
}

// 2,000 statements of 8 KiB each whose rows come back whole: ~16 MiB each way, far beyond the
// socket buffers. A client that only wrote until the sync would leave the server blocked on its
// results and both would wait for ever; this one reads while it sends.
TEST_F(PipelineTest, ALargePipelineDoesNotDeadlockOnFullSockets) {
  const std::string big(8192, 'x');
  constexpr int kStatements = 2000;
  std::vector<std::size_t> tickets;
  {
    Pipeline p(*c_);
    p.send("BEGIN");
    for (int i = 0; i < kStatements; ++i)
      tickets.push_back(p.send_with("INSERT INTO t (k, v) VALUES ($1, $2) RETURNING v", std::int64_t{i}, big));
    p.send("COMMIT");
    p.sync();
    for (std::size_t t : tickets) ASSERT_EQ(p.result(t).text(0, 0).size(), big.size());
  }
  EXPECT_TRUE(c_->reusable());
  EXPECT_EQ(count(), kStatements);
}

// What a column that does not hold what the query expects, a session the server ended, and a
// database that does not exist are reported as: a bug in a query is not a lost connection (the
// pool keeps it), a killed session is (the pool drops it), and the server's words are kept.
TEST_F(PipelineTest, AValueOfTheWrongTypeIsAQueryBugNotALostConnection) {
  const Rows r = c_->query("SELECT 'abc'::text, 'x'::text, NULL::bigint, 2.5::float8");
  try {
    (void)r.int64(0, 0);
    ADD_FAILURE() << "int64 of 'abc' did not throw";
  } catch (const PgError& e) {
    EXPECT_EQ(std::string(e.what()), "column 0 is not an integer: 'abc'");
    EXPECT_FALSE(e.connection_lost());
  }
  try {
    (void)r.real(0, 1);
    ADD_FAILURE() << "real of 'x' did not throw";
  } catch (const PgError& e) {
    EXPECT_EQ(std::string(e.what()), "column 1 is not a number: 'x'");
    EXPECT_FALSE(e.connection_lost());
  }
  EXPECT_EQ(r.optional_int64(0, 2), std::nullopt);
  EXPECT_EQ(r.optional_text(0, 2), std::nullopt);
  EXPECT_DOUBLE_EQ(r.real(0, 3), 2.5);
  EXPECT_EQ(r.columns(), 4);
  EXPECT_TRUE(c_->reusable());
}

TEST_F(PipelineTest, ASessionTheServerEndedIsLostAndNotReusable) {
  const std::int64_t pid = c_->query("SELECT pg_backend_pid()::bigint").int64(0, 0);
  Connection admin(db_->url());
  // With a timeout the call returns once the session is gone (PostgreSQL 14+), not merely signalled.
  EXPECT_EQ(admin.query_with("SELECT pg_terminate_backend($1::int, 30000)", pid).text(0, 0), "t");
  try {
    c_->exec("SELECT 1");
    ADD_FAILURE() << "a query on a terminated session did not throw";
  } catch (const PgError& e) {
    EXPECT_TRUE(e.connection_lost()) << e.what();
  }
  EXPECT_FALSE(c_->reusable());
}

TEST_F(PipelineTest, ADatabaseThatDoesNotExistFailsTheConnectionWithTheServersWords) {
  std::string url = db_->url();
  url = url.substr(0, url.rfind('/') + 1) + "aas_no_such_database";
  try {
    Connection c(url);
    ADD_FAILURE() << "connected to a database that does not exist";
  } catch (const PgError& e) {
    EXPECT_TRUE(e.connection_lost());
    EXPECT_NE(std::string(e.what()).find("\"aas_no_such_database\" does not exist"), std::string::npos) << e.what();
  }
}

// A statement the server cannot prepare is a bug in a query, not a lost connection: plain or in a
// pipeline, the server's words and SQLSTATE come back, the connection stays usable, and the text
// that failed is not taken for prepared (the next use prepares it again and fails the same way,
// not with "prepared statement does not exist").
TEST_F(PipelineTest, AStatementTheServerCannotPrepareFailsWithItsSqlstateAndKeepsTheConnection) {
  for (int i = 0; i < 2; ++i) {
    try {
      (void)c_->query("SELEC 1");
      ADD_FAILURE() << "a syntax error did not throw";
    } catch (const PgError& e) {
      EXPECT_EQ(e.sqlstate(), "42601") << e.what();
      EXPECT_EQ(std::string(e.what()).rfind("prepare: ", 0), 0u) << e.what();
      EXPECT_FALSE(e.connection_lost());
    }
  }
  try {
    c_->exec("SELECT no_such_column FROM t");
    ADD_FAILURE() << "an unknown column did not throw";
  } catch (const PgError& e) {
    EXPECT_EQ(e.sqlstate(), "42703") << e.what();
    EXPECT_EQ(std::string(e.what()).rfind("exec: ", 0), 0u) << e.what();
    EXPECT_FALSE(e.connection_lost());
  }
  {
    Pipeline p(*c_);
    p.send("SELEC 2");
    p.send("SELEC 2");  // queued twice: prepared once in this pipeline
    try {
      p.sync();
      ADD_FAILURE() << "sync() did not throw";
    } catch (const PgError& e) {
      EXPECT_EQ(e.sqlstate(), "42601") << e.what();
      EXPECT_FALSE(e.connection_lost());
    }
    EXPECT_EQ(p.received(), 3u) << "the prepare and both executions answered";
  }
  EXPECT_TRUE(c_->reusable());
  try {
    (void)c_->query("SELEC 2");
    ADD_FAILURE() << "the failed text was taken for prepared";
  } catch (const PgError& e) {
    EXPECT_EQ(e.sqlstate(), "42601") << e.what();
  }
  EXPECT_EQ(c_->query("SELECT 1::bigint").int64(0, 0), 1);
}

// A pipeline on a session the server has ended: refused at once when libpq knows it already;
// otherwise found out at the sync. Either way the error says the connection is lost, and the
// connection is unfit for the pool.
TEST_F(PipelineTest, APipelineOnALostSessionFailsAsLost) {
  const auto terminate = [&](Connection& c) {
    const std::int64_t pid = c.query("SELECT pg_backend_pid()::bigint").int64(0, 0);
    Connection admin(db_->url());
    EXPECT_EQ(admin.query_with("SELECT pg_terminate_backend($1::int, 30000)", pid).text(0, 0), "t");
  };
  terminate(*c_);
  EXPECT_THROW(c_->exec("SELECT 1"), PgError);  // libpq learns of it here
  try {
    Pipeline p(*c_);
    ADD_FAILURE() << "a pipeline began on a lost session";
  } catch (const PgError& e) {
    EXPECT_TRUE(e.connection_lost()) << e.what();
    EXPECT_EQ(std::string(e.what()).rfind("cannot enter pipeline mode: ", 0), 0u) << e.what();
  }
  EXPECT_FALSE(c_->reusable());

  Connection unaware(db_->url());
  terminate(unaware);
  try {
    Pipeline p(unaware);
    p.send("SELECT 1");
    p.sync();
    ADD_FAILURE() << "a pipeline ran on a lost session";
  } catch (const PgError& e) {
    EXPECT_TRUE(e.connection_lost()) << e.what();
  }
  EXPECT_FALSE(unaware.reusable());
}

// Transactions: a read transaction sees one snapshot and refuses writes; one dropped without a
// commit is rolled back; one whose connection died is dropped without an error escaping the
// destructor (the pool throws such a connection away: it is not reusable).
TEST_F(PipelineTest, ATransactionCommitsRollsBackWhenDroppedAndSurvivesALostSession) {
  {
    Transaction tx(*c_, Transaction::Kind::write);
    c_->exec("INSERT INTO t (k, v) VALUES (1, 'kept')");
    tx.commit();
  }
  {
    Transaction tx(*c_, Transaction::Kind::write);
    c_->exec("INSERT INTO t (k, v) VALUES (2, 'dropped')");
  }
  EXPECT_TRUE(c_->reusable());
  EXPECT_EQ(count(), 1);
  {
    Transaction tx(*c_, Transaction::Kind::read);
    try {
      c_->exec("INSERT INTO t (k, v) VALUES (3, 'refused')");
      ADD_FAILURE() << "a read-only transaction took a write";
    } catch (const PgError& e) {
      EXPECT_EQ(e.sqlstate(), "25006") << e.what();
      EXPECT_FALSE(e.connection_lost());
    }
  }
  EXPECT_TRUE(c_->reusable());
  EXPECT_EQ(c_->query("DELETE FROM t WHERE k = 1").affected(), 1);
  EXPECT_EQ(c_->query("CREATE TEMP TABLE u (x int)").affected(), 0) << "no row count for a CREATE";

  const std::int64_t pid = c_->query("SELECT pg_backend_pid()::bigint").int64(0, 0);
  {
    Transaction tx(*c_, Transaction::Kind::write);
    Connection admin(db_->url());
    EXPECT_EQ(admin.query_with("SELECT pg_terminate_backend($1::int, 30000)", pid).text(0, 0), "t");
  }  // the ROLLBACK fails on the lost session; nothing escapes
  EXPECT_FALSE(c_->reusable());
}

}  // namespace
}  // namespace aas::store::postgres::detail
