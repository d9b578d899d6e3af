#pragma once
// Accounting records: the usage ledger (one row per model call), its daily
// rollup that the usage API reads, and per-user limit overrides.
#include "core/clock.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aas::domain {

// One ledger row. The store sets its id and time, and adds it to the daily rollup
// (day, user, model) in the same transaction.
struct UsageRecord {
  std::string user_id;
  std::optional<std::string> conversation_id;
  std::optional<std::string> message_id;  // filled by the store when written with a message
  std::string kind = "chat";              // chat | gateway (summary | title: background calls)
  std::string model;                      // the configured model name clients use
  std::string deployment;                 // the deployment that served it; empty when none did
  std::string provider;                   // openai | anthropic | mock; empty when none did
  std::int64_t input_tokens = 0;          // the whole prompt, cached parts included
  std::int64_t output_tokens = 0;         // reasoning included
  std::int64_t cached_input_tokens = 0;
  std::int64_t cache_write_tokens = 0;
  std::int64_t reasoning_tokens = 0;
  std::optional<std::int64_t> cost_micros;  // null: the model has no price
  std::int64_t latency_ms = 0;
  std::optional<std::int64_t> ttft_ms;    // streamed calls that produced text
  std::string status = "complete";        // complete | interrupted | error
  bool estimated = false;                 // usage estimated (the upstream reported none)
  std::string request_id;
};

// Days are UTC calendar days written "YYYY-MM-DD" (sortable as text in every dialect).
std::string utc_day(TimePoint t);
// A day written so, read back; nullopt when it is not one (wrong shape, or no such date).
std::optional<std::chrono::sys_days> parse_day(std::string_view s);

enum class UsageGroup { none, user, model, day };

struct UsageQuery {
  std::string from_day;  // inclusive
  std::string to_day;    // inclusive
  std::optional<std::string> user_id;
  std::optional<std::string> model;
  UsageGroup group = UsageGroup::none;
  bool by_cost = false;  // rows ordered by cost (desc) instead of by key
  int limit = 50;
  std::int64_t offset = 0;
};

struct UsageTotals {
  std::int64_t requests = 0;
  std::int64_t input_tokens = 0;
  std::int64_t output_tokens = 0;
  std::int64_t cached_input_tokens = 0;
  std::int64_t cache_write_tokens = 0;
  std::int64_t reasoning_tokens = 0;
  std::int64_t cost_micros = 0;        // of the priced calls
  std::int64_t unpriced_requests = 0;  // calls whose cost is unknown (not in cost_micros)
  std::int64_t estimated_requests = 0;
};

struct UsageRow {
  std::string key;  // the user id, model name or day
  UsageTotals totals;
};

struct UsageReport {
  UsageTotals totals;          // over the whole range and filters
  std::vector<UsageRow> rows;  // one page of the breakdown (empty for UsageGroup::none)
  bool more = false;           // another page follows
};

// Per-user limits set by an admin; a field left empty falls back to the configured value.
struct LimitOverride {
  std::string user_id;
  std::optional<std::int64_t> requests_per_minute;
  std::optional<std::int64_t> tokens_per_minute;
  std::optional<std::int64_t> concurrent_streams;
  std::optional<std::int64_t> daily_budget_micros;
  std::optional<std::int64_t> monthly_budget_micros;
  TimePoint updated_at{};
};

}  // namespace aas::domain
