#pragma once
// The one rule both stores apply to text with a NUL byte (U+0000): it becomes U+FFFD. PostgreSQL
// cannot hold a NUL in text at all (libpq passes parameters as C strings, so the text was cut
// there), SQLite can; the edge refuses NUL in requests (api/json_io.hpp), but text from elsewhere
// (a model's answer, a tool's result) still arrives here, and must read back the same from either
// store, whole. Used by the drivers' text binding (sqlite/db.cpp, postgres/pq.hpp).
#include <string>
#include <string_view>

namespace aas::store::detail {

inline std::string nul_free(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == '\0') out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
    else out += c;
  }
  return out;
}

}  // namespace aas::store::detail
