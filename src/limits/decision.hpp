#pragma once
// What every Limiter decides the same way, whatever keeps its state: which limit refuses a
// request given where the user stands, the error that says so, and the status report. The Redis
// adapter's Lua script makes the same decision inside Redis (atomically for all replicas) and
// hands the figures back here to word the answer.
#include "core/clock.hpp"
#include "limits/limiter.hpp"

#include <optional>
#include <string>

namespace aas::limits {

// Where a user stands at one instant.
struct Snapshot {
  double requests = 0;  // rpm / tpm bucket levels, refilled up to now (may be negative: a debt)
  double tokens = 0;
  std::int64_t streams = 0;
  std::int64_t day_spent = 0;
  std::int64_t day_reserved = 0;
  std::int64_t month_spent = 0;
  std::int64_t month_reserved = 0;
};

// The budget periods of an instant: "YYYY-MM-DD" of the UTC day and of the month's first day.
struct Periods {
  std::string day;
  std::string month;
};
Periods periods(TimePoint now);

// The tokens a request takes from the tpm bucket: its ask, but at most the whole minute's
// allowance (a larger request still passes once the bucket is full).
std::int64_t tokens_held(const Policy& policy, const Ask& ask);

// The first limit that refuses, in the order streams, rpm, tpm, daily, monthly; none: admit.
std::optional<Limit> first_refusal(const Snapshot& s, const Policy& policy, const Ask& ask);

// rate_limited / budget_exceeded with the message, Retry-After and RateLimit-* figures.
Error refusal_error(Limit limit, const Snapshot& s, const Policy& policy, const Ask& ask, TimePoint now);

Status status_from(const Snapshot& s, const Policy& policy, TimePoint now);

}  // namespace aas::limits
