#pragma once
// Which limits apply to a user: the configured defaults, raised by the user's roles, replaced
// field by field by a per-user entry of the configuration, and last by an admin's override kept
// in the store (PUT /api/ai/admin/limits/:userId).
#include "limits/limiter.hpp"
#include "domain/usage.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace aas::limits {

// A caller limited to some models (a service key created with allowedModels) carries one role
// "aas:model:<name>" per model; a caller with none of these roles may use every model.
inline constexpr std::string_view kModelRolePrefix = "aas:model:";
bool model_allowed(const std::vector<std::string>& roles, std::string_view model);

// Fields left empty leave the value below them in force.
struct PolicyPatch {
  std::optional<std::int64_t> requests_per_minute;
  std::optional<std::int64_t> tokens_per_minute;
  std::optional<std::int64_t> concurrent_streams;
  std::optional<std::int64_t> daily_budget_micros;
  std::optional<std::int64_t> monthly_budget_micros;
};

class Policies {
 public:
  Policies() = default;
  Policies(Policy defaults, std::map<std::string, PolicyPatch> roles,
           std::map<std::string, PolicyPatch> users);

  // With several roles that set a field, the most generous value wins (no limit beats any).
  Policy resolve(const std::string& user_id, const std::vector<std::string>& roles,
                 const std::optional<domain::LimitOverride>& override_) const;
  const Policy& defaults() const { return defaults_; }

 private:
  Policy defaults_;
  std::map<std::string, PolicyPatch> roles_;
  std::map<std::string, PolicyPatch> users_;
};

}  // namespace aas::limits
