#include "limits/local_limiter.hpp"

#include "limits/decision.hpp"

#include <algorithm>
#include <chrono>
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

Snapshot snapshot_of(const UserState& u) {
  return Snapshot{u.requests.level, u.tokens.level, u.streams,  u.day.spent,
                  u.day.reserved,   u.month.spent,  u.month.reserved};
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
  const Periods period = periods(now);
  std::optional<Limit> refused;
  Snapshot seen;
  {
    std::lock_guard lock(state_->mu);
    state_->sweep(now);
    UserState& u = state_->users[std::string(user)];
    u.last_seen = now;
    if (policy.requests_per_minute > 0) u.requests.refill(static_cast<double>(policy.requests_per_minute), now);
    if (policy.tokens_per_minute > 0) u.tokens.refill(static_cast<double>(policy.tokens_per_minute), now);
    if (auto r = state_->roll(u.day, period.day, user, policy.daily_budget_micros.has_value()); !r)
      return r.error();
    if (auto r = state_->roll(u.month, period.month, user, policy.monthly_budget_micros.has_value()); !r)
      return r.error();
    seen = snapshot_of(u);
    refused = first_refusal(seen, policy, ask);
    if (!refused) {
      // Every limit admits: take the request's share of all of them at once.
      if (policy.requests_per_minute > 0) u.requests.level -= 1;
      if (policy.tokens_per_minute > 0) u.tokens.level -= static_cast<double>(tokens_held(policy, ask));
      if (ask.stream) ++u.streams;
      u.day.reserved += ask.cost_micros;
      u.month.reserved += ask.cost_micros;
    }
  }
  if (refused) {
    if (state_->on_refusal) state_->on_refusal(*refused);
    return refusal_error(*refused, seen, policy, ask, now);
  }
  // The grant remembers what it holds: with a token limit, the (possibly capped) tokens taken.
  Ask held = ask;
  held.tokens = tokens_held(policy, ask);
  return Grant(this, std::string(user), held, period.day, period.month);
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
  const Periods period = periods(now);
  // A period not loaded yet reads its spending from the ledger when it is (this call included).
  if (u.day.loaded && u.day.key == period.day) u.day.spent += used_cost_micros;
  if (u.month.loaded && u.month.key == period.month) u.month.spent += used_cost_micros;
  u.last_seen = now;
}

bool LocalLimiter::may_block(std::string_view user, const Policy& policy) {
  if (!policy.daily_budget_micros && !policy.monthly_budget_micros) return false;
  const Periods period = periods(state_->clock.now());
  std::lock_guard lock(state_->mu);
  auto it = state_->users.find(std::string(user));
  if (it == state_->users.end()) return true;
  const UserState& u = it->second;
  const auto loaded = [](const Period& p, const std::string& key) { return p.loaded && p.key == key; };
  return (policy.daily_budget_micros && !loaded(u.day, period.day)) ||
         (policy.monthly_budget_micros && !loaded(u.month, period.month));
}

Status LocalLimiter::status(std::string_view user, const Policy& policy) {
  const TimePoint now = state_->clock.now();
  const Periods period = periods(now);
  std::lock_guard lock(state_->mu);
  UserState& u = state_->users[std::string(user)];
  u.last_seen = now;
  if (policy.requests_per_minute > 0) u.requests.refill(static_cast<double>(policy.requests_per_minute), now);
  if (policy.tokens_per_minute > 0) u.tokens.refill(static_cast<double>(policy.tokens_per_minute), now);
  // A ledger that cannot be read reports nothing spent rather than failing the report.
  if (!state_->roll(u.day, period.day, user)) u.day = Period{period.day};
  if (!state_->roll(u.month, period.month, user)) u.month = Period{period.month};
  return status_from(snapshot_of(u), policy, now);
}

}  // namespace aas::limits
