#pragma once
// A clock the test moves by hand (thread safe), for everything that takes an aas::Clock.
#include "core/clock.hpp"

#include <chrono>
#include <mutex>

namespace aas::testing {

class FakeClock final : public Clock {
 public:
  // 2026-11-25T12:00:00Z unless told otherwise: any fixed instant will do.
  explicit FakeClock(TimePoint start = std::chrono::sys_days{std::chrono::year{2026} / 11 / 25} +
                                       std::chrono::hours(12))
      : t_(start) {}

  TimePoint now() const override {
    std::lock_guard lock(mu_);
    return t_;
  }
  void advance(std::chrono::milliseconds d) {
    std::lock_guard lock(mu_);
    t_ += d;
  }
  void set(TimePoint t) {
    std::lock_guard lock(mu_);
    t_ = t;
  }

 private:
  mutable std::mutex mu_;
  TimePoint t_;
};

}  // namespace aas::testing
