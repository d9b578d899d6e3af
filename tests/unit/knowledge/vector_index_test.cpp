#include "knowledge/vector_index.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <thread>

namespace aas::knowledge {
namespace {

std::vector<float> random_vector(std::mt19937& rng, int dim) {
  std::normal_distribution<float> d;
  std::vector<float> v(dim);
  for (auto& x : v) x = d(rng);
  return v;
}

using Factory = std::unique_ptr<VectorIndex> (*)(int);
std::unique_ptr<VectorIndex> exact(int dim) { return make_exact_index(dim); }
std::unique_ptr<VectorIndex> hnsw(int dim) { return make_hnsw_index(dim, 16); }
std::unique_ptr<VectorIndex> adaptive(int dim) { return make_adaptive_index(dim, 0, 700); }  // switches mid-test

class EveryIndex : public ::testing::TestWithParam<Factory> {};

TEST_P(EveryIndex, RanksByCosineSimilarityBestFirst) {
  auto index = GetParam()(3);
  EXPECT_EQ(index->dimension(), 3);
  index->upsert(1, std::vector<float>{1, 0, 0});
  index->upsert(2, std::vector<float>{0, 5, 0});  // length does not matter: cosine
  index->upsert(3, std::vector<float>{1, 1, 0});
  EXPECT_EQ(index->size(), 3u);
  const auto hits = index->search(std::vector<float>{10, 0, 0}, 10);
  ASSERT_EQ(hits.size(), 3u);
  EXPECT_EQ(hits[0].first, 1u);
  EXPECT_NEAR(hits[0].second, 1.0f, 1e-5);
  EXPECT_EQ(hits[1].first, 3u);
  EXPECT_NEAR(hits[1].second, std::sqrt(0.5f), 1e-5);
  EXPECT_EQ(hits[2].first, 2u);
  EXPECT_NEAR(hits[2].second, 0.0f, 1e-5);
  EXPECT_EQ(index->search(std::vector<float>{1, 0, 0}, 1).size(), 1u);
  EXPECT_TRUE(index->search(std::vector<float>{1, 0, 0}, 0).empty());
  EXPECT_GT(index->memory_bytes(), 0u);
}

TEST_P(EveryIndex, UpsertReplacesAndRemoveForgets) {
  auto index = GetParam()(2);
  index->upsert(7, std::vector<float>{1, 0});
  index->upsert(8, std::vector<float>{0, 1});
  index->upsert(7, std::vector<float>{-1, 0});  // replaced
  EXPECT_EQ(index->size(), 2u);
  auto hits = index->search(std::vector<float>{1, 0}, 1);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].first, 8u);
  index->remove(8);
  index->remove(8);     // twice: ignored
  index->remove(1234);  // unknown: ignored
  EXPECT_EQ(index->size(), 1u);
  hits = index->search(std::vector<float>{1, 0}, 5);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].first, 7u);
  EXPECT_NEAR(hits[0].second, -1.0f, 1e-5);
  index->upsert(8, std::vector<float>{1, 0});  // back after removal
  EXPECT_EQ(index->size(), 2u);
  EXPECT_EQ(index->search(std::vector<float>{1, 0}, 1).at(0).first, 8u);
  index->remove(7);
  index->remove(8);
  EXPECT_EQ(index->size(), 0u);
  EXPECT_TRUE(index->search(std::vector<float>{1, 0}, 5).empty());
}

TEST_P(EveryIndex, RefusesAWrongDimensionOrNonFiniteValues) {
  auto index = GetParam()(4);
  EXPECT_THROW(index->upsert(1, std::vector<float>{1, 2, 3}), std::invalid_argument);
  EXPECT_THROW(index->search(std::vector<float>{1, 2, 3, 4, 5}, 3), std::invalid_argument);
  EXPECT_THROW(index->upsert(1, std::vector<float>{1, std::numeric_limits<float>::quiet_NaN(), 0, 0}), std::invalid_argument);
  EXPECT_THROW(index->upsert(1, std::vector<float>{1, std::numeric_limits<float>::infinity(), 0, 0}), std::invalid_argument);
  EXPECT_EQ(index->size(), 0u);
  index->upsert(1, std::vector<float>{0, 0, 0, 0});  // a zero vector is stored, similar to nothing
  EXPECT_NEAR(index->search(std::vector<float>{1, 0, 0, 0}, 1).at(0).second, 0.0f, 1e-6);
}

