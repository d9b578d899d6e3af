#pragma once
// One timer for every paced stream of the mock (mock-llm's README, "pacing").
#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

namespace aas::mockllm {

// Streams wait here for the time of their next token, and one timer wakes all whose time has
// come: 5,000 streams at 20 tokens/s would otherwise arm and fire 100,000 timers a second, each
// on its own. The ticker wakes at most every kMinTick (a waiter may be that much late), and at
// least every kMaxTick while anyone waits (so one that arrives while it sleeps is not later).
// Thread-safe: streams on any strand wait; each is resumed on its own executor.
class Ticker {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr auto kMinTick = std::chrono::milliseconds(1);
  static constexpr auto kMaxTick = std::chrono::milliseconds(5);

  explicit Ticker(const boost::asio::any_io_executor& ex);
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;

  // Completes with no error at or soon after `due` (at once when it is past), with
  // operation_aborted when the operation is cancelled first (per-operation cancellation, as
  // awaitable operators use).
  template <class Token>
  auto wait_until(Clock::time_point due, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
        [this](auto handler, Clock::time_point at) {
          // The waiter's own executor, to resume it there (kept as an I/O executor: the one
          // any_completion_handler reports cannot be posted to).
          boost::asio::any_io_executor ex = boost::asio::get_associated_executor(handler, strand_);
          add(at, Waiter{std::move(ex), Handler(std::move(handler))});
        },
        token, due);
  }

  // How many streams wait now (for tests).
  std::size_t waiting() const;

 private:
  using Handler = boost::asio::any_completion_handler<void(boost::system::error_code)>;
  using Key = std::pair<Clock::time_point, std::uint64_t>;  // due, then first come first served
  struct Waiter {
    boost::asio::any_io_executor ex;
    Handler handler;
  };

  void add(Clock::time_point due, Waiter waiter);
  void cancel(const Key& key);
  void run();  // one tick: the timer's wait and what comes due
  void on_tick();
  static void complete(Waiter waiter, boost::system::error_code ec);

  boost::asio::strand<boost::asio::any_io_executor> strand_;
  boost::asio::steady_timer timer_;  // touched on strand_ only
  Clock::time_point last_tick_{};    // strand_ only
  std::vector<Waiter> due_;          // strand_ only: reused, no allocation per tick
  mutable std::mutex mutex_;         // guards what follows
  std::map<Key, Waiter> waiting_;
  std::uint64_t next_id_ = 0;
  bool running_ = false;  // a tick is pending
};

}  // namespace aas::mockllm
