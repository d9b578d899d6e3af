#include "limits/redis_limiter.hpp"

#include "core/ids.hpp"
#include "limits/decision.hpp"

#include <spdlog/spdlog.h>

#include <cmath>

namespace aas::limits {

namespace {

// Shared by both scripts: KEYS[1] buckets, KEYS[2] holds by lease end, KEYS[3] holds, KEYS[4] the
// day's spending, KEYS[5] the month's. A hold is "cost day month stream tokens".
constexpr const char* kParseHold = R"lua(
local function parse_hold(h)
  local cost, day, month, stream, tokens = string.match(h, '^(%-?%d+) (%S+) (%S+) (%d) (%-?%d+)$')
  return tonumber(cost), day, month, stream == '1', tonumber(tokens)
end
)lua";

// ARGV: now_ms, rpm, tpm, streams, daily (-1: none), monthly (-1: none), tokens (capped), cost,
// stream (0/1), grant id, day, month, lease_ms, mode ("acquire" or "status").
// Returns {2, "day"|"month"} when a period's spending must be loaded first, else
// {admitted 0/1, refused limit 0-5, rpm level x1000, tpm level x1000, streams, day spent,
// day reserved, month spent, month reserved} as it stood before this request.
const redis::Script kAcquire(std::string(kParseHold) + R"lua(
local now = tonumber(ARGV[1])
local rpm, tpm, stream_cap = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local daily, monthly = tonumber(ARGV[5]), tonumber(ARGV[6])
local tokens, cost, stream = tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9] == '1'
local id, day, month, lease, mode = ARGV[10], ARGV[11], ARGV[12], tonumber(ARGV[13]), ARGV[14]

-- Budgets need the period's spending, which only the ledger knows the first time.
if (daily >= 0 or mode == 'status') and redis.call('EXISTS', KEYS[4]) == 0 then return {2, 'day'} end
if (monthly >= 0 or mode == 'status') and redis.call('EXISTS', KEYS[5]) == 0 then return {2, 'month'} end

-- Holds whose lease ended were never settled (their replica stopped): charged in full.
for _, gid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do
  local h = redis.call('HGET', KEYS[3], gid)
  if h then
    local hcost = parse_hold(h)
    if redis.call('EXISTS', KEYS[4]) == 1 then redis.call('INCRBY', KEYS[4], hcost) end
    if redis.call('EXISTS', KEYS[5]) == 1 then redis.call('INCRBY', KEYS[5], hcost) end
    redis.call('HDEL', KEYS[3], gid)
  end
  redis.call('ZREM', KEYS[2], gid)
end

local streams, day_reserved, month_reserved = 0, 0, 0
for _, h in ipairs(redis.call('HVALS', KEYS[3])) do
  local hcost, hday, hmonth, hstream = parse_hold(h)
  if hstream then streams = streams + 1 end
  if hday == day then day_reserved = day_reserved + hcost end
  if hmonth == month then month_reserved = month_reserved + hcost end
end
local day_spent = tonumber(redis.call('GET', KEYS[4]) or '0')
local month_spent = tonumber(redis.call('GET', KEYS[5]) or '0')

-- Token buckets refilling their capacity over a minute; absent means full.
local function level(field, cap)
  local l = tonumber(redis.call('HGET', KEYS[1], field))
  local t = tonumber(redis.call('HGET', KEYS[1], field .. '_t'))
  if not l then return cap, now end
  if now > t then return math.min(cap, l + (now - t) * cap / 60000), now end
  return l, t  -- another replica's clock is ahead: no refill twice
end
local rq, rq_t = level('rq', rpm)
local tk, tk_t = level('tk', tpm)

-- The same order and comparisons as limits::first_refusal (decision.cpp).
local refused = 0
if stream and stream_cap > 0 and streams >= stream_cap then refused = 1
elseif rpm > 0 and rq < 1 then refused = 2
elseif tpm > 0 and tk < tokens then refused = 3
elseif daily >= 0 and (day_spent + day_reserved >= daily or day_spent + day_reserved + cost > daily) then refused = 4
elseif monthly >= 0 and (month_spent + month_reserved >= monthly or month_spent + month_reserved + cost > monthly) then refused = 5
end

local admitted = 0
if mode == 'acquire' and refused == 0 then
  admitted = 1
  local keep = 60000
  if rpm > 0 then
    redis.call('HSET', KEYS[1], 'rq', rq - 1, 'rq_t', rq_t)
    keep = math.max(keep, (rpm - rq + 1) * 60000 / rpm + 60000)
  end
  if tpm > 0 then
    redis.call('HSET', KEYS[1], 'tk', tk - tokens, 'tk_t', tk_t)
    keep = math.max(keep, (tpm - tk + tokens) * 60000 / tpm + 60000)
  end
  -- A bucket left alone until it is full again is the same as no bucket.
  if rpm > 0 or tpm > 0 then redis.call('PEXPIRE', KEYS[1], math.ceil(keep)) end
  redis.call('HSET', KEYS[3], id, string.format('%d %s %s %d %d', cost, day, month, stream and 1 or 0, tokens))
  redis.call('ZADD', KEYS[2], now + lease, id)
  redis.call('PEXPIRE', KEYS[2], lease * 2)
  redis.call('PEXPIRE', KEYS[3], lease * 2)
end
return {admitted, refused, math.floor(rq * 1000), math.floor(tk * 1000), streams,
        day_spent, day_reserved, month_spent, month_reserved}
)lua");

