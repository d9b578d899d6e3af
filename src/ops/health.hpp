#pragma once
// What the health routes report of the service's own dependencies: the database (reachable,
// schema version) and Redis. The checks run on the blocking pool (a ping may wait on the network).
#include <boost/asio/awaitable.hpp>

#include <optional>
#include <string>

namespace boost::asio { class thread_pool; }
namespace aas::redis { class Client; }
namespace aas::store { class Store; }

namespace aas::ops {

struct DependencyState {
  bool database_reachable = false;
  std::string database_reason;  // why not, when not
  int schema_version = 0;
  int latest_schema_version = 0;
  // Redis's answer to PING ("ok"), or why there was none; nullopt without REDIS_URL.
  std::optional<std::string> redis;

  bool migrated() const { return database_reachable && schema_version == latest_schema_version; }
  bool redis_ok() const { return !redis || *redis == "ok"; }
};

class HealthService {
 public:
  // `redis` null: no Redis configured.
  HealthService(store::Store& store, redis::Client* redis, boost::asio::thread_pool& blocking)
      : store_(store), redis_(redis), blocking_(blocking) {}

  boost::asio::awaitable<DependencyState> check();
  bool redis_configured() const { return redis_ != nullptr; }

 private:
  store::Store& store_;
  redis::Client* redis_;
  boost::asio::thread_pool& blocking_;
};

}  // namespace aas::ops
