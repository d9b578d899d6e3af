#pragma once
// The knowledge store conformance suite: what every adapter of knowledge::KnowledgeStore must do.
// Instantiated by sqlite_store_test.cpp and postgres_store_test.cpp with a backend that makes a
// fresh database and opens the main store (which migrates it) and the knowledge store on it.
#include "knowledge/lexical_index.hpp"
#include "knowledge/store.hpp"
#include "store/store.hpp"
#include "store_conformance.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>

namespace aas::store::testing {

struct KnowledgeStores {
  std::unique_ptr<Store> main;
  std::unique_ptr<knowledge::KnowledgeStore> knowledge;
};

struct KnowledgeBackend {
  std::string name;
  // A fresh database; the function opens both stores on it (with the clock given).
  std::function<std::function<KnowledgeStores(const Clock&)>()> fresh_database;
};

inline void PrintTo(const KnowledgeBackend& b, std::ostream* os) { *os << b.name; }
inline std::string knowledge_backend_name(const ::testing::TestParamInfo<KnowledgeBackend>& info) {
  return info.param.name;
}

class KnowledgeConformance : public ::testing::TestWithParam<KnowledgeBackend> {
 protected:
  void SetUp() override;
  void TearDown() override;

  FakeClock clock_;
  std::function<KnowledgeStores(const Clock&)> open_;
  KnowledgeStores stores_;
  knowledge::KnowledgeStore* kb_ = nullptr;

  // Lexical search over the store's records, as the knowledge service ranks it (one cache for the
  // test, so a base indexed again is seen through a stale copy unless its version moved).
  std::vector<knowledge::Passage> lexical(const std::string& user, const std::vector<std::string>& ids,
                                          const std::vector<std::string>& terms, int k) {
    auto r = lexical_cache_.search(*kb_, user, ids, terms, k);
    EXPECT_TRUE(r) << r.error().detail;
    return r ? std::move(*r) : std::vector<knowledge::Passage>{};
  }
  knowledge::LexicalCache lexical_cache_;
};

}  // namespace aas::store::testing
