// The response cache in Redis (a real server from scripts/with-redis.sh): what one replica stores
// another finds, entries expire after the TTL, and Redis being down is a miss, not an error.
#include "chat/redis_response_cache.hpp"
#include "testing/redis_server.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace aas::chat {
namespace {

using namespace std::chrono_literals;

TEST(RedisResponseCache, WhatOneReplicaStoresAnotherFinds) {
  AAS_REQUIRE_REDIS(options);
  const std::string prefix = testing::fresh_prefix();
  redis::Client ca(options), cb(options);
  RedisResponseCache a(ca, prefix, 60s), b(cb, prefix, 60s);
  const std::string key = std::string{'\0', '\x01'} + "binary key" + '\xff';
  EXPECT_FALSE(b.get(key));
  a.put(key, CachedAnswer{"line one\nline two", "stop"});
  auto hit = b.get(key);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->content, "line one\nline two");
  EXPECT_EQ(hit->finish_reason, "stop");
  EXPECT_FALSE(b.get(key + "x"));
  // Readable keys for operators: the prefix, then the hex of the key.
  auto stored = ca.command({"EXISTS", prefix + "cache:000162696e617279206b6579ff"});
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->integer, 1);
}

TEST(RedisResponseCache, EntriesExpireAfterTheTtl) {
  AAS_REQUIRE_REDIS(options);
  redis::Client c(options);
  // Redis expires keys on its own clock, so real time has to pass. The entry's TTL is read as Redis
  // holds it (what is left of the second, or -2 when a loaded machine took longer than that from
  // put to here: never -1, no TTL), then the entry is polled for until Redis drops it (up to 30 s).
  const std::string prefix = testing::fresh_prefix();
  RedisResponseCache cache(c, prefix, 1s);
  cache.put("k", CachedAnswer{"answer", "length"});
  auto pttl = c.command({"PTTL", prefix + "cache:6b"});
  ASSERT_TRUE(pttl);
  EXPECT_TRUE(pttl->integer == -2 || (pttl->integer > 0 && pttl->integer <= 1000)) << pttl->integer;
  for (int i = 0; i < 600 && cache.get("k"); ++i) std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(cache.get("k")) << "Redis expired it";
}

TEST(RedisResponseCache, AnUnreachableRedisIsAMiss) {
  redis::Options o;
  o.port = 9;  // nothing listens
  o.connect_timeout = 200ms;
  redis::Client c(o);
  RedisResponseCache cache(c, "aas:", 60s);
  cache.put("k", CachedAnswer{"answer", "stop"});
  EXPECT_FALSE(cache.get("k"));
}

}  // namespace
}  // namespace aas::chat
