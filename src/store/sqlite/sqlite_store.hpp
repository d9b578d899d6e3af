#pragma once
// The SQLite adapter of the Store port: the embedded default (one file, WAL mode).
#include "store/store.hpp"

#include <memory>
#include <string>

namespace aas::store::sqlite {

// Opens (creating it and its parent directories when missing) the database file at `path`;
// ":memory:" gives a private in-memory database, for tests. Does not migrate: the caller runs
// migrate() at start-up or through the `migrate` command. `clock` must outlive the store.
// Throws std::runtime_error when the file cannot be opened or is not a database: a start-up error.
std::unique_ptr<Store> open_sqlite_store(const std::string& path, const Clock& clock);

}  // namespace aas::store::sqlite
