#pragma once
#include "store/migrations/migration.hpp"

#include <span>

namespace aas::store::migrations {

// The PostgreSQL schema, oldest first: the same versions and names as sqlite_migrations(), in
// PostgreSQL's dialect.
std::span<const Migration> postgres_migrations() noexcept;

}  // namespace aas::store::migrations
