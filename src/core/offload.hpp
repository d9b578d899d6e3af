#pragma once
// Runs blocking work (SQLite, later libpq and hiredis) on the blocking pool and resumes the awaiting
// coroutine on its own executor, so the I/O threads never wait on a disk or a lock.
//
// One post to the pool and one back, nothing else: no co_spawn (whose extra coroutine frames,
// entry point and dispatches cost every hop of every request; issue 16). An exception thrown by
// the work is rethrown in the awaiting coroutine, as before.
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace aas {

namespace offload_detail {

// What comes back: the work's value (none for void work) or the exception it threw.
template <class R>
struct Outcome {
  std::optional<R> value;
  std::exception_ptr error;
  R take() {
    if (error) std::rethrow_exception(error);
    return std::move(*value);
  }
};
template <>
struct Outcome<void> {
  std::exception_ptr error;
  void take() {
    if (error) std::rethrow_exception(error);
  }
};

}  // namespace offload_detail

template <class F>
boost::asio::awaitable<std::invoke_result_t<F&>> offload(boost::asio::thread_pool& pool, F f) {
  using R = std::invoke_result_t<F&>;
  using Outcome = offload_detail::Outcome<R>;
  auto initiate = [&pool](auto handler, F* work) {
    // The awaiting coroutine's executor, counted as having work until the result is posted back
    // and the pool thread has let go of it (as Asio's own operations keep a work guard): its
    // io_context's run() cannot return, and the context cannot be destroyed, while a pool thread
    // still holds a copy of that executor (a strand's copy, released after, would lock a mutex of
    // a destroyed context).
    auto home = boost::asio::prefer(boost::asio::get_associated_executor(handler),
                                    boost::asio::execution::outstanding_work.tracked);
    boost::asio::post(pool, [work, home = std::move(home), handler = std::move(handler)]() mutable {
      Outcome out;
      try {
        if constexpr (std::is_void_v<R>) (*work)();
        else out.value.emplace((*work)());
      } catch (...) {
        out.error = std::current_exception();
      }
      // Back to the awaiting coroutine's executor (an I/O thread).
      boost::asio::post(home, [handler = std::move(handler), out = std::move(out)]() mutable {
        std::move(handler)(std::move(out));
      });
    });
  };
  // `f` lives in this frame until the work is done and the coroutine resumed.
  Outcome out = co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>, void(Outcome)>(
      std::move(initiate), boost::asio::use_awaitable, &f);
  co_return out.take();
}

}  // namespace aas
