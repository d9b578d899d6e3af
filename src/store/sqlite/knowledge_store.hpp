#pragma once
// The SQLite adapter of the knowledge store port (knowledge/store.hpp), on the same database file
// as the main SQLite store, with connections of its own (WAL: its readers run beside the main
// store's writer; writes queue on SQLite's lock with the busy timeout).
#include "core/clock.hpp"
#include "knowledge/store.hpp"

#include <memory>
#include <string>

namespace aas::store::sqlite {

// `path` as for open_sqlite_store; the schema comes from the main store's migrate() (for
// ":memory:", a private database, it is applied here). Throws std::runtime_error when the file
// cannot be opened.
std::unique_ptr<knowledge::KnowledgeStore> open_sqlite_knowledge_store(const std::string& path,
                                                                      const Clock& clock);

}  // namespace aas::store::sqlite
