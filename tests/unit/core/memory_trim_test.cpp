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

}  // namespace
}  // namespace aas
