// The side connection the key and webhook stores use beside the main store: a database failure in
// its work becomes unavailable (busy, locked, I/O, full: worth a retry) or internal (a bug), with
// the operation named in the log detail only.
#include "store/sqlite/side_connection.hpp"

#include "testing/temp_dir.hpp"

#include <gtest/gtest.h>

namespace aas::store::sqlite {
namespace {

TEST(SideConnection, ADatabaseFailureIsUnavailableWhenWorthARetryElseInternal) {
  const aas::testing::TempDir dir("aas-side");
  const std::string path = (dir / "side.db").string();
  // The main store creates the file; the side connection only opens it.
  detail::Connection(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE).exec("CREATE TABLE t (x INTEGER)");
  SideConnection db(path);
  auto ok = db.run<int>("insert", [](detail::Connection& c) -> Result<int> {
    c.exec("INSERT INTO t VALUES (1)");
    return 1;
  });
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, 1);

  // A real failure: SQL on a table that does not exist is a bug, not an outage.
  auto missing = db.run<int>("read missing", [](detail::Connection& c) -> Result<int> {
    c.exec("SELECT * FROM missing");
    return 0;
  });
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, errc::internal);
  EXPECT_EQ(missing.error().message, "internal error");
  EXPECT_EQ(missing.error().detail.rfind("read missing: ", 0), 0u) << missing.error().detail;

  // The result codes SQLite gives for a busy, locked, failing or full database (extended codes
  // included: only the primary code decides).
  for (const int code : {SQLITE_BUSY, SQLITE_BUSY_SNAPSHOT, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_IOERR_WRITE, SQLITE_FULL}) {
    auto r = db.run<int>("write", [code](detail::Connection&) -> Result<int> { throw detail::DbError(code, "failed"); });
    ASSERT_FALSE(r) << code;
    EXPECT_EQ(r.error().code, errc::unavailable) << code;
    EXPECT_EQ(r.error().message, "database unavailable") << code;
    EXPECT_EQ(r.error().detail, "write: failed") << code;
  }
  for (const int code : {SQLITE_CONSTRAINT, SQLITE_CORRUPT, SQLITE_MISMATCH}) {
    auto r = db.run<int>("write", [code](detail::Connection&) -> Result<int> { throw detail::DbError(code, "failed"); });
    ASSERT_FALSE(r) << code;
    EXPECT_EQ(r.error().code, errc::internal) << code;
  }
}

TEST(SideConnection, AFileThatCannotBeOpenedThrowsAtTheStart) {
  const aas::testing::TempDir dir("aas-side");
  EXPECT_THROW(SideConnection((dir / "missing.db").string()), detail::DbError) << "it never creates the file";
}

}  // namespace
}  // namespace aas::store::sqlite
