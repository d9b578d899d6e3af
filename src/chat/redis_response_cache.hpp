#pragma once
// The response cache in Redis (production mode): every replica answers a repeated deterministic
// request from what any of them stored. One string per answer, "<finish_reason>\n<content>",
// under <prefix>cache:<hex key>, expiring after the TTL (Redis does the expiry, so no eviction
// logic here; Redis's maxmemory policy bounds the size). Redis being down is a miss, never an error.
#include "chat/response_cache.hpp"
#include "redis/client.hpp"

#include <atomic>
#include <chrono>
#include <string>

namespace aas::chat {

class RedisResponseCache final : public ResponseCache {
 public:
  RedisResponseCache(redis::Client& redis, std::string prefix, std::chrono::milliseconds ttl);
  std::optional<CachedAnswer> get(const std::string& key) override;
  void put(const std::string& key, CachedAnswer answer) override;

 private:
  std::string redis_key(const std::string& key) const;
  void failed(const Error& e);

  redis::Client& redis_;
  std::string prefix_;
  std::chrono::milliseconds ttl_;
  std::atomic<bool> degraded_{false};  // logged once per outage
};

}  // namespace aas::chat
