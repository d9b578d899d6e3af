#include "core/memory_trim.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <malloc.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <optional>
#include <mutex>

namespace aas {

namespace asio = boost::asio;

bool trim_due(std::size_t peak, std::size_t now, const MemoryTrimOptions& options) {
  if (now >= peak) return false;
  const std::size_t drop = peak - now;
  return drop >= options.min_drop && drop * 4 >= peak;
}

bool heap_trim_due(const HeapFigures& now, const HeapFigures& low, const MemoryTrimOptions& options) {
  const std::size_t m = options.min_free_bytes;
  return m > 0 && now.free >= m && (now.resident >= low.resident + m || now.free >= low.free + m);
}

HeapFigures heap_figures() {
  HeapFigures h;
  h.free = mallinfo2().fordblks;
  // statm's second field: resident pages.
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    unsigned long size = 0, resident = 0;
    if (std::fscanf(f, "%lu %lu", &size, &resident) == 2)
      h.resident = static_cast<std::size_t>(resident) * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    std::fclose(f);
  }
  return h;
}

struct MemoryTrimmer::State : std::enable_shared_from_this<MemoryTrimmer::State> {
  State(asio::any_io_executor io, asio::any_io_executor pool, std::function<std::size_t()> count,
        MemoryTrimOptions o, std::function<HeapFigures()> figures)
      : timer(io), blocking(std::move(pool)), open(std::move(count)), heap(std::move(figures)), options(o) {}

  std::mutex mu;  // the timer's calls: tick on an I/O thread, stop() from anywhere
  asio::steady_timer timer;
  asio::any_io_executor blocking;
  std::function<std::size_t()> open;
  std::function<HeapFigures()> heap;
  const MemoryTrimOptions options;
  std::size_t peak = 0;  // since the last trim; only in tick()
  // The lowest figures since the last trim (or since the first check); only in the pool's check,
  // one at a time.
  std::optional<HeapFigures> low;
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

  // On the pool: looks at the heap (mallinfo2 takes the allocator's locks), and trims when the
  // connections fell or much was freed since the last trim.
  void check(bool fell, std::size_t was, std::size_t now) {
    const HeapFigures before = heap();
    // The lowest figures since the last trim are the marks (right after a trim, that trim's).
    low = HeapFigures{std::min(low.value_or(before).free, before.free),
                      std::min(low.value_or(before).resident, before.resident)};
    const bool grew = heap_trim_due(before, *low, options);
    if (fell || grew) {
      const auto t0 = std::chrono::steady_clock::now();
      const int released = malloc_trim(0);
      const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (fell)
        spdlog::debug("memory trim after connections fell from {} to {}: {} in {:.1f} ms", was, now,
                      released ? "memory released" : "nothing to release", ms);
      else
        spdlog::debug("memory trim with {} bytes free in the heap, resident {} bytes: {} in {:.1f} ms", before.free,
                      before.resident, released ? "memory released" : "nothing to release", ms);
      // The free bytes stay free (their pages went back, not the chunks): the next trim for that
      // reason waits until the resident size or the free bytes grew again.
      low = heap();
      ++trims;
    }
    trimming = false;
  }
};

MemoryTrimmer::MemoryTrimmer(asio::any_io_executor io, asio::any_io_executor blocking, std::function<std::size_t()> open,
                             MemoryTrimOptions options, std::function<HeapFigures()> heap)
    : state_(std::make_shared<State>(std::move(io), std::move(blocking), std::move(open), options,
                                     std::move(heap))) {}

MemoryTrimmer::~MemoryTrimmer() { stop(); }

void MemoryTrimmer::start() { state_->arm(); }

void MemoryTrimmer::stop() {
  std::lock_guard lock(state_->mu);
  state_->stopped = true;
  state_->timer.cancel();
}

std::size_t MemoryTrimmer::trims() const { return state_->trims; }

}  // namespace aas