TEST_P(EveryIndex, ConcurrentSearchesWithAWriter) {
  auto index = GetParam()(16);
  std::mt19937 rng(7);
  for (int i = 0; i < 500; ++i) index->upsert(i, random_vector(rng, 16));
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      std::mt19937 r(100 + t);
      while (!stop) {
        const auto hits = index->search(random_vector(r, 16), 10);
        if (hits.size() != 10) ++bad;
        for (std::size_t i = 1; i < hits.size(); ++i) {
          if (hits[i].second > hits[i - 1].second + 1e-6f) ++bad;
        }
      }
    });
  }
  for (int i = 500; i < 1500; ++i) {
    index->upsert(i, random_vector(rng, 16));
    if (i % 2 == 0) index->remove(i - 400);
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(index->size(), 1000u);
}

INSTANTIATE_TEST_SUITE_P(Kinds, EveryIndex, ::testing::Values(&exact, &hnsw, &adaptive));

TEST(VectorIndex, RefusesANonPositiveDimension) {
  EXPECT_THROW(make_vector_index(0, 0), std::invalid_argument);
  EXPECT_THROW(make_exact_index(-1), std::invalid_argument);
}

double recall_at_10(const VectorIndex& approx, const VectorIndex& truth, const std::vector<std::vector<float>>& queries) {
  double sum = 0;
  for (const auto& q : queries) {
    std::set<std::uint64_t> expected;
    for (const auto& [key, score] : truth.search(q, 10)) expected.insert(key);
    int found = 0;
    for (const auto& [key, score] : approx.search(q, 10)) found += expected.contains(key);
    sum += found / 10.0;
  }
  return sum / static_cast<double>(queries.size());
}

TEST(HnswIndex, RecallAt10AgainstExactSearch) {
  constexpr int dim = 48;
  std::mt19937 rng(42);
  auto truth = make_exact_index(dim);
  auto approx = make_hnsw_index(dim, 100);  // grows past its first capacity (1024)
  for (int i = 0; i < 3000; ++i) {
    const auto v = random_vector(rng, dim);
    truth->upsert(i, v);
    approx->upsert(i, v);
  }
  std::vector<std::vector<float>> queries;
  for (int i = 0; i < 200; ++i) queries.push_back(random_vector(rng, dim));
  EXPECT_GE(recall_at_10(*approx, *truth, queries), 0.95);
  // After removing a fifth, removed keys never come back and recall holds.
  for (int i = 0; i < 3000; i += 5) {
    truth->remove(i);
    approx->remove(i);
  }
  EXPECT_EQ(approx->size(), 2400u);
  for (const auto& q : queries) {
    for (const auto& [key, score] : approx->search(q, 10)) EXPECT_NE(key % 5, 0u);
  }
  EXPECT_GE(recall_at_10(*approx, *truth, queries), 0.95);
}

TEST(AdaptiveIndex, SwitchesToHnswPastTheThresholdWithoutLosingVectors) {
  constexpr int dim = 16;
  constexpr std::size_t exact_max = 1500;
  std::mt19937 rng(3);
  auto index = make_adaptive_index(dim, 0, exact_max);
  const std::size_t before = index->memory_bytes();
  std::vector<std::vector<float>> vectors;
  for (std::size_t i = 0; i <= exact_max + 100; ++i) {
    vectors.push_back(random_vector(rng, dim));
    index->upsert(i, vectors.back());
  }
  EXPECT_EQ(index->size(), vectors.size());
  int self_found = 0;
  for (std::size_t i = 0; i < vectors.size(); ++i) {
    const auto hits = index->search(vectors[i], 1);
    self_found += !hits.empty() && hits[0].first == i;
  }
  EXPECT_GE(self_found, static_cast<int>(vectors.size() * 98 / 100));
  EXPECT_GT(index->memory_bytes(), before);
}

}  // namespace
}  // namespace aas::knowledge