// ARGV: grant id, used tokens, used cost. KEYS[4] / KEYS[5]: the periods of now (where the ledger
// row is dated). Returns {0} when the hold was gone (its lease ended and it was charged in full),
// else {1, dropped...}: the periods ("day", "month") whose spending key held what INCRBY cannot add
// to and was deleted, to be loaded again from the ledger, which already has this call's row (the
// recorder settles after writing it).
// Redis does not undo what a script wrote before an error, so everything is read and checked
// before the first write, and no write can fail: a settle that deleted the hold first and then
// failed on a corrupted key used to drop the hold without charging it. Keys of an unexpected type
// are left alone (the acquire script then fails on them, and the fail mode decides).
const redis::Script kSettle(std::string(kParseHold) + R"lua(
local h = redis.call('HGET', KEYS[3], ARGV[1])
if not h then return {0} end
local function type_of(key) return redis.call('TYPE', key)['ok'] end
local function counter(key)  -- 'absent', 'ok' or 'corrupt' (what INCRBY would refuse)
  local t = type_of(key)
  if t == 'none' then return 'absent' end
  if t == 'string' then
    local v = redis.call('GET', key)
    if string.match(v, '^%-?%d+$') and #v <= 18 then return 'ok' end
  end
  return 'corrupt'
end
local _, _, _, _, tokens = parse_hold(h)
local used_tokens, used_cost = math.max(0, tonumber(ARGV[2])), ARGV[3]
local tk = nil
if type_of(KEYS[1]) == 'hash' then tk = tonumber(redis.call('HGET', KEYS[1], 'tk')) end
local zset_ok = type_of(KEYS[2]) == 'zset'
local periods = {{KEYS[4], counter(KEYS[4]), 'day'}, {KEYS[5], counter(KEYS[5]), 'month'}}

-- Writes: the charge first, the hold last.
local out = {1}
for _, p in ipairs(periods) do
  if p[2] == 'ok' then redis.call('INCRBY', p[1], used_cost)
  elseif p[2] == 'corrupt' then redis.call('DEL', p[1]); table.insert(out, p[3]) end
end
-- Give back what was reserved and not used (or take the overrun).
if tk and tokens then redis.call('HSET', KEYS[1], 'tk', tk + tokens - used_tokens) end
redis.call('HDEL', KEYS[3], ARGV[1])
if zset_ok then redis.call('ZREM', KEYS[2], ARGV[1]) end
return out
)lua");

