// The in-process lexical index: its MaxScore top k must be exactly what scoring every chunk with
// BM25 gives, whatever it skips.
#include "knowledge/lexical_index.hpp"

#include "knowledge/bm25.hpp"
#include "knowledge/store.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>

namespace aas::knowledge {
namespace {

struct Corpus {
  std::vector<LexicalChunk> chunks;
  std::vector<std::map<std::string, std::int64_t>> tfs;  // per chunk
};

// `n` chunks whose words follow a Zipf-like law over `vocab` words (as in text: a few words in
// most chunks, most words in few), each chunk a different length so no two scores tie.
Corpus make_corpus(const std::string& prefix, int n, int vocab, std::mt19937& rng, int length_base) {
  Corpus c;
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int i = 0; i < n; ++i) {
    std::map<std::string, std::int64_t> tf;
    const int words = 3 + static_cast<int>(u(rng) * 20);
    for (int w = 0; w < words; ++w)
      ++tf["w" + std::to_string(static_cast<int>(std::exp(u(rng) * std::log(static_cast<double>(vocab)))))];
    char id[64];
    std::snprintf(id, sizeof id, "%s-%06d", prefix.c_str(), i);
    LexicalChunk row;
    row.chunk_id = id;
    row.length = length_base + i;  // distinct lengths: no ties
    row.terms = encode_terms({tf.begin(), tf.end()});
    c.chunks.push_back(std::move(row));
    c.tfs.push_back(std::move(tf));
  }
  return c;
}

// BM25 of every chunk of every corpus, best first (ties by chunk id), the top k.
std::vector<ScoredChunk> brute_force(const std::vector<const Corpus*>& corpora, const std::vector<std::string>& terms,
                                     int k) {
  std::int64_t n = 0;
  double total = 0;
  std::map<std::string, std::int64_t> df;
  for (const Corpus* c : corpora)
    for (std::size_t i = 0; i < c->chunks.size(); ++i) {
      ++n;
      total += static_cast<double>(c->chunks[i].length);
      for (const auto& [t, _] : c->tfs[i]) ++df[t];
    }
  const double avgdl = total / static_cast<double>(n);
  std::vector<ScoredChunk> all;
  for (const Corpus* c : corpora)
    for (std::size_t i = 0; i < c->chunks.size(); ++i) {
      double score = 0;
      bool any = false;
      for (const std::string& t : terms) {
        auto it = c->tfs[i].find(t);
        if (it == c->tfs[i].end()) continue;
        any = true;
        const double tf = static_cast<double>(it->second);
        score += bm25::idf(n, df[t]) * (tf * (bm25::k1 + 1)) /
                 (tf + bm25::k1 * (1 - bm25::b + bm25::b * static_cast<double>(c->chunks[i].length) / avgdl));
      }
      if (any) all.push_back({c->chunks[i].chunk_id, score});
    }
  std::sort(all.begin(), all.end(), [](const ScoredChunk& a, const ScoredChunk& b) {
    return a.score != b.score ? a.score > b.score : a.chunk_id < b.chunk_id;
  });
  if (all.size() > static_cast<std::size_t>(k)) all.resize(static_cast<std::size_t>(k));
  return all;
}

void expect_same(const std::vector<ScoredChunk>& got, const std::vector<ScoredChunk>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].chunk_id, want[i].chunk_id) << what << " rank " << i;
    EXPECT_NEAR(got[i].score, want[i].score, 1e-9) << what << " rank " << i;
  }
}

TEST(LexicalIndex, TheTopKIsExactlyBm25sOverOneBaseAndOverSeveral) {
  std::mt19937 rng(12);
  const Corpus a = make_corpus("a", 3000, 400, rng, 10);
  const Corpus b = make_corpus("b", 700, 400, rng, 5000);
  const LexicalIndex ia(a.chunks), ib(b.chunks);
  EXPECT_EQ(ia.size(), 3000u);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  int compared = 0;
  for (int q = 0; q < 200; ++q) {
    std::vector<std::string> terms;
    const int words = 1 + q % 6;
    for (int w = 0; w < words; ++w) {
      // Distinct, as query_terms gives them.
      const std::string t = "w" + std::to_string(static_cast<int>(std::exp(u(rng) * std::log(400.0))));
      if (std::find(terms.begin(), terms.end(), t) == terms.end()) terms.push_back(t);
    }
    if (q % 10 == 0) terms.push_back("absent");
    const auto one = brute_force({&a}, terms, 50), two = brute_force({&a, &b}, terms, 50);
    const auto prefix = [](const std::vector<ScoredChunk>& v, int k) {
      return std::vector<ScoredChunk>(v.begin(), v.begin() + std::min<std::ptrdiff_t>(k, std::ssize(v)));
    };
    for (int k : {1, 3, 10, 50}) {
      expect_same(bm25_top_k({&ia}, terms, k), prefix(one, k), "one base, query " + std::to_string(q));
      expect_same(bm25_top_k({&ia, &ib}, terms, k), prefix(two, k), "two bases, query " + std::to_string(q));
      compared += 2;
    }
  }
  EXPECT_EQ(compared, 1600);
}

TEST(LexicalIndex, RepeatedAndUnknownTermsAndEmptyBasesRankNothingExtra) {
  std::mt19937 rng(3);
  const Corpus a = make_corpus("a", 50, 30, rng, 10);
  const LexicalIndex ia(a.chunks), empty(std::vector<LexicalChunk>{});
  // A term asked twice counts once (queries are distinct terms).
  expect_same(bm25_top_k({&ia}, {"w1", "w1"}, 5), brute_force({&a}, {"w1"}, 5), "repeated");
  EXPECT_TRUE(bm25_top_k({&ia}, {"nowhere"}, 5).empty());
  EXPECT_TRUE(bm25_top_k({&empty}, {"w1"}, 5).empty());
  EXPECT_TRUE(bm25_top_k({}, {"w1"}, 5).empty());
  expect_same(bm25_top_k({&empty, &ia}, {"w2", "w3"}, 7), brute_force({&a}, {"w2", "w3"}, 7), "with an empty base");
}

TEST(LexicalIndex, EncodedTermsRoundTripAndMalformedPiecesAreSkipped) {
  EXPECT_EQ(encode_terms({{"cat", 2}, {"purr", 1}}), "cat:2 purr:1");
  std::vector<std::pair<std::string, std::int64_t>> got;
  for_each_encoded_term("cat:2 purr:1 bad :3 x:y caf\xc3\xa9:4",
                        [&](std::string_view t, std::int64_t tf) { got.emplace_back(std::string(t), tf); });
  EXPECT_EQ(got, (std::vector<std::pair<std::string, std::int64_t>>{{"cat", 2}, {"purr", 1}, {"caf\xc3\xa9", 4}}));
  const LexicalIndex index({{"c1", 3, "cat:2 purr:1"}, {"c2", 1, "cat:1"}});
  ASSERT_NE(index.find("cat"), nullptr);
  EXPECT_EQ(index.find("cat")->chunks, (std::vector<std::uint32_t>{0, 1}));
  EXPECT_EQ(index.find("cat")->tf, (std::vector<std::uint16_t>{2, 1}));
  EXPECT_EQ(index.chunk_id(1), "c2");
  EXPECT_EQ(index.total_length(), 4);
}

}  // namespace
}  // namespace aas::knowledge
