#include "limits/local_limiter.hpp"

#include "store/usage.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <unordered_map>

namespace aas::limits {

namespace {

using std::chrono::duration;

// A bucket that holds up to `capacity` and refills all of it in a minute. Kept as a double so
// slow refills (1 request a minute) are exact enough; may go below zero when a settled request
// used more than it reserved (its debt delays the next ones).
struct Bucket {
  double level = 0;
  TimePoint updated{};
  bool primed = false;

  void refill(double capacity, TimePoint now) {
    if (!primed) {
      level = capacity;
      primed = true;
    } else if (now > updated) {
      level = std::min(capacity, level + duration<double>(now - updated).count() * capacity / 60.0);
    }
    updated = now;
  }
  // Seconds until the bucket holds `need`.
  static std::int64_t seconds_until(double level, double need, double capacity) {
    if (level >= need) return 0;
    return static_cast<std::int64_t>(std::ceil((need - level) * 60.0 / capacity));
  }
};

struct Period {
  std::string key;  // the first day of the period, "YYYY-MM-DD"
  bool loaded = false;
  std::int64_t spent = 0;
  std::int64_t reserved = 0;
};

struct UserState {
  Bucket requests;
  Bucket tokens;
  std::int64_t streams = 0;
  Period day;
  Period month;
  TimePoint last_seen{};
};

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

}  // namespace

struct LocalLimiter::State {
  State(const Clock& c, SpentLoader s, std::function<void(Limit)> r)
      : clock(c), spent(std::move(s)), on_refusal(std::move(r)) {}
  const Clock& clock;
  SpentLoader spent;
  std::function<void(Limit)> on_refusal;
  std::mutex mu;
  std::unordered_map<std::string, UserState> users;

  // Brings a budget period up to `key`; with `load`, also what was spent in it, the first time.
  Result<void> roll(Period& p, const std::string& key, std::string_view user, bool load = true) {
    if (p.key != key) {
      p = Period{key};
    }
    if (load && !p.loaded) {
      auto s = spent(user, key);
      if (!s) return s.error();
      p.spent = *s;
      p.loaded = true;
    }
    return {};
  }

