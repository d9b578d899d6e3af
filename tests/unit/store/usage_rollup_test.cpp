// How a by-user ranking splits its range into months and days (store/detail/usage_rollup.hpp): the
// signed terms must cover each day of the range exactly once and nothing else, for any range and
// any "today"; and the common report (90 days ending today) reads months, not days.
#include "store/detail/usage_rollup.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <random>

namespace aas::store::detail {
namespace {

using namespace std::chrono;

std::string text_of(sys_days d) {
  const year_month_day ymd{d};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()));
  return buf;
}

// How many times each day counts, summing the terms (a month term counts each of its days).
std::map<std::string, int> coverage(const std::vector<UsageTerm>& terms) {
  std::map<std::string, int> out;
  const auto parse = [](const std::string& s, bool whole_month) {
    const int y = std::stoi(s.substr(0, 4));
    const unsigned m = static_cast<unsigned>(std::stoi(s.substr(5, 2)));
    const unsigned d = whole_month ? 1u : static_cast<unsigned>(std::stoi(s.substr(8, 2)));
    return sys_days{year{y} / month{m} / day{d}};
  };
  for (const UsageTerm& t : terms) {
    sys_days a = parse(t.from, t.monthly);
    sys_days b = parse(t.to, t.monthly);
    if (t.monthly) {
      const year_month_day e{b};
      b = sys_days{e.year() / e.month() / last};
    }
    EXPECT_LE(a, b) << t.from << ".." << t.to;
    for (sys_days d = a; d <= b; d += days{1}) {
      const std::string k = text_of(d);
      out[k] += t.sign;
      if (out[k] == 0) out.erase(k);
    }
  }
  return out;
}

TEST(UsageUserTerms, NinetyDaysEndingTodayReadMonthsLessAFewDays) {
  // 2026-09-09 .. 2026-12-07 (today): September less its first 8 days, October to December whole
  // (December's days after today hold nothing yet: taking them away reads nothing).
  const auto terms = usage_user_terms("2026-09-09", "2026-12-07", "2026-12-07");
  const std::vector<UsageTerm> want = {{true, "2026-09", "2026-12", 1},
                                       {false, "2026-09-01", "2026-09-08", -1},
                                       {false, "2026-12-08", "2026-12-31", -1}};
  EXPECT_EQ(terms, want);
}

TEST(UsageUserTerms, ShortRangesStayDays) {
  EXPECT_EQ(usage_user_terms("2026-11-28", "2026-12-03", "2026-12-31"),
            (std::vector<UsageTerm>{{false, "2026-11-28", "2026-12-03", 1}}));
  EXPECT_EQ(usage_user_terms("2026-12-07", "2026-12-07", "2026-12-31"),
            (std::vector<UsageTerm>{{false, "2026-12-07", "2026-12-07", 1}}));
  EXPECT_TRUE(usage_user_terms("2026-12-08", "2026-12-07", "2026-12-31").empty());
}

TEST(UsageUserTerms, WholeMonthsAcrossAYearAreOneTerm) {
  EXPECT_EQ(usage_user_terms("2027-11-01", "2028-02-29", "2028-03-01"),
            (std::vector<UsageTerm>{{true, "2027-11", "2028-02", 1}}));
}

TEST(UsageUserTerms, EveryRangeIsCoveredExactlyOnce) {
  std::mt19937 rng(16);
  const sys_days base = sys_days{2027y / January / 1};
  std::uniform_int_distribution<int> offset(0, 3 * 366);
  std::uniform_int_distribution<int> length(0, 400);
  for (int i = 0; i < 5000; ++i) {
    const sys_days from = base + days{offset(rng)};
    const sys_days to = from + days{length(rng)};
    const sys_days today = base + days{offset(rng)};
    const auto terms = usage_user_terms(text_of(from), text_of(to), text_of(today));
    std::map<std::string, int> want;
    for (sys_days d = from; d <= to; d += days{1}) want[text_of(d)] = 1;
    ASSERT_EQ(coverage(terms), want) << text_of(from) << ".." << text_of(to) << " today " << text_of(today);
  }
}

TEST(UsageUserTerms, SourcesChooseTheSmallestRollup) {
  UsageQuery q;
  q.from_day = "2026-09-09";
  q.to_day = "2026-12-07";
  q.group = UsageGroup::model;
  EXPECT_NE(usage_source(q, '?', "2026-12-07").from.find("usage_daily_model"), std::string::npos);
  q.group = UsageGroup::user;
  const UsageSource ranking = usage_source(q, '$', "2026-12-07");
  EXPECT_NE(ranking.from.find("usage_monthly_user"), std::string::npos);
  EXPECT_EQ(ranking.values.size(), 6u);
  EXPECT_EQ(ranking.having, " HAVING sum(requests) > 0");
  q.user_id = "u";
  EXPECT_EQ(usage_source(q, '?', "2026-12-07").from,
            " FROM usage_daily WHERE day BETWEEN ?1 AND ?2 AND user_id = ?3");
  EXPECT_EQ(usage_totals_source(q, '?').from, " FROM usage_daily WHERE day BETWEEN ?1 AND ?2 AND user_id = ?3");
}

}  // namespace
}  // namespace aas::store::detail
