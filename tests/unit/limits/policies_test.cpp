// Which limits apply to a user: defaults < roles < configured users < admin overrides.
#include "limits/policies.hpp"
#include "limits/limiter.hpp"

#include <gtest/gtest.h>

namespace aas::limits {
namespace {

TEST(Policies, DefaultsRolesUsersAndOverridesInThatOrder) {
  Policy d;
  d.requests_per_minute = 10;
  d.tokens_per_minute = 1000;
  d.daily_budget_micros = 1'000'000;
  std::map<std::string, PolicyPatch> roles;
  roles["premium"].requests_per_minute = 100;
  roles["premium"].daily_budget_micros = 5'000'000;
  roles["unlimited"].requests_per_minute = 0;
  std::map<std::string, PolicyPatch> users;
  users["vip"].tokens_per_minute = 9999;
  const Policies ps(d, roles, users);

  EXPECT_EQ(ps.resolve("a", {}, std::nullopt).requests_per_minute, 10);
  const Policy premium = ps.resolve("a", {"premium"}, std::nullopt);
  EXPECT_EQ(premium.requests_per_minute, 100);
  EXPECT_EQ(premium.daily_budget_micros, 5'000'000);
  EXPECT_EQ(premium.tokens_per_minute, 1000);
  EXPECT_EQ(ps.resolve("a", {"premium", "unlimited"}, std::nullopt).requests_per_minute, 0)
      << "no limit is the most generous";
  EXPECT_EQ(ps.resolve("vip", {"premium"}, std::nullopt).tokens_per_minute, 9999);

  domain::LimitOverride o;
  o.user_id = "vip";
  o.requests_per_minute = 1;
  const Policy overridden = ps.resolve("vip", {"premium"}, o);
  EXPECT_EQ(overridden.requests_per_minute, 1);
  EXPECT_EQ(overridden.tokens_per_minute, 9999);
}

// Roles "aas:model:<name>" restrict a user to those models; without any, every model is allowed.
TEST(Policies, ModelRolesRestrictTheModelsAUserMayCall) {
  EXPECT_TRUE(model_allowed({}, "gpt-4o"));
  EXPECT_TRUE(model_allowed({"premium"}, "gpt-4o")) << "other roles do not restrict models";
  EXPECT_TRUE(model_allowed({"aas:model:gpt-4o", "aas:model:mock"}, "mock"));
  EXPECT_FALSE(model_allowed({"aas:model:gpt-4o"}, "mock"));
  EXPECT_FALSE(model_allowed({"aas:model:gpt-4o"}, "gpt-4")) << "the whole name, not a prefix";
}

// The labels metrics and refusals use for each limit.
TEST(Limits, EachLimitHasItsLabel) {
  EXPECT_EQ(label(Limit::requests_per_minute), "rpm");
  EXPECT_EQ(label(Limit::tokens_per_minute), "tpm");
  EXPECT_EQ(label(Limit::concurrent_streams), "concurrency");
  EXPECT_EQ(label(Limit::daily_budget), "budget_daily");
  EXPECT_EQ(label(Limit::monthly_budget), "budget_monthly");
}

}  // namespace
}  // namespace aas::limits
