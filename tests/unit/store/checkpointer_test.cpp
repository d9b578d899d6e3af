// The WAL is copied back into the database file off the commit path (store/sqlite/checkpointer.hpp):
// commits past the threshold get a checkpoint on the checkpointer's own thread, and what it copied
// is in the database file itself, readable without the WAL.
#include "store/sqlite/database.hpp"

#include "testing/temp_dir.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

namespace aas::store::sqlite::detail {
namespace {

namespace fs = std::filesystem;

TEST(Checkpointer, CopiesTheWalIntoTheDatabaseFileOnceItPassesTheThreshold) {
  const testing::TempDir dir("aas-checkpoint");
  const std::string file = (dir / "a.db").string();
  {
    Database db(file, 2, {}, /*checkpoint_pages=*/20);
    auto made = db.write<bool>("create", [](Connection& c) {
      c.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL)");
      return Result<bool>(true);
    });
    ASSERT_TRUE(made);
    const auto size_before = fs::file_size(file);
    EXPECT_EQ(db.checkpoints(), 0) << "a small WAL is left alone";
    // 40 rows of 8 KB: ~80 WAL pages, four times the threshold.
    for (int i = 0; i < 40; ++i) {
      auto put = db.write<bool>("put", [](Connection& c) {
        c.exec("INSERT INTO t (body) VALUES (zeroblob(8192))");
        return Result<bool>(true);
      });
      ASSERT_TRUE(put);
    }
    // The checkpoints run on their own thread: wait until the rows are in the database file
    // (a generous deadline, not a timing). Without a checkpoint the file keeps its first size.
    // The thread counts a checkpoint once it has returned, a moment after the file has grown:
    // wait for both, or the count is read in between (it was, 8 times in 20 repeats under load).
    const auto copied = [&] { return fs::file_size(file) > size_before + 40 * 8192; };
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!(copied() && db.checkpoints() > 0) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_TRUE(copied()) << "the rows were copied into the database file: " << fs::file_size(file);
    EXPECT_GT(db.checkpoints(), 0);
  }
  // Closed cleanly: the file alone holds every row.
  {
    Database db(file, 1);
    auto n = db.read<std::int64_t>("count", [](Connection& c) {
      auto st = c.prepare("SELECT count(*) FROM t");
      st.step();
      return Result<std::int64_t>(st.int64(0));
    });
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 40);
  }
}

}  // namespace
}  // namespace aas::store::sqlite::detail
