#pragma once
// The Store conformance suite: the behaviour every adapter of the Store port must show. The tests
// live in store_conformance.cpp; an adapter runs them by instantiating the suite with a backend
// that makes fresh databases, e.g.
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance,
//                            ::testing::Values(StoreBackend{"sqlite", make_sqlite_database}),
//                            backend_name);
//
// Ordering by time is driven by FakeClock, never by sleeping.
#include "core/clock.hpp"
#include "store/store.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace aas::store::testing {

// A clock the test moves by hand. Thread safe, for the concurrency tests.
class FakeClock final : public Clock {
 public:
  // 2026-09-21T14:13:20Z: any fixed instant will do.
  static constexpr std::int64_t kStartMs = 1'790'000'000'000;

  TimePoint now() const override { return from_unix_ms(ms_.load()); }
  void advance(std::chrono::milliseconds d) { ms_ += d.count(); }
  void set(TimePoint t) { ms_ = to_unix_ms(t); }

 private:
  std::atomic<std::int64_t> ms_{kStartMs};
};

// Opens a store on one database. Called several times within a test (to reopen, or to look at
// the same data from a second store), each time on the same database.
using StoreFactory = std::function<std::unique_ptr<Store>(const Clock&)>;

struct StoreBackend {
  std::string name;  // a valid test-name suffix: letters, digits, underscores
  // Makes a fresh, empty (unmigrated) database for one test and returns the factory for it. The
  // factory owns the database: when its last copy is destroyed, the database is removed.
  std::function<StoreFactory()> fresh_database;
};

inline void PrintTo(const StoreBackend& b, std::ostream* os) { *os << b.name; }

inline std::string backend_name(const ::testing::TestParamInfo<StoreBackend>& info) {
  return info.param.name;
}

class StoreConformance : public ::testing::TestWithParam<StoreBackend> {
 protected:
  // A fresh database, opened and migrated.
  void SetUp() override;
  void TearDown() override;

  std::unique_ptr<Store> open_store() { return factory_(clock_); }

  // Shorthands that fail the test when the store fails.
  Conversation create(const std::string& user_id, std::optional<std::string> title = {});
  Message append(const std::string& user_id, const std::string& conversation_id,
                 const std::string& content, Role role = Role::user);
  std::vector<Conversation> list_all(const std::string& user_id, int limit);
  std::vector<Message> list_all_messages(const std::string& user_id,
                                         const std::string& conversation_id, int limit);

  FakeClock clock_;  // declared first: outlives every store
  StoreFactory factory_;
  std::unique_ptr<Store> store_;
};

}  // namespace aas::store::testing
