#include "core/memory_trim.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <malloc.h>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <mutex>
#include <system_error>
#include <thread>

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

void release_thread_cache() {
  // glibc's tcache: 64 sizes of chunk, 32 to 1,040 bytes in steps of 16 (a request of 24 + 16 i
  // bytes is a chunk of 32 + 16 i), 7 chunks each. Taking 7 of each size empties this thread's
  // cache (what it did not hold comes from the free lists and goes back there).
  constexpr std::size_t kSizes = 64, kCount = 7;
  std::array<void*, kSizes * kCount> taken{};
  for (std::size_t i = 0; i < kSizes; ++i)
    for (std::size_t j = 0; j < kCount; ++j) taken[i * kCount + j] = std::malloc(24 + 16 * i);
  // Freed here they would only fill the cache again. A thread that ends hands its whole cache to
  // the arenas (glibc's tcache_thread_shutdown), so a short-lived one frees them; here only when
  // no thread can be made (the release is then undone, nothing worse: this runs on the service's
  // I/O and pool threads, where an exception must not escape).
  const auto free_all = [&taken] {
    for (void* p : taken) std::free(p);
  };
  try {
    std::thread(free_all).join();
  } catch (const std::system_error&) {
    free_all();
  }
}

namespace {

// Runs release_thread_cache once on each of `threads` threads of `ex`: every handler waits (at
// most `bound`) until all have started, so no thread runs two of them while another runs none.
// `self` (when the caller is one of those threads) takes one part itself. Returns when every part
// ran or the bound passed.
void release_thread_caches(const asio::any_io_executor& ex, std::size_t threads, bool self) {
  if (threads == 0) return;
  constexpr auto bound = std::chrono::milliseconds(50);
  struct Round {
    std::mutex mu;
    std::condition_variable cv;
    std::size_t started = 0, done = 0;
  };
  auto round = std::make_shared<Round>();
  const std::size_t n = threads;
  const auto part = [round, n, bound] {
    std::unique_lock lock(round->mu);
    ++round->started;
    round->cv.notify_all();
    round->cv.wait_for(lock, bound, [&] { return round->started >= n; });
    lock.unlock();
    release_thread_cache();
    lock.lock();
    ++round->done;
    round->cv.notify_all();
  };
  for (std::size_t i = self ? 1 : 0; i < n; ++i) asio::post(ex, part);
  if (self) part();
  std::unique_lock lock(round->mu);
  round->cv.wait_for(lock, bound, [&] { return round->done >= n; });
}

}  // namespace

struct MemoryTrimmer::State : std::enable_shared_from_this<MemoryTrimmer::State> {
  State(asio::any_io_executor io, asio::any_io_executor pool, std::function<std::size_t()> count,
        MemoryTrimOptions o, std::function<HeapFigures()> figures)
      : timer(io), io_ex(io), blocking(std::move(pool)), open(std::move(count)), heap(std::move(figures)), options(o) {}

  std::mutex mu;  // the timer's calls: tick on an I/O thread, stop() from anywhere
  asio::steady_timer timer;
  asio::any_io_executor io_ex;
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
      // The threads' cached chunks first, or the pages they sit on stay (release_thread_cache).
      release_thread_caches(io_ex, options.io_threads, false);
      release_thread_caches(blocking, options.blocking_threads, true);
      if (options.blocking_threads == 0) release_thread_cache();
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
