// The SQLite knowledge store's own opening: ":memory:" (the `ingest` command's dry runs and tests)
// migrates itself; a path whose folder cannot be made stops the start naming the path.
#include "store/sqlite/knowledge_store.hpp"

#include "core/clock.hpp"
#include "testing/fake_clock.hpp"
#include "testing/temp_dir.hpp"

#include <gtest/gtest.h>

#include <fstream>

namespace aas::store::sqlite {
namespace {

TEST(SqliteKnowledgeStore, AnInMemoryStoreMigratesItselfAndWorks) {
  aas::testing::FakeClock clock;
  auto kb = open_sqlite_knowledge_store(":memory:", clock);
  auto base = kb->create_base({"alice", "notes", std::nullopt, std::nullopt});
  ASSERT_TRUE(base) << base.error().detail;
  auto read = kb->get_base("alice", base->id);
  ASSERT_TRUE(read) << read.error().detail;
  EXPECT_EQ(read->name, "notes");
  EXPECT_FALSE(kb->get_base("bob", base->id)) << "another user's base is not found";
}

TEST(SqliteKnowledgeStore, APathWhoseFolderCannotBeMadeStopsTheStartNamingIt) {
  const aas::testing::TempDir dir("aas-kbstore");
  std::ofstream(dir / "file") << "not a folder";
  const std::string path = (dir / "file" / "kb.db").string();
  aas::testing::FakeClock clock;
  try {
    open_sqlite_knowledge_store(path, clock);
    ADD_FAILURE() << "opened a database under a file";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("cannot open SQLite database '" + path + "': ", 0), 0u) << e.what();
  }
}

}  // namespace
}  // namespace aas::store::sqlite
