#pragma once
// Private to the Store adapters (sqlite/, postgres/): which rollup a usage report reads and the SQL
// that reads it, the same in both dialects but for the placeholder mark. Three rollups, all written
// in the ledger row's transaction (migration 2; migration 13's triggers on usage_daily):
//   usage_daily (day, user, model)      a user's own reports and budgets (index on user, day);
//   usage_daily_model (day, model, b)   reports over every user grouped by day or model, and totals:
//                                       days x models rows (x buckets on PostgreSQL);
//   usage_monthly_user (month, user)    rankings by user over every user: whole months from here,
//                                       the rest of the range from usage_daily.
// Every report gives the same answer whichever rollup it reads (the conformance suite checks each
// against sums of the raw ledger rows, across month and year boundaries).
#include "store/store.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace aas::store::detail {

// One piece of a by-user ranking's range: whole months of usage_monthly_user ('YYYY-MM') or days
// of usage_daily ('YYYY-MM-DD'), both bounds inclusive, added (sign 1) or taken away (sign -1).
struct UsageTerm {
  bool monthly = false;
  std::string from;
  std::string to;
  int sign = 1;
  bool operator==(const UsageTerm&) const = default;
};

// Terms whose signed sum is exactly the days [from_day, to_day]. A month inside the range is a
// monthly term (consecutive months merged into one); a month the range covers in part is either its
// days in the range, or the month less its days outside the range, whichever reads fewer rows. Days
// after `today` hold nothing yet, so taking them away reads nothing: a range ending today costs its
// current month one monthly row per user. `today` only steers that choice; the sum is exact either
// way. Empty when from_day > to_day.
std::vector<UsageTerm> usage_user_terms(std::string_view from_day, std::string_view to_day, std::string_view today);

// The " FROM ... WHERE ..." of a report and the values of its placeholders (numbered from 1 in the
// dialect's style, '?' or '$'), plus a HAVING for sources that take rows away. A filter is part of
// the text only when given: "(x IS NULL OR user_id = x)" would keep SQLite from using an index.
struct UsageSource {
  std::string from;
  std::string having;
  std::vector<std::string> values;
  char mark = '?';
  std::string add(std::string value);  // the next placeholder, bound to value
};

// What a report of q reads for its rows (q.group != none) and for its totals alone.
UsageSource usage_source(const UsageQuery& q, char mark, std::string_view today);
UsageSource usage_totals_source(const UsageQuery& q, char mark);

// "SELECT <key> AS k, <sums>, <sums over all groups>" + source + GROUP BY, order, LIMIT and OFFSET
// (their placeholders follow the source's values), and "SELECT <sums>" + source.
std::string usage_page_sql(const UsageQuery& q, const UsageSource& source);
std::string usage_totals_sql(const UsageSource& source);

}  // namespace aas::store::detail
