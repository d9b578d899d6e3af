#pragma once
// The PostgreSQL adapter of the knowledge store port (knowledge/store.hpp), on the database of
// the main PostgreSQL store (whose migrate() creates its tables), with a pool of its own.
#include "core/clock.hpp"
#include "knowledge/store.hpp"

#include <memory>
#include <string>

namespace aas::store::postgres {

// Throws std::runtime_error (naming the server, never the password) when the first connection fails.
std::unique_ptr<knowledge::KnowledgeStore> open_postgres_knowledge_store(const std::string& url,
                                                                        const Clock& clock);

}  // namespace aas::store::postgres
