#include "core/memory_trim.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <malloc.h>

#include <atomic>
#include <mutex>

namespace aas {

namespace asio = boost::asio;

bool trim_due(std::size_t peak, std::size_t now, const MemoryTrimOptions& options) {
  if (now >= peak) return false;
  const std::size_t drop = peak - now;
  return drop >= options.min_drop && drop * 4 >= peak;
}

struct MemoryTrimmer::State : std::enable_shared_from_this<MemoryTrimmer::State> {
  State(asio::any_io_executor io, asio::any_io_executor pool, std::function<std::size_t()> count,
        MemoryTrimOptions o)
      : timer(io), blocking(std::move(pool)), open(std::move(count)), options(o) {}

  std::mutex mu;  // the timer's calls: tick on an I/O thread, stop() from anywhere
  asio::steady_timer timer;
  asio::any_io_executor blocking;
  std::function<std::size_t()> open;
  const MemoryTrimOptions options;
  std::size_t peak = 0;  // since the last trim; only in tick()
  bool stopped = false;
  std::atomic<bool> trimming{false};
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
    if (trim_due(peak, now, options) && !trimming.exchange(true)) {
      const std::size_t was = peak;
      peak = now;
      asio::post(blocking, [self = shared_from_this(), was, now] {
        const auto t0 = std::chrono::steady_clock::now();
        const int released = malloc_trim(0);
        const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        spdlog::debug("memory trim after connections fell from {} to {}: {} in {:.1f} ms", was, now,
                      released ? "memory released" : "nothing to release", ms);
        ++self->trims;
        self->trimming = false;
      });
    }
    arm();
  }
};

MemoryTrimmer::MemoryTrimmer(asio::any_io_executor io, asio::any_io_executor blocking, std::function<std::size_t()> open,
                             MemoryTrimOptions options)
    : state_(std::make_shared<State>(std::move(io), std::move(blocking), std::move(open), options)) {}

MemoryTrimmer::~MemoryTrimmer() { stop(); }

void MemoryTrimmer::start() { state_->arm(); }

void MemoryTrimmer::stop() {
  std::lock_guard lock(state_->mu);
  state_->stopped = true;
  state_->timer.cancel();
}

std::size_t MemoryTrimmer::trims() const { return state_->trims; }

}  // namespace aas
