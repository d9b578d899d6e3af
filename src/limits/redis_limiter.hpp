#pragma once
// The Limiter kept in Redis, so every replica enforces one user's limits together: each acquire,
// settle and status is one Lua script, atomic in Redis, making the same decision as LocalLimiter
// (limits/decision.hpp) from the same figures. Per user, under the hash tag {user}:
//   <prefix>lim:{user}            hash: rpm / tpm bucket levels and when they were last filled
//   <prefix>lim:{user}:holds      zset: grants in flight, scored by when their lease ends
//   <prefix>lim:{user}:hold       hash: grant id -> "cost day month stream tokens"
//   <prefix>lim:{user}:d:<day>    string: micro-dollars spent that UTC day (from the ledger, then
//   <prefix>lim:{user}:m:<month>  kept up by settles); likewise for the month
// A grant whose replica stops before settling it is charged its worst case when its lease ends.
// Time comes from the injected clock (the tests move it), not from Redis.
//
// When Redis cannot be reached: fail open serves from an in-process LocalLimiter (each replica
// then enforces the limits on its own: N replicas admit up to N times a user's limits until Redis
// is back), fail closed refuses with 503 `unavailable`.
#include "limits/local_limiter.hpp"
#include "redis/client.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <string>

namespace aas::limits {

struct RedisLimiterOptions {
  std::string prefix = "aas:";
  // Longer than any request may last (streams included): when it ends, an unsettled grant is
  // taken for lost and charged in full.
  std::chrono::milliseconds lease{std::chrono::hours(1)};
  bool fail_open = true;
};

class RedisLimiter final : public Limiter {
 public:
  RedisLimiter(redis::Client& redis, const Clock& clock, SpentLoader spent, RedisLimiterOptions options,
               std::function<void(Limit)> on_refusal = {});
  ~RedisLimiter() override;

  Result<Grant> acquire(std::string_view user, const Policy& policy, const Ask& ask) override;
  Status status(std::string_view user, const Policy& policy) override;
  bool may_block(std::string_view, const Policy&) override { return true; }  // every call is a round trip

 protected:
  void settle(const Grant& grant, std::int64_t used_tokens, std::int64_t used_cost_micros) override;

 private:
  struct Keys;
  Keys keys(std::string_view user, const std::string& day, const std::string& month) const;
  // Runs the acquire/status script, first loading a budget period's spending from the ledger
  // when Redis does not have it yet.
  // `ledger_failed` tells a failed ledger read apart from Redis failing.
  Result<redis::Reply> run(const Keys& keys, std::string_view user, std::vector<std::string> args,
                           bool& ledger_failed);
  Result<Grant> unreachable(std::string_view user, const Policy& policy, const Ask& ask, const Error& e);

  redis::Client& redis_;
  const Clock& clock_;
  SpentLoader spent_;
  RedisLimiterOptions options_;
  std::function<void(Limit)> on_refusal_;
  LocalLimiter fallback_;
  std::atomic<bool> degraded_{false};  // logged once per outage, not per request
};

}  // namespace aas::limits
