#include "ops/health.hpp"

#include "core/offload.hpp"
#include "redis/client.hpp"
#include "store/store.hpp"

#include <boost/asio/thread_pool.hpp>

namespace aas::ops {

boost::asio::awaitable<DependencyState> HealthService::check() {
  co_return co_await offload(blocking_, [this] {
    DependencyState d;
    d.latest_schema_version = store_.latest_schema_version();
    if (auto ping = store_.ping(); !ping) {
      d.database_reason = ping.error().message;
    } else {
      d.database_reachable = true;
      if (auto v = store_.schema_version()) d.schema_version = *v;
    }
    if (redis_) {
      auto ping = redis_->ping();
      d.redis = ping ? std::string("ok") : ping.error().message;
    }
    return d;
  });
}

}  // namespace aas::ops