// A user id inside a Redis Cluster hash tag: braces (and the escape itself) percent-encoded.
std::string tag(std::string_view user) {
  std::string out;
  for (char ch : user) {
    if (ch == '{' || ch == '}' || ch == '%') {
      static constexpr char hex[] = "0123456789ABCDEF";
      out += '%';
      out += hex[static_cast<unsigned char>(ch) >> 4];
      out += hex[static_cast<unsigned char>(ch) & 0xf];
    } else {
      out += ch;
    }
  }
  return out;
}

std::int64_t millis(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::string budget_arg(const std::optional<std::int64_t>& budget) {
  return budget ? std::to_string(*budget) : "-1";
}

Snapshot snapshot_of(const redis::Reply& r) {
  const auto at = [&](std::size_t i) { return r.elements.at(i).integer; };
  return Snapshot{static_cast<double>(at(2)) / 1000.0, static_cast<double>(at(3)) / 1000.0, at(4), at(5),
                  at(6), at(7), at(8)};
}

constexpr Limit kLimits[] = {Limit::concurrent_streams, Limit::requests_per_minute,
                             Limit::tokens_per_minute, Limit::daily_budget, Limit::monthly_budget};

}  // namespace

struct RedisLimiter::Keys {
  std::vector<std::string> all;  // KEYS[1..5] of the scripts
  std::string day_spent() const { return all[3]; }
  std::string month_spent() const { return all[4]; }
};

RedisLimiter::RedisLimiter(redis::Client& redis, const Clock& clock, SpentLoader spent,
                           RedisLimiterOptions options, std::function<void(Limit)> on_refusal)
    : redis_(redis),
      clock_(clock),
      spent_(spent),
      options_(std::move(options)),
      on_refusal_(on_refusal),
      fallback_(clock, std::move(spent), std::move(on_refusal)) {}

RedisLimiter::~RedisLimiter() = default;

RedisLimiter::Keys RedisLimiter::keys(std::string_view user, const std::string& day,
                                      const std::string& month) const {
  const std::string base = options_.prefix + "lim:{" + tag(user) + "}";
  return Keys{{base, base + ":holds", base + ":hold", base + ":d:" + day, base + ":m:" + month}};
}

Result<redis::Reply> RedisLimiter::run(const Keys& k, std::string_view user, std::vector<std::string> args,
                                       bool& ledger_failed) {
  ledger_failed = false;
  // At most one load per period, then the script must answer (another replica may load the same
  // period meanwhile: SET NX keeps the first, and both read the same ledger).
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto r = redis_.eval(kAcquire, k.all, args);
    if (!r) return r.error();
    if (r->type != redis::Reply::Type::array || r->elements.empty())
      return make_error(errc::internal, "limits unavailable", "unexpected reply from the limits script");
    if (r->elements[0].integer != 2) {
      if (r->elements.size() != 9)
        return make_error(errc::internal, "limits unavailable", "unexpected reply from the limits script");
      return r;
    }
    const bool day = r->elements.at(1).str == "day";
    const std::string& from = day ? args[10] : args[11];
    auto spent = spent_(user, from);
    if (!spent) {
      ledger_failed = true;
      return spent.error();
    }
    // Kept past the period's end, so it never expires while the period runs.
    const std::string ttl = day ? "172800" : "3024000";
    auto set = redis_.command({"SET", day ? k.day_spent() : k.month_spent(), std::to_string(*spent), "NX",
                               "EX", ttl});
    if (!set) return set.error();
  }
  return make_error(errc::internal, "limits unavailable", "budget period would not load");
}

