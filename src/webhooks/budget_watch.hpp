#pragma once
// budget.threshold: after each priced call, where the caller's daily and monthly budgets stand;
// the first time in a period that spending reaches a threshold (80 % and 100 % of the budget),
// the event is announced. The budget is the one the caller has: the configured one raised by
// their roles. Remembered per replica, so with several replicas a crossing may be announced once
// by each that sees it (at least once, as every webhook).
#include "core/clock.hpp"
#include "core/error.hpp"
#include "limits/limiter.hpp"

#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace aas::webhooks {

class Webhooks;

class BudgetWatch {
 public:
  // Where a user's limits stand now (the accounting's policy for their roles and the limiter's
  // status).
  using StatusOf =
      std::function<Result<limits::Status>(const std::string& user_id, const std::vector<std::string>& roles)>;

  BudgetWatch(Webhooks& hooks, StatusOf status_of, const Clock& clock, std::vector<int> thresholds = {80, 100})
      : hooks_(hooks), status_of_(std::move(status_of)), clock_(clock), thresholds_(std::move(thresholds)) {}

  // A call of `user_id` (with `roles`) was recorded at `cost_micros`. Reads the limiter (and the
  // store): call it off the I/O threads.
  void recorded(const std::string& user_id, const std::vector<std::string>& roles, std::int64_t cost_micros);

 private:
  void check(const std::string& user_id, const std::string& period, const std::string& period_key,
             const limits::BudgetState& budget);

  Webhooks& hooks_;
  StatusOf status_of_;
  const Clock& clock_;
  std::vector<int> thresholds_;
  std::mutex mu_;
  std::string day_;                // today (UTC), when crossings of past periods were last dropped
  std::set<std::string> crossed_;  // "<user>\n<period key>\n<threshold>"
};

}  // namespace aas::webhooks
