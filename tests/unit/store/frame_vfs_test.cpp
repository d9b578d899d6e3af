// The frame VFS (store/sqlite/frame_vfs.hpp) changes how WAL frames reach the file, never what
// the file holds: a WAL read back from scratch — recovery, which checks every frame's header and
// checksum chain, as after a crash — finds every committed transaction.
#include "store/sqlite/db.hpp"

#include "testing/temp_dir.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <string>

namespace aas::store::sqlite::detail {
namespace {

namespace fs = std::filesystem;

TEST(FrameVfs, IsTheDefaultOnceAConnectionOpened) {
  const testing::TempDir dir("aas-frames");
  {
    Connection c((dir / "a.db").string(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    ASSERT_NE(sqlite3_vfs_find(nullptr), nullptr);
    EXPECT_STREQ(sqlite3_vfs_find(nullptr)->zName, "aas-frames");
  }
}

TEST(FrameVfs, AWalRecoveredFromScratchHoldsEveryCommit) {
  const testing::TempDir dir("aas-frames");
  const fs::path copy = dir / "copy";
  fs::create_directory(copy);
  constexpr int kCommits = 300;
  {
    Connection writer((dir / "a.db").string(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    writer.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0;"
                "CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL); CREATE INDEX t_body ON t (body);");
    // Many small commits (each a few frames, some pages written again and again) and one that
    // spans many pages.
    for (int i = 0; i < kCommits; ++i) {
      Transaction tx(writer, Transaction::Kind::write);
      const std::string body(200 + i, static_cast<char>('a' + i % 26));
      writer.prepare("INSERT INTO t (body) VALUES (?1)").bind(1, std::string_view(body)).run();
      tx.commit();
    }
    {
      Transaction tx(writer, Transaction::Kind::write);
      for (int i = 0; i < 200; ++i) {
        const std::string body(3000, static_cast<char>('z' - i % 26));
        writer.prepare("INSERT INTO t (body) VALUES (?1)").bind(1, std::string_view(body)).run();
      }
      tx.commit();
    }
    // The files as a SIGKILL would leave them, without the wal-index (-shm): reopening must
    // rebuild it from the WAL's frames alone.
    fs::copy_file(dir / "a.db", copy / "a.db");
    fs::copy_file(dir / "a.db-wal", copy / "a.db-wal");
    EXPECT_GT(fs::file_size(copy / "a.db-wal"), 100'000u) << "the commits are in the WAL, not yet checkpointed";
  }
  Connection reader((copy / "a.db").string(), SQLITE_OPEN_READWRITE);
  auto count = reader.prepare("SELECT count(*), coalesce(sum(length(body)), 0) FROM t");
  ASSERT_TRUE(count.step());
  EXPECT_EQ(count.int64(0), kCommits + 200);
  std::int64_t bytes = 200 * 3000;
  for (int i = 0; i < kCommits; ++i) bytes += 200 + i;
  EXPECT_EQ(count.int64(1), bytes);
  count.run();
  auto check = reader.prepare("PRAGMA integrity_check");
  ASSERT_TRUE(check.step());
  EXPECT_EQ(check.text(0), "ok");
  check.run();
}

}  // namespace
}  // namespace aas::store::sqlite::detail