Result<Grant> RedisLimiter::unreachable(std::string_view user, const Policy& policy, const Ask& ask,
                                        const Error& e) {
  if (!degraded_.exchange(true))
    spdlog::error("limits: redis unreachable ({}); failing {}", e.detail,
                  options_.fail_open ? "open (each replica enforces the limits alone)" : "closed (503)");
  if (options_.fail_open) return fallback_.acquire(user, policy, ask);
  Error out = make_error(errc::unavailable, "limits are unavailable; try again shortly", e.detail);
  out.retry_after_seconds = 1;
  return out;
}

Result<Grant> RedisLimiter::acquire(std::string_view user, const Policy& policy, const Ask& ask) {
  const TimePoint now = clock_.now();
  const Periods period = periods(now);
  const Keys k = keys(user, period.day, period.month);
  const std::int64_t tokens = tokens_held(policy, ask);
  std::string id = new_uuid_v7();
  bool ledger_failed = false;
  auto r = run(k, user,
               {std::to_string(millis(now)), std::to_string(policy.requests_per_minute),
                std::to_string(policy.tokens_per_minute), std::to_string(policy.concurrent_streams),
                budget_arg(policy.daily_budget_micros), budget_arg(policy.monthly_budget_micros),
                std::to_string(tokens), std::to_string(ask.cost_micros), ask.stream ? "1" : "0", id,
                period.day, period.month, std::to_string(options_.lease.count()), "acquire"},
               ledger_failed);
  if (!r) {
    // A ledger that cannot be read fails the request as it does in-process; anything Redis said
    // or did not say is the fail mode's to decide.
    if (ledger_failed) return r.error();
    return unreachable(user, policy, ask, r.error());
  }
  if (degraded_.exchange(false)) spdlog::info("limits: redis reachable again");
  if (r->elements[0].integer == 0) {
    const auto index = r->elements[1].integer;
    const Limit refused = index >= 1 && index <= 5 ? kLimits[index - 1] : Limit::requests_per_minute;
    if (on_refusal_) on_refusal_(refused);
    return refusal_error(refused, snapshot_of(*r), policy, ask, now);
  }
  Ask held = ask;
  held.tokens = tokens;
  return Grant(this, std::string(user), held, period.day, period.month, std::move(id));
}

void RedisLimiter::settle(const Grant& grant, std::int64_t used_tokens, std::int64_t used_cost_micros) {
  if (grant.id().empty()) return;
  const Periods period = periods(clock_.now());
  auto r = redis_.eval(kSettle, keys(grant.user(), period.day, period.month).all,
                       {grant.id(), std::to_string(used_tokens), std::to_string(used_cost_micros)});
  if (!r) {
    spdlog::warn("limits: a grant could not be settled in redis ({}); its lease ends in {} s and it is "
                 "then charged in full",
                 r.error().detail, std::chrono::duration_cast<std::chrono::seconds>(options_.lease).count());
    return;
  }
  // Never silent: a spending key that was not a number is gone and comes back from the ledger.
  for (std::size_t i = 1; r->type == redis::Reply::Type::array && i < r->elements.size(); ++i)
    spdlog::warn("limits: a user's {} spending in redis was not a number; deleted, it is loaded again "
                 "from the ledger at the next request",
                 r->elements[i].str);
}

Status RedisLimiter::status(std::string_view user, const Policy& policy) {
  const TimePoint now = clock_.now();
  const Periods period = periods(now);
  bool ledger_failed = false;
  auto r = run(keys(user, period.day, period.month), user,
               {std::to_string(millis(now)), std::to_string(policy.requests_per_minute),
                std::to_string(policy.tokens_per_minute), std::to_string(policy.concurrent_streams),
                budget_arg(policy.daily_budget_micros), budget_arg(policy.monthly_budget_micros), "0", "0",
                "0", "", period.day, period.month, std::to_string(options_.lease.count()), "status"},
               ledger_failed);
  // Without Redis, this replica's own view is the best there is.
  if (!r) return fallback_.status(user, policy);
  return status_from(snapshot_of(*r), policy, now);
}

}  // namespace aas::limits
