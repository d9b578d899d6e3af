#include "limits/policies.hpp"

#include <algorithm>

namespace aas::limits {

bool model_allowed(const std::vector<std::string>& roles, std::string_view model) {
  bool limited = false;
  for (const std::string& role : roles) {
    if (!role.starts_with(kModelRolePrefix)) continue;
    if (std::string_view(role).substr(kModelRolePrefix.size()) == model) return true;
    limited = true;
  }
  return !limited;
}

namespace {

void apply(Policy& p, const PolicyPatch& patch) {
  if (patch.requests_per_minute) p.requests_per_minute = *patch.requests_per_minute;
  if (patch.tokens_per_minute) p.tokens_per_minute = *patch.tokens_per_minute;
  if (patch.concurrent_streams) p.concurrent_streams = *patch.concurrent_streams;
  if (patch.daily_budget_micros) p.daily_budget_micros = *patch.daily_budget_micros;
  if (patch.monthly_budget_micros) p.monthly_budget_micros = *patch.monthly_budget_micros;
}

// For counts 0 means "no limit", which is more generous than any number.
std::int64_t more_generous(std::int64_t a, std::int64_t b) {
  if (a == 0 || b == 0) return 0;
  return std::max(a, b);
}

}  // namespace

Policies::Policies(Policy defaults, std::map<std::string, PolicyPatch> roles,
                   std::map<std::string, PolicyPatch> users)
    : defaults_(defaults), roles_(std::move(roles)), users_(std::move(users)) {}

Policy Policies::resolve(const std::string& user_id, const std::vector<std::string>& roles,
                         const std::optional<domain::LimitOverride>& override_) const {
  Policy p = defaults_;
  std::optional<Policy> by_role;
  for (const std::string& role : roles) {
    auto it = roles_.find(role);
    if (it == roles_.end()) continue;
    Policy r = defaults_;
    apply(r, it->second);
    if (!by_role) {
      by_role = r;
      continue;
    }
    by_role->requests_per_minute = more_generous(by_role->requests_per_minute, r.requests_per_minute);
    by_role->tokens_per_minute = more_generous(by_role->tokens_per_minute, r.tokens_per_minute);
    by_role->concurrent_streams = more_generous(by_role->concurrent_streams, r.concurrent_streams);
    const auto budget = [](std::optional<std::int64_t> a, std::optional<std::int64_t> b) {
      return a && b ? std::optional(std::max(*a, *b)) : std::nullopt;
    };
    by_role->daily_budget_micros = budget(by_role->daily_budget_micros, r.daily_budget_micros);
    by_role->monthly_budget_micros = budget(by_role->monthly_budget_micros, r.monthly_budget_micros);
  }
  if (by_role) p = *by_role;
  if (auto it = users_.find(user_id); it != users_.end()) apply(p, it->second);
  if (override_) {
    apply(p, PolicyPatch{override_->requests_per_minute, override_->tokens_per_minute,
                         override_->concurrent_streams, override_->daily_budget_micros,
                         override_->monthly_budget_micros});
  }
  return p;
}

}  // namespace aas::limits
