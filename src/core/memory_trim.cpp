#include "core/memory_trim.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <mutex>

namespace aas {

namespace asio = boost::asio;

bool trim_due(std::size_t peak, std::size_t now, const MemoryTrimOptions& options) {
  if (now >= peak) return false;
  const std::size_t drop = peak - now;
  return drop >= options.min_drop && drop * 4 >= peak;
}

bool heap_trim_due(std::size_t free_floor, std::size_t free_now, const MemoryTrimOptions& options) {
  return options.min_free_growth > 0 && free_now > free_floor && free_now - free_floor >= options.min_free_growth;
}

std::size_t heap_free_bytes() { return mallinfo2().fordblks; }

struct MemoryTrimmer::State : std::enable_shared_from_this<MemoryTrimmer::State> {
  State(asio::any_io_executor io, asio::any_io_executor pool, std::function<std::size_t()> count,
        MemoryTrimOptions o, std::function<std::size_t()> free)
      : timer(io), blocking(std::move(pool)), open(std::move(count)), free_heap(std::move(free)), options(o) {}

  std::mutex mu;  // the timer's calls: tick on an I/O thread, stop() from anywhere
  asio::steady_timer timer;
  asio::any_io_executor blocking;
  std::function<std::size_t()> open;
  std::function<std::size_t()> free_heap;
  const MemoryTrimOptions options;
  std::size_t peak = 0;  // since the last trim; only in tick()
  // The lowest free heap seen since the last trim; only in the pool's check, one at a time.
  std::size_t free_floor = std::numeric_limits<std::size_t>::max();
  bool stopped = false;
  std::atomic<bool> trimming{false};  // a check (and maybe a trim) is running on the pool
  std::atomic<std::size_t> trims{0};

  void arm() {
    std::lock_guard lock(mu);
    if (stopped) return;
    timer.expires_after(options.interval);
    timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->tick();
    });
  }

  void tick() {
    const std::size_t now = open();
    if (now > peak) peak = now;
    // One check at a time; a tick that finds one running leaves its reasons to the next tick.
    if (!trimming.exchange(true)) {
      const bool fell = trim_due(peak, now, options);
      const std::size_t was = peak;
      if (fell) peak = now;
      asio::post(blocking, [self = shared_from_this(), fell, was, now] { self->check(fell, was, now); });
    }
    arm();
  }

  // On the pool: looks at the free heap (it takes the allocator's locks), and trims when the
  // connections fell or the free heap grew.
  void check(bool fell, std::size_t was, std::size_t now) {
    const std::size_t free = free_heap();
    free_floor = std::min(free_floor, free);
    const bool grew = heap_trim_due(free_floor, free, options);
    if (fell || grew) {
      const auto t0 = std::chrono::steady_clock::now();
      const int released = malloc_trim(0);
      const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (fell)
        spdlog::debug("memory trim after connections fell from {} to {}: {} in {:.1f} ms", was, now,
                      released ? "memory released" : "nothing to release", ms);
      else
        spdlog::debug("memory trim after the free heap grew from {} to {} bytes: {} in {:.1f} ms", free_floor, free,
                      released ? "memory released" : "nothing to release", ms);
      // A trim leaves the free bytes free (their pages are handed back, not the chunks): the
      // next trim for this reason needs as much growth again.
      free_floor = free;
      ++trims;
    }
    trimming = false;
  }
};

MemoryTrimmer::MemoryTrimmer(asio::any_io_executor io, asio::any_io_executor blocking, std::function<std::size_t()> open,
                             MemoryTrimOptions options, std::function<std::size_t()> free_heap)
    : state_(std::make_shared<State>(std::move(io), std::move(blocking), std::move(open), options,
                                     std::move(free_heap))) {}

MemoryTrimmer::~MemoryTrimmer() { stop(); }

void MemoryTrimmer::start() { state_->arm(); }

void MemoryTrimmer::stop() {
  std::lock_guard lock(state_->mu);
  state_->stopped = true;
  state_->timer.cancel();
}

std::size_t MemoryTrimmer::trims() const { return state_->trims; }

}  // namespace aas
