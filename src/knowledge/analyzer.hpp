#pragma once
// The text analysis of lexical search, the same at ingestion and at query time and whichever
// store is behind: words (letters and digits; any non-ASCII byte counts as a letter, so UTF-8
// words stay whole), ASCII lower-cased, English stop words dropped, Snowball's English stemmer
// (libstemmer, BSD) applied.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aas::knowledge {

// The analyzed terms of `text`, in order, repeats kept.
std::vector<std::string> analyze(std::string_view text);

// Term -> frequency (sorted by term) and the total number of terms.
struct TermCounts {
  std::vector<std::pair<std::string, std::int64_t>> terms;
  std::int64_t length = 0;
};
TermCounts count_terms(std::string_view text);

// A query's distinct terms (order of first occurrence).
std::vector<std::string> query_terms(std::string_view text);

}  // namespace aas::knowledge