  // Users with nothing in flight and idle for a while are forgotten (their spending is in the
  // ledger and is loaded again), so the map does not grow with every user ever seen.
  void sweep(TimePoint now) {
    if (users.size() < 10'000) return;
    std::erase_if(users, [now](const auto& kv) {
      const UserState& u = kv.second;
      return u.streams == 0 && u.day.reserved == 0 && u.month.reserved == 0 &&
             now - u.last_seen > std::chrono::minutes(2);
    });
  }
};

LocalLimiter::LocalLimiter(const Clock& clock, SpentLoader spent, std::function<void(Limit)> on_refusal)
    : state_(std::make_unique<State>(clock, std::move(spent), std::move(on_refusal))) {}

LocalLimiter::~LocalLimiter() = default;

Result<Grant> LocalLimiter::acquire(std::string_view user, const Policy& policy, const Ask& ask) {
  const TimePoint now = state_->clock.now();
  const std::string day = store::utc_day(now);
  const std::string month = day.substr(0, 8) + "01";
  std::optional<Limit> refused;
  Error error;
  {
    std::lock_guard lock(state_->mu);
    state_->sweep(now);
    UserState& u = state_->users[std::string(user)];
    u.last_seen = now;
    const double rpm = static_cast<double>(policy.requests_per_minute);
    const double tpm = static_cast<double>(policy.tokens_per_minute);
    if (rpm > 0) u.requests.refill(rpm, now);
    if (tpm > 0) u.tokens.refill(tpm, now);
    // A request larger than the whole minute's allowance still passes once the bucket is full.
    const double token_need = std::min(tpm, static_cast<double>(std::max<std::int64_t>(ask.tokens, 0)));
    if (auto r = state_->roll(u.day, day, user, policy.daily_budget_micros.has_value()); !r)
      return r.error();
    if (auto r = state_->roll(u.month, month, user, policy.monthly_budget_micros.has_value()); !r)
      return r.error();

    const auto budget_refuses = [&](const Period& p, std::int64_t budget) {
      const std::int64_t held = p.spent + p.reserved;
      return held >= budget || held + ask.cost_micros > budget;
    };
    if (ask.stream && policy.concurrent_streams > 0 && u.streams >= policy.concurrent_streams) {
      refused = Limit::concurrent_streams;
      error = refusal(errc::rate_limited,
                      "limit of " + std::to_string(policy.concurrent_streams) +
                          " concurrent streams reached; finish one first",
                      policy.concurrent_streams, 0, 1, 1);
    } else if (rpm > 0 && u.requests.level < 1) {
      refused = Limit::requests_per_minute;
      error = refusal(errc::rate_limited,
                      "rate limit of " + std::to_string(policy.requests_per_minute) +
                          " requests per minute reached",
                      policy.requests_per_minute, static_cast<std::int64_t>(u.requests.level),
                      Bucket::seconds_until(u.requests.level, rpm, rpm),
                      Bucket::seconds_until(u.requests.level, 1, rpm));
    } else if (tpm > 0 && u.tokens.level < token_need) {
      refused = Limit::tokens_per_minute;
      error = refusal(errc::rate_limited,
                      "token limit of " + std::to_string(policy.tokens_per_minute) +
                          " tokens per minute reached",
                      policy.tokens_per_minute, static_cast<std::int64_t>(std::floor(u.tokens.level)),
                      Bucket::seconds_until(u.tokens.level, tpm, tpm),
                      Bucket::seconds_until(u.tokens.level, token_need, tpm));
    } else if (policy.daily_budget_micros && budget_refuses(u.day, *policy.daily_budget_micros)) {
      refused = Limit::daily_budget;
      const std::int64_t reset = seconds_between(now, next_day(now));
      error = refusal(errc::budget_exceeded,
                      "daily budget of " + usd(*policy.daily_budget_micros) + " reached",
                      *policy.daily_budget_micros,
                      *policy.daily_budget_micros - u.day.spent - u.day.reserved, reset, reset);
    } else if (policy.monthly_budget_micros && budget_refuses(u.month, *policy.monthly_budget_micros)) {
      refused = Limit::monthly_budget;
      const std::int64_t reset = seconds_between(now, next_month(now));
      error = refusal(errc::budget_exceeded,
                      "monthly budget of " + usd(*policy.monthly_budget_micros) + " reached",
                      *policy.monthly_budget_micros,
                      *policy.monthly_budget_micros - u.month.spent - u.month.reserved, reset, reset);
    } else {
      // Every limit admits: take the request's share of all of them at once.
      if (rpm > 0) u.requests.level -= 1;
      if (tpm > 0) u.tokens.level -= token_need;
      if (ask.stream) ++u.streams;
      u.day.reserved += ask.cost_micros;
      u.month.reserved += ask.cost_micros;
    }
  }
  if (refused) {
    if (state_->on_refusal) state_->on_refusal(*refused);
    return error;
  }
  // The grant remembers what it holds: with a token limit, the (possibly capped) tokens taken.
  Ask held = ask;
  held.tokens = policy.tokens_per_minute > 0
                    ? static_cast<std::int64_t>(std::min<double>(static_cast<double>(policy.tokens_per_minute),
                                                                 static_cast<double>(std::max<std::int64_t>(ask.tokens, 0))))
                    : std::max<std::int64_t>(0, ask.tokens);
  return Grant(this, std::string(user), held, day, month);
}

void LocalLimiter::settle(const Grant& grant, std::int64_t used_tokens, std::int64_t used_cost_micros) {
  const TimePoint now = state_->clock.now();
  std::lock_guard lock(state_->mu);
  auto it = state_->users.find(grant.user());
  if (it == state_->users.end()) return;
  UserState& u = it->second;
  const Ask& ask = grant.ask();
  if (ask.stream && u.streams > 0) --u.streams;
  // Tokens: give back what was reserved and not used (or take the overrun).
  if (u.tokens.primed) u.tokens.level += static_cast<double>(ask.tokens - std::max<std::int64_t>(0, used_tokens));
  // Budgets: the reservation leaves the period it was made in; the cost lands in the period of
  // now (where the ledger row is dated).
  const auto release = [&](Period& p, const std::string& key) {
    if (p.key == key) p.reserved = std::max<std::int64_t>(0, p.reserved - ask.cost_micros);
  };
  release(u.day, grant.day());
  release(u.month, grant.month());
  const std::string day = store::utc_day(now);
  // A period not loaded yet reads its spending from the ledger when it is (this call included).
  if (u.day.loaded && u.day.key == day) u.day.spent += used_cost_micros;
  if (u.month.loaded && u.month.key == day.substr(0, 8) + "01") u.month.spent += used_cost_micros;
  u.last_seen = now;
}

Status LocalLimiter::status(std::string_view user, const Policy& policy) {
  const TimePoint now = state_->clock.now();
  const std::string day = store::utc_day(now);
  const std::string month = day.substr(0, 8) + "01";
  std::lock_guard lock(state_->mu);
  UserState& u = state_->users[std::string(user)];
  u.last_seen = now;
  Status s;
  const auto window = [&](Bucket& b, std::int64_t cap) {
    Window w;
    w.limit = cap;
    if (cap <= 0) return w;
    b.refill(static_cast<double>(cap), now);
    w.remaining = std::max<std::int64_t>(0, static_cast<std::int64_t>(std::floor(b.level)));
    w.reset_seconds = Bucket::seconds_until(b.level, static_cast<double>(cap), static_cast<double>(cap));
    return w;
  };
  s.requests_per_minute = window(u.requests, policy.requests_per_minute);
  s.tokens_per_minute = window(u.tokens, policy.tokens_per_minute);
  s.concurrent_streams_limit = policy.concurrent_streams;
  s.active_streams = u.streams;
  const auto budget = [&](Period& p, const std::string& key, std::optional<std::int64_t> limit,
                          TimePoint ends) {
    BudgetState b;
    b.limit_micros = limit;
    if (state_->roll(p, key, user)) {
      b.spent_micros = p.spent;
      b.reserved_micros = p.reserved;
    }
    b.reset_seconds = seconds_between(now, ends);
    return b;
  };
  s.daily = budget(u.day, day, policy.daily_budget_micros, next_day(now));
  s.monthly = budget(u.month, month, policy.monthly_budget_micros, next_month(now));
  return s;
}

}  // namespace aas::limits
