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


// A snapshot kept up to date change by change (documents indexed, indexed again, deleted, a change
// applied twice; small segments merged on the way, everything compacted now and then) ranks
// exactly as one index built from the rows of the same moment: the same chunks, the same scores to
// the bit (the statistics are over live chunks only, and each score sums its terms in one order).
TEST(LexicalSnapshot, ChangesAppliedOneByOneRankExactlyAsAFullRebuild) {
  std::mt19937 rng(11);
  std::map<std::string, std::vector<LexicalChunk>> db;  // document -> its chunks now
  int next_chunk = 0, next_doc = 0;
  const auto chunks_for = [&](const std::string& doc) {
    std::vector<LexicalChunk> out;
    Corpus c = make_corpus("x", 1 + static_cast<int>(rng() % 6), 40, rng, 5);
    for (LexicalChunk& ch : c.chunks) {
      char id[32];
      std::snprintf(id, sizeof id, "c%06d", next_chunk++);
      ch.chunk_id = id;
      ch.document_id = doc;
      ch.length = 5 + static_cast<std::int64_t>(rng() % 40);  // ties happen, and break by chunk id
      out.push_back(std::move(ch));
    }
    return out;
  };
  const auto all_rows = [&] {
    std::vector<LexicalChunk> rows;
    for (const auto& [_, chunks] : db) rows.insert(rows.end(), chunks.begin(), chunks.end());
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.chunk_id < b.chunk_id; });
    return rows;
  };
  for (int i = 0; i < 20; ++i) {
    const std::string doc = "d" + std::to_string(next_doc++);
    db[doc] = chunks_for(doc);
  }
  std::int64_t version = 1;
  auto snap = LexicalSnapshot::load({version, all_rows()});
  const auto compare = [&](const std::string& when) {
    const std::vector<LexicalChunk> rows = all_rows();
    const LexicalIndex full(rows);
    ASSERT_EQ(snap->live_chunks(), rows.size()) << when;
    for (int q = 0; q < 6; ++q) {
      std::vector<std::string> terms;
      for (int t = 0; t < 2 + q % 3; ++t) terms.push_back("w" + std::to_string(1 + rng() % 40));
      for (int k : {1, 5, 20}) {
        const auto got = bm25_top_k_segments(snap->views(), terms, k);
        const auto want = bm25_top_k({&full}, terms, k);
        ASSERT_EQ(got.size(), want.size()) << when;
        for (std::size_t r = 0; r < got.size(); ++r) {
          EXPECT_EQ(got[r].chunk_id, want[r].chunk_id) << when << " k " << k << " rank " << r;
          EXPECT_EQ(got[r].score, want[r].score) << when << " k " << k << " rank " << r;
        }
      }
    }
  };
  compare("loaded");
  std::size_t most_segments = 0;
  for (int step = 0; step < 400; ++step) {
    LexicalChanges changes;
    changes.complete = true;
    // One to three documents per change set (a replica catching up on several at once).
    const int n = 1 + static_cast<int>(rng() % 3);
    for (int j = 0; j < n; ++j) {
      const auto op = rng() % 10;
      std::string doc;
      if (op < 5 || db.empty()) {
        doc = "d" + std::to_string(next_doc++);
        db[doc] = chunks_for(doc);
      } else {
        auto it = db.begin();
        std::advance(it, static_cast<long>(rng() % db.size()));
        doc = it->first;
        if (op < 7) it->second = chunks_for(doc);  // indexed again: new chunks
        else db.erase(it);                          // deleted
      }
      changes.documents.push_back(doc);
    }
    for (const std::string& doc : changes.documents)
      if (auto it = db.find(doc); it != db.end()) changes.chunks.insert(changes.chunks.end(), it->second.begin(), it->second.end());
    std::sort(changes.chunks.begin(), changes.chunks.end(), [](const auto& a, const auto& b) { return a.chunk_id < b.chunk_id; });
    changes.version = ++version;
    snap = snap->apply(changes, 4);
    if (step % 7 == 0) snap = snap->apply(changes, 4);  // the same changes again: no effect
    EXPECT_EQ(snap->version, version);
    EXPECT_LE(snap->segments.size(), 5u);
    most_segments = std::max(most_segments, snap->segments.size());
    if (step % 10 == 0) compare("step " + std::to_string(step));
    if (step % 100 == 99) {
      snap = snap->compacted();
      EXPECT_LE(snap->segments.size(), 1u);
      compare("compacted at step " + std::to_string(step));
    }
  }
  EXPECT_GT(most_segments, 2u);  // the merging was exercised
  compare("the end");
}

// Merging keeps every live chunk's postings and drops the deleted ones'.
TEST(LexicalSnapshot, AMergedSegmentHoldsTheLiveChunksOnly) {
  auto snap = LexicalSnapshot::load({1, {{"a1", 2, "cat:1 dog:1", "A"}, {"a2", 1, "cat:1", "A"}, {"b1", 1, "dog:1", "B"}}});
  LexicalChanges gone_a;
  gone_a.version = 2;
  gone_a.complete = true;
  gone_a.documents = {"A"};
  snap = snap->apply(gone_a);
  ASSERT_EQ(snap->segments.size(), 1u);
  ASSERT_NE(snap->segments[0].deleted, nullptr);
  EXPECT_EQ(snap->live_chunks(), 1u);
  EXPECT_TRUE(snap->wants_compaction());
  EXPECT_TRUE(bm25_top_k_segments(snap->views(), {"cat"}, 5).empty());
  snap = snap->compacted();
  ASSERT_EQ(snap->segments.size(), 1u);
  const LexicalIndex& only = *snap->segments[0].index;
  EXPECT_EQ(only.size(), 1u);
  EXPECT_EQ(only.chunk_id(0), "b1");
  EXPECT_EQ(only.find("cat"), nullptr);
  ASSERT_NE(only.find("dog"), nullptr);
  EXPECT_EQ(only.find("dog")->chunks, (std::vector<std::uint32_t>{0}));
  ASSERT_NE(only.chunks_of("B"), nullptr);
  EXPECT_EQ(only.chunks_of("A"), nullptr);
}


// What the cache's memory gauge reads: every index's postings, ids and documents, plus what a
// segment's deletions hold; it grows with what is indexed.
TEST(LexicalSnapshot, MemoryGrowsWithTheIndexAndItsDeletions) {
  auto small = LexicalSnapshot::load({1, {{"a1", 2, "cat:1 dog:1", "A"}}});
  auto large = LexicalSnapshot::load({1, {{"a1", 2, "cat:1 dog:1", "A"}, {"a2", 3, "cat:2 eel:1", "A"},
                                          {"b1", 1, "fox:1", "B"}}});
  EXPECT_GT(small->memory_bytes(), 0u);
  EXPECT_GT(large->memory_bytes(), small->memory_bytes());
  EXPECT_EQ(large->memory_bytes(), large->segments[0].index->memory_bytes()) << "no deletions yet";
  LexicalChanges gone;
  gone.version = 2;
  gone.complete = true;
  gone.documents = {"B"};
  auto deleted = large->apply(gone);
  ASSERT_NE(deleted->segments[0].deleted, nullptr);
  EXPECT_GT(deleted->memory_bytes(), deleted->segments[0].index->memory_bytes()) << "the deletions count too";
}

}  // namespace
}  // namespace aas::knowledge
