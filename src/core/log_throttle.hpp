#pragma once
// Lets a recurring log line through once per interval and counts the ones it held back, so a
// storm of the same failure (accept() failing with EMFILE on every try) costs one line per
// interval instead of flooding the log. Not thread-safe: one owner (e.g. the accept strand).
#include <chrono>
#include <cstddef>
#include <optional>

namespace aas {

class LogThrottle {
 public:
  using Clock = std::chrono::steady_clock;

  explicit LogThrottle(Clock::duration interval) : interval_(interval) {}

  // nullopt: stay quiet this time. Otherwise log now, mentioning the returned number of
  // occurrences held back since the last line.
  std::optional<std::size_t> pass(Clock::time_point now) {
    if (logged_once_ && now - last_ < interval_) {
      ++held_back_;
      return std::nullopt;
    }
    logged_once_ = true;
    last_ = now;
    const std::size_t held = held_back_;
    held_back_ = 0;
    return held;
  }

 private:
  const Clock::duration interval_;
  bool logged_once_ = false;
  Clock::time_point last_{};
  std::size_t held_back_ = 0;
};

}  // namespace aas
