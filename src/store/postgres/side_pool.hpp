#pragma once
// For the store ports beside store::Store (service keys, webhook deliveries): a small pool of
// their own on the service's PostgreSQL database. A unit of work that fails on a connection the
// server dropped while it sat idle is tried once more on a fresh one.
#include "core/error.hpp"
#include "store/detail/pool.hpp"
#include "store/postgres/pq.hpp"

#include <chrono>
#include <string>
#include <string_view>

namespace aas::store::postgres {

class SidePool {
 public:
  // Connects once at once: throws detail::PgError when the server cannot be reached (start-up).
  SidePool(const std::string& url, std::size_t size);

  template <class T, class F>
  Result<T> run(std::string_view op, F&& f) {
    for (int attempt = 1;; ++attempt) {
      try {
        auto lease = pool_.acquire(kAcquireTimeout);
        if (!lease) return make_error(errc::unavailable, "database unavailable", std::string(op) + ": no free connection");
        return f(**lease);
      } catch (const detail::PgError& e) {
        if (e.connection_lost() && attempt < 2) {
          pool_.drop_idle();
          continue;
        }
        return db_failure(op, e);
      }
    }
  }

 private:
  static constexpr std::chrono::milliseconds kAcquireTimeout{10000};
  static Error db_failure(std::string_view op, const detail::PgError& e);
  store::detail::ConnectionPool<detail::Connection> pool_;
};

}  // namespace aas::store::postgres
