#pragma once
// The knowledge store conformance suite: what every adapter of knowledge::KnowledgeStore must do.
// Instantiated by sqlite_store_test.cpp and postgres_store_test.cpp with a backend that makes a
// fresh database and opens the main store (which migrates it) and the knowledge store on it.
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
};

}  // namespace aas::store::testing
