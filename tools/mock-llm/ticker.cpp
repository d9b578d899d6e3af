#include "ticker.hpp"

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <optional>

namespace aas::mockllm {

namespace asio = boost::asio;

Ticker::Ticker(const asio::any_io_executor& ex) : strand_(asio::make_strand(ex)), timer_(strand_) {}

std::size_t Ticker::waiting() const {
  const std::lock_guard lock(mutex_);
  return waiting_.size();
}

void Ticker::add(Clock::time_point due, Waiter waiter) {
  if (due <= Clock::now()) return complete(std::move(waiter), {});
  // The slot belongs to the waiter's strand, where this runs; its handler only looks the waiter
  // up, so one that fires after the tick took the waiter does nothing.
  asio::cancellation_slot slot = asio::get_associated_cancellation_slot(waiter.handler);
  bool start = false;
  Key key;
  {
    const std::lock_guard lock(mutex_);
    key = Key{due, next_id_++};
    waiting_.emplace(key, std::move(waiter));
    start = !std::exchange(running_, true);
  }
  if (slot.is_connected()) slot.assign([this, key](asio::cancellation_type) { cancel(key); });
  if (start) asio::post(strand_, [this] { run(); });
}

void Ticker::cancel(const Key& key) {
  std::optional<Waiter> waiter;
  {
    const std::lock_guard lock(mutex_);
    const auto it = waiting_.find(key);
    if (it == waiting_.end()) return;
    waiter.emplace(std::move(it->second));
    waiting_.erase(it);
  }
  complete(std::move(*waiter), asio::error::operation_aborted);
}

void Ticker::run() {
  Clock::time_point next;
  {
    const std::lock_guard lock(mutex_);
    if (waiting_.empty()) {
      running_ = false;
      return;
    }
    next = waiting_.begin()->first.first;
  }
  const auto now = Clock::now();
  timer_.expires_at(std::max(std::min(next, now + kMaxTick), last_tick_ + kMinTick));
  timer_.async_wait([this](const boost::system::error_code&) { on_tick(); });
}

void Ticker::on_tick() {
  last_tick_ = Clock::now();
  {
    const std::lock_guard lock(mutex_);
    auto it = waiting_.begin();
    for (; it != waiting_.end() && it->first.first <= last_tick_; ++it) due_.push_back(std::move(it->second));
    waiting_.erase(waiting_.begin(), it);
  }
  for (Waiter& w : due_) complete(std::move(w), {});
  due_.clear();
  run();
}

// On the waiter's own executor, never inline: the waiter may hold locks or be mid-call.
void Ticker::complete(Waiter waiter, boost::system::error_code ec) {
  asio::post(waiter.ex, [handler = std::move(waiter.handler), ec]() mutable {
    asio::get_associated_cancellation_slot(handler).clear();
    std::move(handler)(ec);
  });
}

}  // namespace aas::mockllm
