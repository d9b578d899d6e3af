#pragma once
// The Redis server the tests run against: AAS_TEST_REDIS_URL, which ctest sets by running the
// suites through scripts/with-redis.sh. Without it a test FAILS (a run that did not happen is not
// a pass), unless AAS_SKIP_REDIS=1 asks to skip the Redis tests for a quick local run.
#include "core/ids.hpp"
#include "redis/client.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

namespace aas::testing {

inline std::optional<redis::Options> test_redis() {
  const char* url = std::getenv("AAS_TEST_REDIS_URL");
  if (!url || !*url) return std::nullopt;
  auto o = redis::parse_url(url);
  if (!o) return std::nullopt;
  return *o;
}

inline bool redis_skip_requested() {
  const char* skip = std::getenv("AAS_SKIP_REDIS");
  return skip && std::string_view(skip) == "1";
}

// A key prefix no other test uses, so tests share one server without seeing each other.
inline std::string fresh_prefix() { return "test:" + new_uuid_v7() + ":"; }

}  // namespace aas::testing

// In a test body: the server's options, or skip / fail as the environment says.
#define AAS_REQUIRE_REDIS(options)                                                          \
  auto options##_found = ::aas::testing::test_redis();                                      \
  if (!options##_found) {                                                                   \
    if (::aas::testing::redis_skip_requested()) GTEST_SKIP() << "AAS_SKIP_REDIS=1";          \
    FAIL() << "AAS_TEST_REDIS_URL is not set: run through scripts/with-redis.sh (ctest does)"; \
  }                                                                                         \
  const ::aas::redis::Options options = *options##_found
