#pragma once
// BM25 as both stores score it (Robertson/Sparck Jones idf with Lucene's +1, so it never goes
// negative; k1 1.2, b 0.75 as in Lucene and SQLite FTS5). The stores read the statistics (chunk
// count, average length, document frequencies) of the bases searched, and only those, and rank
// in SQL with the idf computed here.
#include <cmath>
#include <cstdint>

namespace aas::knowledge::bm25 {

inline constexpr double k1 = 1.2;
inline constexpr double b = 0.75;

inline double idf(std::int64_t chunks, std::int64_t df) {
  return std::log(1.0 + (static_cast<double>(chunks) - static_cast<double>(df) + 0.5) /
                            (static_cast<double>(df) + 0.5));
}

}  // namespace aas::knowledge::bm25
