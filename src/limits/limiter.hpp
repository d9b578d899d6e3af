#pragma once
// The Limiter port: per-user rate limits (requests and tokens per minute), concurrent streams,
// and daily / monthly USD budgets. A request asks for its worst case before the model is called
// (estimated prompt tokens + the most output it may produce, and that priced); the grant holds it
// against every limit at once, so N parallel requests cannot overshoot, and settling replaces it
// by what was actually used. LocalLimiter keeps the state in-process; RedisLimiter (production
// mode, REDIS_URL) keeps it in Redis so the limits hold for all replicas together.
#include "core/error.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace aas::limits {

// One user's limits. 0 means no limit for the counts; an empty budget means no budget.
struct Policy {
  std::int64_t requests_per_minute = 0;
  std::int64_t tokens_per_minute = 0;
  std::int64_t concurrent_streams = 0;
  std::optional<std::int64_t> daily_budget_micros;
  std::optional<std::int64_t> monthly_budget_micros;
};

// What one model call may use at most.
struct Ask {
  std::int64_t tokens = 0;       // estimated prompt tokens + maximum output tokens
  std::int64_t cost_micros = 0;  // that, priced; 0 for an unpriced model
  bool stream = false;           // takes one of the user's concurrent stream slots
};

enum class Limit { requests_per_minute, tokens_per_minute, concurrent_streams, daily_budget, monthly_budget };
// "rpm", "tpm", "concurrency", "budget_daily", "budget_monthly": metric labels and error text.
std::string_view label(Limit limit) noexcept;

class Limiter;

// A granted request's hold on the limits. Settle it with what was used; one dropped unsettled
// is settled at its full reservation (the safe side).
class Grant {
 public:
  Grant() = default;
  // `id` names the hold where the limiter keeps it outside this process (Redis).
  Grant(Limiter* owner, std::string user, Ask ask, std::string day, std::string month, std::string id = {})
      : owner_(owner),
        user_(std::move(user)),
        ask_(ask),
        day_(std::move(day)),
        month_(std::move(month)),
        id_(std::move(id)) {}
  Grant(Grant&& o) noexcept { *this = std::move(o); }
  Grant& operator=(Grant&& o) noexcept;
  Grant(const Grant&) = delete;
  Grant& operator=(const Grant&) = delete;
  ~Grant();

  void settle(std::int64_t used_tokens, std::int64_t used_cost_micros);

  const std::string& user() const { return user_; }
  const Ask& ask() const { return ask_; }
  const std::string& day() const { return day_; }      // the budget periods it reserved in
  const std::string& month() const { return month_; }
  const std::string& id() const { return id_; }

 private:
  Limiter* owner_ = nullptr;
  std::string user_;
  Ask ask_;
  std::string day_;
  std::string month_;
  std::string id_;
};

// Where a user stands, for GET /api/ai/usage/me.
struct Window {
  std::int64_t limit = 0;      // 0: none
  std::int64_t remaining = 0;
  std::int64_t reset_seconds = 0;  // until the window is whole again (budgets: the period ends)
};
struct BudgetState {
  std::optional<std::int64_t> limit_micros;  // none: no budget
  std::int64_t spent_micros = 0;
  std::int64_t reserved_micros = 0;  // held by requests in flight
  std::int64_t reset_seconds = 0;
};
struct Status {
  Window requests_per_minute;
  Window tokens_per_minute;
  std::int64_t concurrent_streams_limit = 0;
  std::int64_t active_streams = 0;
  BudgetState daily;
  BudgetState monthly;
};

class Limiter {
 public:
  virtual ~Limiter() = default;
  // A grant, or rate_limited / budget_exceeded naming the limit, with Retry-After and the
  // RateLimit-* figures of the limit that refused. Nothing is held when it refuses.
  virtual Result<Grant> acquire(std::string_view user, const Policy& policy, const Ask& ask) = 0;
  virtual Status status(std::string_view user, const Policy& policy) = 0;
  // Whether acquire() for this user may wait on I/O (Redis; the ledger, read the first time a
  // budget period of the user is seen): then it belongs on the blocking pool. Otherwise it is a
  // few arithmetic steps under a mutex, fit for an I/O thread (issue 16: one hop fewer a call).
  virtual bool may_block(std::string_view user, const Policy& policy) = 0;

 protected:
  friend class Grant;
  // Replaces the grant's reservation by what was used and frees its stream slot.
  virtual void settle(const Grant& grant, std::int64_t used_tokens, std::int64_t used_cost_micros) = 0;
};

}  // namespace aas::limits
