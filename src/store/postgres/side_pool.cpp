#include "store/postgres/side_pool.hpp"

#include <algorithm>

namespace aas::store::postgres {

SidePool::SidePool(const std::string& url, std::size_t size)
    : pool_(size, [url] { return std::make_unique<detail::Connection>(url); },
            [](const detail::Connection& c) { return c.reusable(); }) {
  auto first = pool_.acquire(kAcquireTimeout);
}

Error SidePool::db_failure(std::string_view op, const detail::PgError& e) {
  const std::string& s = e.sqlstate();
  const std::string_view cls = std::string_view(s).substr(0, std::min<std::size_t>(2, s.size()));
  const bool down = e.connection_lost() || s.empty() || cls == "08" || cls == "40" || cls == "53" || cls == "57" ||
                    cls == "58";
  return make_error(down ? errc::unavailable : errc::internal, down ? "database unavailable" : "internal error",
                    std::string(op) + ": " + e.what());
}

}  // namespace aas::store::postgres
