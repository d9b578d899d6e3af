#include "limits/decision.hpp"

#include "domain/usage.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

namespace aas::limits {

namespace {

// Seconds until a bucket refilling `capacity` a minute holds `need`.
std::int64_t seconds_until(double level, double need, double capacity) {
  if (level >= need) return 0;
  return static_cast<std::int64_t>(std::ceil((need - level) * 60.0 / capacity));
}

std::int64_t seconds_between(TimePoint from, TimePoint to) {
  return std::max<std::int64_t>(
      1, std::chrono::duration_cast<std::chrono::seconds>(to - from).count() + 1);
}

TimePoint next_day(TimePoint now) {
  return std::chrono::floor<std::chrono::days>(now) + std::chrono::days(1);
}

TimePoint next_month(TimePoint now) {
  const std::chrono::year_month_day ymd{std::chrono::floor<std::chrono::days>(now)};
  const std::chrono::year_month first{ymd.year(), ymd.month()};
  return std::chrono::sys_days{(first + std::chrono::months(1)) / 1};
}

Error refusal(errc code, std::string message, std::int64_t limit, std::int64_t remaining,
              std::int64_t reset, std::int64_t retry_after) {
  Error e = make_error(code, std::move(message));
  e.retry_after_seconds = static_cast<int>(std::clamp<std::int64_t>(retry_after, 1, 40 * 86400));
  e.rate_limit = Error::RateLimit{limit, std::max<std::int64_t>(0, remaining), reset};
  return e;
}

std::string usd(std::int64_t micros) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "$%.2f", static_cast<double>(micros) / 1e6);
  return buf;
}

bool budget_refuses(std::int64_t spent, std::int64_t reserved, std::int64_t budget, const Ask& ask) {
  const std::int64_t held = spent + reserved;
  return held >= budget || held + ask.cost_micros > budget;
}

}  // namespace

Periods periods(TimePoint now) {
  Periods p;
  p.day = domain::utc_day(now);
  p.month = p.day.substr(0, 8) + "01";
  return p;
}

std::int64_t tokens_held(const Policy& policy, const Ask& ask) {
  const std::int64_t tokens = std::max<std::int64_t>(ask.tokens, 0);
  return policy.tokens_per_minute > 0 ? std::min(policy.tokens_per_minute, tokens) : tokens;
}

std::optional<Limit> first_refusal(const Snapshot& s, const Policy& policy, const Ask& ask) {
  if (ask.stream && policy.concurrent_streams > 0 && s.streams >= policy.concurrent_streams)
    return Limit::concurrent_streams;
  if (policy.requests_per_minute > 0 && s.requests < 1) return Limit::requests_per_minute;
  if (policy.tokens_per_minute > 0 && s.tokens < static_cast<double>(tokens_held(policy, ask)))
    return Limit::tokens_per_minute;
  if (policy.daily_budget_micros &&
      budget_refuses(s.day_spent, s.day_reserved, *policy.daily_budget_micros, ask))
    return Limit::daily_budget;
  if (policy.monthly_budget_micros &&
      budget_refuses(s.month_spent, s.month_reserved, *policy.monthly_budget_micros, ask))
    return Limit::monthly_budget;
  return std::nullopt;
}

Error refusal_error(Limit limit, const Snapshot& s, const Policy& policy, const Ask& ask, TimePoint now) {
  const double rpm = static_cast<double>(policy.requests_per_minute);
  const double tpm = static_cast<double>(policy.tokens_per_minute);
  switch (limit) {
    case Limit::concurrent_streams:
      return refusal(errc::rate_limited,
                     "limit of " + std::to_string(policy.concurrent_streams) +
                         " concurrent streams reached; finish one first",
                     policy.concurrent_streams, 0, 1, 1);
    case Limit::requests_per_minute:
      return refusal(errc::rate_limited,
                     "rate limit of " + std::to_string(policy.requests_per_minute) +
                         " requests per minute reached",
                     policy.requests_per_minute, static_cast<std::int64_t>(s.requests),
                     seconds_until(s.requests, rpm, rpm), seconds_until(s.requests, 1, rpm));
    case Limit::tokens_per_minute:
      return refusal(errc::rate_limited,
                     "token limit of " + std::to_string(policy.tokens_per_minute) +
                         " tokens per minute reached",
                     policy.tokens_per_minute, static_cast<std::int64_t>(std::floor(s.tokens)),
                     seconds_until(s.tokens, tpm, tpm),
                     seconds_until(s.tokens, static_cast<double>(tokens_held(policy, ask)), tpm));
    case Limit::daily_budget: {
      const std::int64_t reset = seconds_between(now, next_day(now));
      const std::int64_t budget = policy.daily_budget_micros.value_or(0);
      return refusal(errc::budget_exceeded, "daily budget of " + usd(budget) + " reached", budget,
                     budget - s.day_spent - s.day_reserved, reset, reset);
    }
    case Limit::monthly_budget: {
      const std::int64_t reset = seconds_between(now, next_month(now));
      const std::int64_t budget = policy.monthly_budget_micros.value_or(0);
      return refusal(errc::budget_exceeded, "monthly budget of " + usd(budget) + " reached", budget,
                     budget - s.month_spent - s.month_reserved, reset, reset);
    }
  }
  return make_error(errc::internal, "unknown limit");
}

Status status_from(const Snapshot& s, const Policy& policy, TimePoint now) {
  const auto window = [](double level, std::int64_t cap) {
    Window w;
    w.limit = cap;
    if (cap <= 0) return w;
    w.remaining = std::max<std::int64_t>(0, static_cast<std::int64_t>(std::floor(level)));
    w.reset_seconds = seconds_until(level, static_cast<double>(cap), static_cast<double>(cap));
    return w;
  };
  Status out;
  out.requests_per_minute = window(s.requests, policy.requests_per_minute);
  out.tokens_per_minute = window(s.tokens, policy.tokens_per_minute);
  out.concurrent_streams_limit = policy.concurrent_streams;
  out.active_streams = s.streams;
  out.daily = BudgetState{policy.daily_budget_micros, s.day_spent, s.day_reserved,
                          seconds_between(now, next_day(now))};
  out.monthly = BudgetState{policy.monthly_budget_micros, s.month_spent, s.month_reserved,
                            seconds_between(now, next_month(now))};
  return out;
}

}  // namespace aas::limits
