#pragma once
// A migrated database for the suites of the ports beside store::Store (keys, webhooks), which
// open their own connections: SQLite (a temp file) and, when AAS_TEST_POSTGRES_URL names a server
// (scripts/with-postgres.sh), PostgreSQL (a database of its own). `open` migrates it with the
// main store and returns where it is (the file's path or the database's URL); `keep` holds it
// until the test ends, then removes it.
#include "store/postgres/postgres_store.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "testing/postgres_database.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace aas::testing {

struct MigratedDatabase {
  std::string name;  // "sqlite" | "postgres"
  std::function<std::string(const Clock&, std::shared_ptr<void>& keep)> open;
};

inline std::vector<MigratedDatabase> migrated_databases() {
  std::vector<MigratedDatabase> out;
  out.push_back({"sqlite", [](const Clock& clock, std::shared_ptr<void>& keep) {
                   static int n = 0;
                   const std::string path = (std::filesystem::temp_directory_path() /
                                             ("aas-side-" + std::to_string(::getpid()) + "-" + std::to_string(++n) + ".db"))
                                                .string();
                   EXPECT_TRUE(store::sqlite::open_sqlite_store(path, clock)->migrate());
                   keep = std::shared_ptr<void>(nullptr, [path](void*) {
                     for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
                   });
                   return path;
                 }});
  if (server_url())
    out.push_back({"postgres", [](const Clock& clock, std::shared_ptr<void>& keep) {
                     auto db = std::make_shared<TestDatabase>(*server_url());
                     EXPECT_TRUE(store::postgres::open_postgres_store(db->url(), clock)->migrate());
                     keep = db;
                     return db->url();
                   }});
  return out;
}

// The test that fails when the PostgreSQL half did not run (unless AAS_SKIP_POSTGRES=1).
inline void expect_postgres_server(const char* what) {
  if (server_url()) return;
  if (skip_requested()) GTEST_SKIP() << "AAS_SKIP_POSTGRES=1: " << what << " on PostgreSQL is NOT tested";
  FAIL() << "AAS_TEST_POSTGRES_URL is not set: run through scripts/with-postgres.sh (ctest does), or set "
            "AAS_SKIP_POSTGRES=1 to skip it knowingly.";
}

}  // namespace aas::testing
