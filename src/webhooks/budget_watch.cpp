#include "webhooks/budget_watch.hpp"

#include "domain/usage.hpp"
#include "webhooks/webhooks.hpp"

#include <spdlog/spdlog.h>

namespace aas::webhooks {

void BudgetWatch::recorded(const std::string& user_id, const std::vector<std::string>& roles,
                           std::int64_t cost_micros) {
  if (cost_micros <= 0 || !hooks_.enabled()) return;
  auto status = status_of_(user_id, roles);
  if (!status) {
    spdlog::warn("webhooks: cannot read the budgets of a user: {}", status.error().detail);
    return;
  }
  const std::string day = domain::utc_day(clock_.now());
  const std::string month = day.substr(0, 7);
  {
    const std::lock_guard lock(mu_);
    if (day != day_) {  // a new day: forget the crossings of periods that are over
      day_ = day;
      std::erase_if(crossed_, [&](const std::string& k) {
        return k.find("\n" + day + "\n") == std::string::npos && k.find("\n" + month + "\n") == std::string::npos;
      });
    }
  }
  check(user_id, "daily", day, status->daily);
  check(user_id, "monthly", month, status->monthly);
}

void BudgetWatch::check(const std::string& user_id, const std::string& period, const std::string& period_key,
                        const limits::BudgetState& budget) {
  if (!budget.limit_micros || *budget.limit_micros <= 0) return;
  for (const int threshold : thresholds_) {
    if (budget.spent_micros * 100 < *budget.limit_micros * threshold) continue;
    {
      const std::lock_guard lock(mu_);
      if (!crossed_.insert(user_id + "\n" + period_key + "\n" + std::to_string(threshold)).second) continue;
    }
    hooks_.budget_threshold(user_id, period, threshold, budget.spent_micros, *budget.limit_micros);
  }
}

}  // namespace aas::webhooks
