#pragma once
// A limit override as JSON, one shape for PUT /api/ai/admin/limits/:userId and a service key's
// "limits" (api/admin_keys.cpp): requestsPerMinute, tokensPerMinute, concurrentStreams (integers,
// 0 = no limit), dailyBudgetUsd, monthlyBudgetUsd (USD); absent or null = not overridden.
#include "core/error.hpp"
#include "domain/usage.hpp"

#include <boost/json/fwd.hpp>

namespace aas::api {

// 400 naming the field for an unknown field or a bad value. The user_id is left empty.
Result<domain::LimitOverride> limit_override_from_json(const boost::json::object& body);
boost::json::value limit_override_to_json(const domain::LimitOverride& o);

}  // namespace aas::api
