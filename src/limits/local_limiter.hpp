#pragma once
// The in-process Limiter: token buckets for requests and tokens per minute, a counter of open
// streams, and budget periods (UTC day and month) whose spending is loaded from the usage ledger
// the first time a user is seen in a period, then kept here. Thread safe (one mutex: every
// operation is a few arithmetic steps).
#include "core/clock.hpp"
#include "limits/limiter.hpp"

#include <functional>
#include <memory>

namespace aas::limits {

// A user's priced spending from a UTC day (inclusive) on, from the ledger.
using SpentLoader = std::function<Result<std::int64_t>(std::string_view user, std::string_view from_day)>;

class LocalLimiter final : public Limiter {
 public:
  // `on_refusal` (optional) is told which limit refused a request (metrics).
  LocalLimiter(const Clock& clock, SpentLoader spent, std::function<void(Limit)> on_refusal = {});
  ~LocalLimiter() override;

  Result<Grant> acquire(std::string_view user, const Policy& policy, const Ask& ask) override;
  Status status(std::string_view user, const Policy& policy) override;
  bool may_block(std::string_view user, const Policy& policy) override;

 protected:
  void settle(const Grant& grant, std::int64_t used_tokens, std::int64_t used_cost_micros) override;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace aas::limits
