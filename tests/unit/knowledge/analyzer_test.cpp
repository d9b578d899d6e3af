// The text analysis of lexical search (knowledge/analyzer.cpp) and BM25's idf (bm25.hpp).
#include "knowledge/analyzer.hpp"
#include "knowledge/bm25.hpp"

#include <gtest/gtest.h>

namespace aas::knowledge {
namespace {

TEST(Analyzer, LowerCasesStemsAndDropsStopWords) {
  EXPECT_EQ(analyze("The Cats were RUNNING to the parks!"),
            (std::vector<std::string>{"cat", "were", "run", "park"}));
  EXPECT_EQ(analyze("barking barked barks"), (std::vector<std::string>{"bark", "bark", "bark"}));
  // Non-ASCII bytes stay inside their words; digits are words.
  EXPECT_EQ(analyze("café 42x, naïve-2"), (std::vector<std::string>{"café", "42x", "naïv", "2"}));
  EXPECT_TRUE(analyze("the and of  ,;!").empty());
  EXPECT_TRUE(analyze(std::string(65, 'a')).empty());  // longer than a word can be: noise
}

TEST(Analyzer, CountsTermsAndDedupesQueries) {
  const TermCounts c = count_terms("fish fish cat");
  EXPECT_EQ(c.length, 3);
  EXPECT_EQ(c.terms, (std::vector<std::pair<std::string, std::int64_t>>{{"cat", 1}, {"fish", 2}}));
  EXPECT_EQ(query_terms("fish cats fishes cat"), (std::vector<std::string>{"fish", "cat"}));
}

TEST(Bm25, IdfFallsWithDocumentFrequencyAndStaysPositive) {
  EXPECT_GT(bm25::idf(1000, 1), bm25::idf(1000, 10));
  EXPECT_GT(bm25::idf(1000, 10), bm25::idf(1000, 500));
  EXPECT_GT(bm25::idf(1000, 1000), 0.0);
}

}  // namespace
}  // namespace aas::knowledge
