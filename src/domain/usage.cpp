#include "domain/usage.hpp"

#include <algorithm>
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

}  // namespace aas::domain
