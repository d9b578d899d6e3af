#pragma once
// For the store ports beside store::Store (service keys, webhook deliveries): a small pool of
// their own on the service's PostgreSQL database. A unit of work runs as the main store's do
// (detail::run_unit, on its own: autocommit): tried again on a fresh connection when the one it
// got had died while it sat idle, or when it lost a deadlock.
#include "core/error.hpp"
#include "store/postgres/unit.hpp"

#include <string>
#include <string_view>
#include <utility>

namespace aas::store::postgres {

class SidePool {
 public:
  // Connects once at once: throws detail::PgError when the server cannot be reached (start-up).
  SidePool(const std::string& url, std::size_t size);

  template <class T, class F>
  Result<T> run(std::string_view op, F&& f) {
    return detail::run_unit<T>(pool_, op, detail::Tx::none, std::forward<F>(f));
  }

 private:
  detail::Pool pool_;
};

}  // namespace aas::store::postgres
