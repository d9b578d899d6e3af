// When the trimmer hands freed heap back (core/memory_trim.hpp): only after a real fall of the
// open connections, and a trim actually runs on the given executor when one is due.
#include "core/memory_trim.hpp"

#include <gtest/gtest.h>
#include <malloc.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <thread>

namespace aas {
namespace {

TEST(MemoryTrim, DueOnlyAfterAFallOfAtLeastMinDropAndAQuarterOfThePeak) {
  const MemoryTrimOptions o{std::chrono::milliseconds(1000), 256};
  EXPECT_FALSE(trim_due(0, 0, o));
  EXPECT_FALSE(trim_due(10000, 10000, o));  // no fall
  EXPECT_FALSE(trim_due(10000, 12000, o));  // growing
  EXPECT_FALSE(trim_due(10000, 9000, o));   // a tenth: connections come and go
  EXPECT_TRUE(trim_due(10000, 7500, o));    // a quarter
  EXPECT_TRUE(trim_due(10000, 0, o));       // all ended
  EXPECT_FALSE(trim_due(200, 0, o));        // a small server: not worth a walk of the heap
  EXPECT_TRUE(trim_due(256, 0, o));
}

TEST(MemoryTrim, TrimsOnThePoolOnceTheCountFellAndNotAgainUntilItRisesAndFallsAgain) {
  boost::asio::io_context io;
  boost::asio::thread_pool pool(1);
  std::atomic<std::size_t> open{1000};
  MemoryTrimmer trimmer(io.get_executor(), pool.get_executor(), [&] { return open.load(); },
                        MemoryTrimOptions{std::chrono::milliseconds(1), 256});
  trimmer.start();
  // The peak is seen, then the fall: run the timer's ticks until a trim completed.
  for (int i = 0; i < 5; ++i) io.run_one();
  open = 0;
  while (trimmer.trims() == 0) io.run_one();
  EXPECT_EQ(trimmer.trims(), 1u);
  // Still at zero: the peak was reset by the trim, so no second walk of the heap.
  for (int i = 0; i < 20; ++i) io.run_one();
  pool.wait();
  EXPECT_EQ(trimmer.trims(), 1u);
  trimmer.stop();
}

TEST(MemoryTrim, DueWhenMuchIsFreeAndTheResidentSizeOrTheFreeBytesGrewByAsMuchSinceTheLastTrim) {
  MemoryTrimOptions o;
  o.min_free_bytes = 1000;
  EXPECT_FALSE(heap_trim_due({999, 100000}, {0, 0}, o));           // little free: the memory is in use
  EXPECT_FALSE(heap_trim_due({5000, 10999}, {5000, 10000}, o));    // free, but its pages were handed back
  EXPECT_TRUE(heap_trim_due({5000, 11000}, {5000, 10000}, o));     // reused and freed again
  EXPECT_FALSE(heap_trim_due({5999, 10000}, {5000, 10000}, o));
  EXPECT_TRUE(heap_trim_due({6000, 10000}, {5000, 10000}, o));     // freed since the last trim
  o.min_free_bytes = 0;  // off
  EXPECT_FALSE(heap_trim_due({1u << 30, 1u << 30}, {0, 0}, o));
}

TEST(MemoryTrim, TrimsWhenLargeBuffersWereFreedAlthoughNoConnectionEnded) {
  // Issue 18: five large answers end, the connection count hardly moves, but the heap keeps what
  // their buffers freed. The heap's figures are the test's, not glibc's.
  boost::asio::io_context io;
  boost::asio::thread_pool pool(1);
  std::atomic<std::size_t> free_bytes{1'000'000}, resident{30'000'000};
  std::atomic<int> reads{0};
  MemoryTrimOptions o{std::chrono::milliseconds(1), 256};
  o.min_free_bytes = 8'000'000;
  MemoryTrimmer trimmer(io.get_executor(), pool.get_executor(), [] { return std::size_t{5}; }, o, [&] {
    ++reads;  // before the loads: a read counted after a store sees it
    return HeapFigures{free_bytes.load(), resident.load()};
  });
  trimmer.start();
  // Sets the heap and runs ticks until a check has seen it and finished, where no trim is
  // expected (a check then reads once, and checks run one at a time: the second read after the
  // store is made by a check that started after the first one's end).
  const auto heap_is = [&](std::size_t free, std::size_t res) {
    free_bytes = free;
    resident = res;
    const int seen = reads.load();
    while (reads.load() < seen + 2) io.run_one();
  };
  // Sets the heap and runs ticks until the trims reach `n`.
  const auto trimmed = [&](std::size_t free, std::size_t res, std::size_t n) {
    free_bytes = free;
    resident = res;
    for (int i = 0; trimmer.trims() < n && i < 1'000'000; ++i) io.run_one();
    return trimmer.trims();
  };
  heap_is(1'000'000, 30'000'000);  // the first check: 30 MB is where the resident size starts
  heap_is(2'000'000, 250'000'000);  // the answers run: the memory is in use
  EXPECT_EQ(trimmer.trims(), 0u);
  // They ended: 150 MB free, 150 MB more resident than at the start.
  EXPECT_EQ(trimmed(150'000'000, 180'000'000, 1), 1u);
  // After the trim the pages are back, the chunks still free: no second walk for them.
  heap_is(150'000'000, 40'000'000);
  heap_is(150'000'000, 40'000'000);
  EXPECT_EQ(trimmer.trims(), 1u);
  // Reused by other large answers and freed again between two checks: the free count never
  // moved, but the resident size grew again, so a trim is due.
  EXPECT_EQ(trimmed(150'000'000, 160'000'000, 2), 2u);
  heap_is(150'000'000, 40'000'000);
  // What was still in use at that trim (the last streams' records, say) is freed after it: the
  // resident size does not grow with a free, the free count does.
  EXPECT_EQ(trimmed(160'000'000, 40'000'000, 3), 3u);
  trimmer.stop();
  pool.join();
}

TEST(MemoryTrim, ReleaseThreadCacheHandsTheCachedChunksToTheArena) {
  // glibc's tcache keeps a thread's last freed chunks as in use: freeing 7 leaves the allocator's
  // free count where it was, and the release adds them to it. On a thread of its own, whose cache
  // nothing else touches; a first release beforehand, so that the arena of the thread it starts
  // exists already (a new arena's free space would count too).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "a sanitizer's allocator replaces glibc's: no tcache, and mallinfo2 does not see it";
#endif
  constexpr std::size_t kSize = 1000, kCount = 7;
  std::size_t cached = 0, released = 0;
  std::thread([&] {
    release_thread_cache();
    std::array<void*, kCount> freed{}, guards{};
    for (std::size_t i = 0; i < kCount; ++i) {
      freed[i] = std::malloc(kSize);
      guards[i] = std::malloc(kSize);  // keeps the freed chunks from merging with free space
    }
    const std::size_t before = mallinfo2().fordblks;
    for (void* p : freed) std::free(p);
    const std::size_t freed_count = mallinfo2().fordblks;
    release_thread_cache();
    const std::size_t after = mallinfo2().fordblks;
    for (void* p : guards) std::free(p);
    cached = freed_count - before;
    released = after - freed_count;
  }).join();
  EXPECT_EQ(cached, 0u);
  EXPECT_GE(released, kCount * kSize);
}

TEST(MemoryTrim, TrimsWithTheCachesOfEveryThreadReleasedFirst) {
  // The trimmer hands back the caches of the I/O and pool threads before it trims: a round on
  // each, which must finish (not wait for a thread it cannot have) for the trim to happen.
  boost::asio::io_context io;
  boost::asio::thread_pool pool(2);
  std::atomic<std::size_t> open{1000};
  MemoryTrimOptions o{std::chrono::milliseconds(1), 256};
  o.io_threads = 1;
  o.blocking_threads = 2;
  MemoryTrimmer trimmer(io.get_executor(), pool.get_executor(), [&] { return open.load(); }, o);
  trimmer.start();
  for (int i = 0; i < 5; ++i) io.run_one();
  open = 0;
  while (trimmer.trims() == 0) io.run_one();
  EXPECT_EQ(trimmer.trims(), 1u);
  trimmer.stop();
  pool.join();
}

}  // namespace
}  // namespace aas
