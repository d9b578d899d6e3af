#pragma once
// Usage reports and per-user limit overrides (the usage and admin routes). Store work runs on the
// blocking pool.
#include "chat/accounting.hpp"
#include "domain/usage.hpp"

#include <boost/asio/awaitable.hpp>

#include <optional>
#include <string>
#include <vector>

namespace boost::asio { class thread_pool; }

namespace aas::chat {

// A user's own usage by model, with where their limits stand now (GET /api/ai/usage/me).
struct MyUsage {
  domain::UsageReport by_model;
  limits::Status status;
};

class UsageService {
 public:
  template <class T>
  using Awaitable = boost::asio::awaitable<Result<T>>;

  UsageService(store::Store& store, boost::asio::thread_pool& blocking, Accounting& accounting)
      : store_(store), blocking_(blocking), accounting_(accounting) {}

  Awaitable<domain::UsageReport> report(domain::UsageQuery query);
  Awaitable<MyUsage> mine(std::string user_id, std::vector<std::string> roles, std::string from_day,
                          std::string to_day);

  Awaitable<domain::LimitOverride> put_override(domain::LimitOverride o);
  Awaitable<std::optional<domain::LimitOverride>> get_override(std::string user_id);
  Awaitable<void> delete_override(std::string user_id);

 private:
  store::Store& store_;
  boost::asio::thread_pool& blocking_;
  Accounting& accounting_;
};

}  // namespace aas::chat
