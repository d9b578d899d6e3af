#include "chat/usage_service.hpp"

#include "core/offload.hpp"

#include <boost/asio/thread_pool.hpp>

namespace aas::chat {

UsageService::Awaitable<domain::UsageReport> UsageService::report(domain::UsageQuery query) {
  co_return co_await offload(blocking_, [&] { return store_.usage_report(query); });
}

UsageService::Awaitable<MyUsage> UsageService::mine(std::string user_id, std::vector<std::string> roles,
                                                    std::string from_day, std::string to_day) {
  // The limiter's status may be a Redis round trip: on the pool with the report.
  co_return co_await offload(blocking_, [&]() -> Result<MyUsage> {
    domain::UsageQuery q;
    q.from_day = std::move(from_day);
    q.to_day = std::move(to_day);
    q.user_id = user_id;
    q.group = domain::UsageGroup::model;
    q.limit = 100;
    auto report = store_.usage_report(q);
    if (!report) return report.error();
    auto policy = accounting_.policy_for(user_id, roles);
    if (!policy) return policy.error();
    return MyUsage{std::move(*report), accounting_.limiter().status(user_id, *policy)};
  });
}

UsageService::Awaitable<domain::LimitOverride> UsageService::put_override(domain::LimitOverride o) {
  co_return co_await offload(blocking_, [&] {
    auto saved = store_.put_limit_override(o);
    if (saved) accounting_.override_changed(o.user_id);  // admission keeps overrides in memory
    return saved;
  });
}

UsageService::Awaitable<std::optional<domain::LimitOverride>> UsageService::get_override(std::string user_id) {
  co_return co_await offload(blocking_, [&] { return store_.get_limit_override(user_id); });
}

UsageService::Awaitable<void> UsageService::delete_override(std::string user_id) {
  co_return co_await offload(blocking_, [&] {
    auto deleted = store_.delete_limit_override(user_id);
    if (deleted) accounting_.override_changed(user_id);
    return deleted;
  });
}

}  // namespace aas::chat
