#include "domain/usage.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace aas::domain {
namespace {

using namespace std::chrono;

TEST(UtcDay, IsTheCalendarDayInUtc) {
  EXPECT_EQ(utc_day(sys_days{year{2026} / 12 / 6} + hours(23) + minutes(59)), "2026-12-06");
  EXPECT_EQ(utc_day(sys_days{year{2026} / 12 / 7}), "2026-12-07");
  EXPECT_EQ(utc_day(sys_days{year{2028} / 2 / 29} + hours(12)), "2028-02-29");
  EXPECT_EQ(utc_day(sys_days{year{1970} / 1 / 1}), "1970-01-01");
}

TEST(ParseDay, ReadsWhatUtcDayWritesAndNothingElse) {
  EXPECT_EQ(parse_day("2028-02-29"), sys_days{year{2028} / 2 / 29});
  EXPECT_EQ(parse_day(utc_day(sys_days{year{2026} / 12 / 7})), sys_days{year{2026} / 12 / 7});
  EXPECT_FALSE(parse_day("2027-02-29"));  // no such date
  EXPECT_FALSE(parse_day("2026-13-01"));
  EXPECT_FALSE(parse_day("2026-1-01"));
  EXPECT_FALSE(parse_day("2026/01/01"));
  EXPECT_FALSE(parse_day("2026-01-0x"));
  EXPECT_FALSE(parse_day(""));
}

}  // namespace
}  // namespace aas::domain
