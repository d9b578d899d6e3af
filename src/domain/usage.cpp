#include "domain/usage.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>

namespace aas::domain {

// Written for every ledger row; digits by hand, as snprintf cost ~10,000 instructions here.
std::string utc_day(TimePoint t) {
  const std::chrono::year_month_day ymd{std::chrono::floor<std::chrono::days>(t)};
  const auto digits = [](char* at, unsigned value, int width) {
    for (int i = width - 1; i >= 0; --i, value /= 10) at[i] = static_cast<char>('0' + value % 10);
  };
  std::string day = "0000-00-00";
  digits(day.data(), static_cast<unsigned>(std::clamp(static_cast<int>(ymd.year()), 0, 9999)), 4);
  digits(day.data() + 5, static_cast<unsigned>(ymd.month()), 2);
  digits(day.data() + 8, static_cast<unsigned>(ymd.day()), 2);
  return day;
}

std::optional<std::chrono::sys_days> parse_day(std::string_view s) {
  int y = 0;
  unsigned m = 0, d = 0;
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  const auto num = [](std::string_view part, auto& out) {
    auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), out);
    return ec == std::errc() && p == part.data() + part.size();
  };
  if (!num(s.substr(0, 4), y) || !num(s.substr(5, 2), m) || !num(s.substr(8, 2), d)) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{m}, std::chrono::day{d}};
  if (!ymd.ok()) return std::nullopt;
  return std::chrono::sys_days{ymd};
}

}  // namespace aas::domain
