#include "store/detail/usage_rollup.hpp"

#include "store/detail/common.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>

namespace aas::store::detail {

namespace {

namespace chr = std::chrono;
using domain::parse_day;

std::string day_text(chr::sys_days d) { return utc_day(TimePoint(d)); }

std::string month_text(chr::year_month ym) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u", static_cast<int>(ym.year()), static_cast<unsigned>(ym.month()));
  return buf;
}

// What a month of usage_monthly_user costs to read, in days of usage_daily: about one row per
// active user against one row per active (user, model) per day; two keeps days when it is close.
constexpr std::int64_t kMonthCostDays = 2;

constexpr const char* kCounters[] = {"requests",           "input_tokens",     "output_tokens",
                                     "cached_input_tokens", "cache_write_tokens", "reasoning_tokens",
                                     "cost_micros",         "unpriced_requests", "estimated_requests"};

// One SELECT of a by-user union: the user and the counters, negated when the term takes away.
std::string term_select(const UsageTerm& t, UsageSource& s) {
  std::string sql = "SELECT user_id";
  for (const char* c : kCounters) {
    sql += t.sign < 0 ? std::string(", -") + c + " AS " + c : std::string(", ") + c;
  }
  sql += t.monthly ? " FROM usage_monthly_user WHERE month BETWEEN " : " FROM usage_daily WHERE day BETWEEN ";
  sql += s.add(t.from);
  sql += " AND " + s.add(t.to);
  return sql;
}

// A rollup with a day column over the range, with the filters given (a filter is part of the text
// only when given). usage_daily: a user's own reports (its index on (user_id, day)) and the
// by-user ranking of one model (no rollup has user, month and model); usage_daily_model: the rest.
UsageSource days_source(const char* table, const UsageQuery& q, char mark) {
  UsageSource s;
  s.mark = mark;
  s.from = std::string(" FROM ") + table + " WHERE day BETWEEN " + s.add(q.from_day);
  s.from += " AND " + s.add(q.to_day);
  if (q.user_id) s.from += " AND user_id = " + s.add(*q.user_id);
  if (q.model) s.from += " AND model = " + s.add(*q.model);
  return s;
}

}  // namespace

std::string UsageSource::add(std::string value) {
  values.push_back(std::move(value));
  return std::string(1, mark) + std::to_string(values.size());
}

std::vector<UsageTerm> usage_user_terms(std::string_view from_day, std::string_view to_day, std::string_view today) {
  std::vector<UsageTerm> terms;
  const auto from = parse_day(from_day);
  const auto to = parse_day(to_day);
  if (!from || !to || *from > *to) return terms;
  const chr::sys_days now = parse_day(today).value_or(*to);
  const auto add_days = [&terms](chr::sys_days a, chr::sys_days b, int sign) {
    if (a > b) return;
    // Days added right after days added (a partial month, then the next one's start) are one term.
    if (sign > 0 && !terms.empty() && !terms.back().monthly && terms.back().sign > 0 &&
        terms.back().to == day_text(a - chr::days{1})) {
      terms.back().to = day_text(b);
      return;
    }
    terms.push_back({false, day_text(a), day_text(b), sign});
  };
  const auto add_month = [&terms](chr::year_month ym) {
    for (auto it = terms.rbegin(); it != terms.rend(); ++it) {
      if (!it->monthly) continue;
      if (it->to == month_text(ym - chr::months{1})) {
        it->to = month_text(ym);
        return;
      }
      break;
    }
    terms.push_back({true, month_text(ym), month_text(ym), 1});
  };
  const chr::year_month last_month{chr::year_month_day{*to}.year(), chr::year_month_day{*to}.month()};
  for (chr::year_month ym{chr::year_month_day{*from}.year(), chr::year_month_day{*from}.month()}; ym <= last_month;
       ym += chr::months{1}) {
    const chr::sys_days first_day{ym / 1};
    const chr::sys_days last_day{ym / chr::last};
    const chr::sys_days a = std::max(*from, first_day);
    const chr::sys_days b = std::min(*to, last_day);
    if (a == first_day && b == last_day) {
      add_month(ym);
      continue;
    }
    const std::int64_t inside = (b - a).count() + 1;
    const std::int64_t before = (a - first_day).count();
    const std::int64_t after = std::max<std::int64_t>(0, (std::min(last_day, now) - b).count());
    if (kMonthCostDays + before + after < inside) {
      add_month(ym);
      add_days(first_day, a - chr::days{1}, -1);
      add_days(b + chr::days{1}, last_day, -1);
    } else {
      add_days(a, b, 1);
    }
  }
  return terms;
}

UsageSource usage_source(const UsageQuery& q, char mark, std::string_view today) {
  if (q.user_id || (q.group == UsageGroup::user && q.model)) return days_source("usage_daily", q, mark);
  if (q.group != UsageGroup::user) return days_source("usage_daily_model", q, mark);
  UsageSource s;
  s.mark = mark;
  const std::vector<UsageTerm> terms = usage_user_terms(q.from_day, q.to_day, today);
  if (terms.empty()) return days_source("usage_daily", q, mark);  // from after to: nothing, as usage_daily says
  s.from = " FROM (";
  for (std::size_t i = 0; i < terms.size(); ++i) {
    if (i > 0) s.from += " UNION ALL ";
    s.from += term_select(terms[i], s);
  }
  s.from += ") AS terms";
  // A user whose days were all taken away again (in a month, not in the range) nets to nothing;
  // every rollup row counts at least one request, so a user in the range has sum(requests) > 0.
  s.having = " HAVING sum(requests) > 0";
  return s;
}

UsageSource usage_totals_source(const UsageQuery& q, char mark) {
  return days_source(q.user_id ? "usage_daily" : "usage_daily_model", q, mark);
}

std::string usage_page_sql(const UsageQuery& q, const UsageSource& source) {
  const std::size_t first = source.values.size() + 1;
  const std::string order = q.by_cost ? "sum(cost_micros) DESC, k" : "k";
  return std::string("SELECT ") + usage_group_column(q.group) + " AS k, " AAS_USAGE_SUMS ", " AAS_USAGE_WINDOW_SUMS +
         source.from + " GROUP BY k" + source.having + " ORDER BY " + order + " LIMIT " + source.mark +
         std::to_string(first) + " OFFSET " + source.mark + std::to_string(first + 1);
}

std::string usage_totals_sql(const UsageSource& source) { return std::string("SELECT " AAS_USAGE_SUMS) + source.from; }

}  // namespace aas::store::detail
