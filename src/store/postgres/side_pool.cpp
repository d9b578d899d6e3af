#include "store/postgres/side_pool.hpp"

namespace aas::store::postgres {

SidePool::SidePool(const std::string& url, std::size_t size)
    : pool_(size, [url] { return std::make_unique<detail::Connection>(url); },
            [](const detail::Connection& c) { return c.reusable(); }) {
  auto first = detail::acquire(pool_);
}

}  // namespace aas::store::postgres
