// When the trimmer hands freed heap back (core/memory_trim.hpp): only after a real fall of the
// open connections, and a trim actually runs on the given executor when one is due.
#include "core/memory_trim.hpp"

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>

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

TEST(MemoryTrim, DueWhenTheFreeHeapGrewByMinFreeGrowthSinceItsLowestPoint) {
  MemoryTrimOptions o;
  o.min_free_growth = 1000;
  EXPECT_FALSE(heap_trim_due(5000, 5000, o));
  EXPECT_FALSE(heap_trim_due(5000, 4000, o));  // shrinking: the free memory is being reused
  EXPECT_FALSE(heap_trim_due(5000, 5999, o));
  EXPECT_TRUE(heap_trim_due(5000, 6000, o));
  o.min_free_growth = 0;  // off
  EXPECT_FALSE(heap_trim_due(0, 1u << 30, o));
}

TEST(MemoryTrim, TrimsWhenLargeBuffersWereFreedAlthoughNoConnectionEnded) {
  // Issue 18: five large answers end, the connection count hardly moves, but the heap keeps
  // what their buffers freed. The heap's free bytes are the test's, not glibc's.
  boost::asio::io_context io;
  boost::asio::thread_pool pool(1);
  std::atomic<std::size_t> free_bytes{10'000'000};
  MemoryTrimOptions o{std::chrono::milliseconds(1), 256};
  o.min_free_growth = 32'000'000;
  std::atomic<int> reads{0};
  MemoryTrimmer trimmer(io.get_executor(), pool.get_executor(), [] { return std::size_t{5}; }, o, [&] {
    ++reads;  // before the load: a read counted after a store sees it
    return free_bytes.load();
  });
  trimmer.start();
  // Sets the free heap and runs ticks until a check has seen it and finished (checks run one at
  // a time, so the second read after the store comes after the first check's end).
  const auto heap_is = [&](std::size_t bytes) {
    free_bytes = bytes;
    const int seen = reads.load();
    while (reads.load() < seen + 2) io.run_one();
  };
  heap_is(10'000'000);
  heap_is(8'000'000);  // the lowest point
  EXPECT_EQ(trimmer.trims(), 0u);
  heap_is(39'000'000);  // grew by 31 MB: not yet
  EXPECT_EQ(trimmer.trims(), 0u);
  heap_is(41'000'000);  // by 33 MB
  EXPECT_EQ(trimmer.trims(), 1u);
  // Still as much free: the trim handed its pages back; no second walk for the same bytes.
  heap_is(41'000'000);
  heap_is(41'000'000);
  EXPECT_EQ(trimmer.trims(), 1u);
  // Reused, then freed again: a new growth from the new low.
  heap_is(5'000'000);
  heap_is(40'000'000);
  EXPECT_EQ(trimmer.trims(), 2u);
  trimmer.stop();
  pool.join();
}

}  // namespace
}  // namespace aas
