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

// Versions run 1..N, in order, without gaps (checked at compile time by each dialect's list).
constexpr bool numbered_1_to_n(std::span<const Migration> list) noexcept {
  for (std::size_t i = 0; i < list.size(); ++i)
    if (list[i].version != static_cast<int>(i) + 1) return false;
  return true;
}

}  // namespace aas::store::migrations
