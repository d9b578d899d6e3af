// The body of PUT /api/ai/admin/limits/:userId read into a limit override (api/usage.cpp).
#include "api/limits_json.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace aas::api {
namespace {

std::string refusal(std::string_view body) {
  auto r = limit_override_from_json(boost::json::parse(body).as_object());
  if (r) return "accepted";
  EXPECT_EQ(r.error().code, errc::invalid_request);
  return r.error().message;
}

TEST(LimitOverrideJson, EachMalformedFieldIsRefusedByName) {
  const std::vector<std::pair<std::string_view, std::string>> cases{
      {R"({"requestsPerHour": 5})", "unknown field 'requestsPerHour'"},
      {R"({"requestsPerMinute": "5"})", "requestsPerMinute must be an integer or null"},
      {R"({"tokensPerMinute": 1.5})", "tokensPerMinute must be an integer or null"},
      {R"({"concurrentStreams": -1})", "concurrentStreams must be 0 (no limit) or more"},
      {R"({"tokensPerMinute": 1000000000001})", "tokensPerMinute must be 0 (no limit) or more"},
      {R"({"tokensPerMinute": 18446744073709551615})", "tokensPerMinute must be 0 (no limit) or more"},
      {R"({"dailyBudgetUsd": "1"})", "dailyBudgetUsd must be a number of USD or null"},
      {R"({"dailyBudgetUsd": -0.01})", "dailyBudgetUsd must be from 0 to 1000000000"},
      {R"({"monthlyBudgetUsd": 1000000000.5})", "monthlyBudgetUsd must be from 0 to 1000000000"},
  };
  for (const auto& [body, expected] : cases) EXPECT_EQ(refusal(body), expected) << body;
}

TEST(LimitOverrideJson, ReadsEachFieldAndNullAsNotOverridden) {
  auto o = limit_override_from_json(boost::json::parse(
      R"({"requestsPerMinute": 0, "tokensPerMinute": 1000000000000, "concurrentStreams": null,
          "dailyBudgetUsd": 0.0000015, "monthlyBudgetUsd": 12})").as_object());
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->requests_per_minute, 0) << "0 is no limit, not absent";
  EXPECT_EQ(o->tokens_per_minute, 1'000'000'000'000);
  EXPECT_FALSE(o->concurrent_streams);
  EXPECT_EQ(o->daily_budget_micros, 2) << "USD to micro-dollars, rounded";
  EXPECT_EQ(o->monthly_budget_micros, 12'000'000);
  o->user_id = "u";
  const boost::json::value back = limit_override_to_json(*o);
  EXPECT_EQ(back.at("userId"), "u");
  EXPECT_TRUE(back.at("concurrentStreams").is_null());
  EXPECT_EQ(back.at("monthlyBudgetUsd"), 12);
  EXPECT_EQ(back.at("dailyBudgetUsd"), 0.000002);
}

}  // namespace
}  // namespace aas::api
