#pragma once
#include "store/migrations/migration.hpp"

#include <span>

namespace aas::store::migrations {

// The SQLite schema, oldest first.
std::span<const Migration> sqlite_migrations() noexcept;

}  // namespace aas::store::migrations
