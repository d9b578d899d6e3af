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

#include <atomic>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
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

// Where a result handed on by offload_then's work goes: the awaiting coroutine, resumed once.
template <class R>
struct Handoff {
  virtual ~Handoff() = default;
  void fire(Outcome<R> out) {
    if (!fired.exchange(true, std::memory_order_acq_rel)) resume(std::move(out));
  }
  virtual void resume(Outcome<R> out) = 0;
  std::atomic<bool> fired{false};
};

template <class R, class Handler, class Home>
struct HandoffTo final : Handoff<R> {
  HandoffTo(Handler h, Home e) : handler(std::move(h)), home(std::move(e)) {}
  ~HandoffTo() override {
    if (this->fired.exchange(true, std::memory_order_acq_rel)) return;
    Outcome<R> dropped;
    dropped.error = std::make_exception_ptr(std::logic_error("offload_then: the result was never handed on"));
    resume(std::move(dropped));
  }
  void resume(Outcome<R> out) override {
    boost::asio::post(home, [handler = std::move(handler), out = std::move(out)]() mutable {
      std::move(handler)(std::move(out));
    });
  }
  Handler handler;
  Home home;  // counted as having work until this is gone (see offload)
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

// Hands offload_then's result to the awaiting coroutine; copyable (a std::function may hold it).
template <class R>
class OffloadDone {
 public:
  explicit OffloadDone(std::shared_ptr<offload_detail::Handoff<R>> to) : to_(std::move(to)) {}
  void operator()(R value) const {
    offload_detail::Outcome<R> out;
    out.value.emplace(std::move(value));
    to_->fire(std::move(out));
  }

 private:
  std::shared_ptr<offload_detail::Handoff<R>> to_;
};

// Like offload, for work that hands its result on instead of returning it: `f(done)` runs on the
// pool and calls `done(R)` once, from any thread — e.g. from the store's writer once a write that
// `f` queued is durable (Store's `_then` writes). The pool thread is free as soon as `f` returns,
// and the result goes from wherever `done` is called straight back to the awaiting coroutine:
// still one post to the pool and one back, and no pool thread held while the write commits
// (issue 16). `f` must not touch what it captures once it called `done` or handed it on (the
// coroutine may have resumed and ended meanwhile): make that its last act. `f` throwing first is
// rethrown in the coroutine; `done` dropped uncalled resumes it with std::logic_error (a bug,
// never a hang).
template <class R, class F>
boost::asio::awaitable<R> offload_then(boost::asio::thread_pool& pool, F f) {
  using Outcome = offload_detail::Outcome<R>;
  auto initiate = [&pool](auto handler, F* work) {
    auto home = boost::asio::prefer(boost::asio::get_associated_executor(handler),
                                    boost::asio::execution::outstanding_work.tracked);
    auto to = std::make_shared<offload_detail::HandoffTo<R, decltype(handler), decltype(home)>>(std::move(handler),
                                                                                                 std::move(home));
    boost::asio::post(pool, [work, to = std::move(to)]() mutable {
      std::shared_ptr<offload_detail::Handoff<R>> mine = to;
      try {
        (*work)(OffloadDone<R>(std::move(to)));
      } catch (...) {
        Outcome out;
        out.error = std::current_exception();
        mine->fire(std::move(out));  // nothing when `done` was called already
      }
    });
  };
  Outcome out = co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>, void(Outcome)>(
      std::move(initiate), boost::asio::use_awaitable, &f);
  co_return out.take();
}

}  // namespace aas
