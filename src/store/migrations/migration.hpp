#pragma once
// A numbered schema migration. Each dialect (sqlite.cpp, postgres.cpp) keeps its own list
// with the same numbering, so schema_version means the same thing whichever database is in use.
#include <cstddef>
#include <span>
#include <string_view>

namespace aas::store::migrations {

struct Migration {
  int version;            // 1, 2, 3, ... strictly increasing, never reused or edited once shipped
  std::string_view name;  // short, for logs and the schema_migrations table
  std::string_view sql;   // one or more statements, run in one transaction
};

// The highest version in a list (0 when empty).
constexpr int latest_version(std::span<const Migration> list) noexcept {
  int v = 0;
  for (const auto& m : list)
    if (m.version > v) v = m.version;
  return v;
}

// Versions increase along the list (checked at compile time by each dialect's list). Numbers are
// handed out per capability so parallel branches do not clash (docs/operations.md); a number not
// yet landed leaves a gap, which is harmless: migrate() applies and records each version on its
// own, so one that lands later is applied then.
constexpr bool strictly_increasing(std::span<const Migration> list) noexcept {
  for (std::size_t i = 0; i < list.size(); ++i)
    if (list[i].version < 1 || (i > 0 && list[i].version <= list[i - 1].version)) return false;
  return true;
}

}  // namespace aas::store::migrations
