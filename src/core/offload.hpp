#pragma once
// Runs blocking work (SQLite, later libpq and hiredis) on the blocking pool and resumes the awaiting
// coroutine on its own executor, so the I/O threads never wait on a disk or a lock.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <type_traits>
#include <utility>

namespace aas {

template <class F>
boost::asio::awaitable<std::invoke_result_t<F&>> offload(boost::asio::thread_pool& pool, F f) {
  using R = std::invoke_result_t<F&>;
  co_return co_await boost::asio::co_spawn(
      pool.get_executor(),
      [fn = std::move(f)]() mutable -> boost::asio::awaitable<R> { co_return fn(); },
      boost::asio::use_awaitable);
}

}  // namespace aas
