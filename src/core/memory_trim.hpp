#pragma once
// Gives the heap that ended connections freed back to the system. glibc keeps freed memory in
// its arenas: after 10,000 streams had ended the service stayed at the RSS of their peak (issue
// 16), and after five large answers (6 MB of text each) at 190-210 MB instead of 24 (issue 18).
// malloc_trim(0) hands the free pages of every arena back (madvise), which glibc's own trimming
// (top of each heap only) does not. A trim walks the whole heap, so it is done only when the number
// of open connections has fallen well below its peak since the last trim, or when the allocator
// holds many free bytes and the resident size or the free bytes grew by as much since their
// lowest point after the last trim (a few large buffers freed: the connection count hardly moved;
// or the last streams' records finished after the trim their closing caused), at most once per
// interval, and on the blocking pool rather than an I/O thread.
#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>

namespace aas {

struct MemoryTrimOptions {
  std::chrono::milliseconds interval{5000};  // how often the count is looked at (and most trims)
  // A trim when the count fell by at least this many since its peak, and by at least a quarter.
  std::size_t min_drop = 256;
  // A trim when the allocator holds at least this many free bytes (freed, but kept) and the
  // resident size or the free bytes grew by at least as many since the last trim. 0: never for
  // this reason.
  std::size_t min_free_bytes = 8 * 1024 * 1024;
  // Threads of the `io` and `blocking` executors whose malloc caches are handed back before a
  // trim (release_thread_cache). 0: only the thread that trims.
  std::size_t io_threads = 0;
  std::size_t blocking_threads = 0;
};

// What the heap holds: free bytes kept by the allocator (glibc's mallinfo2().fordblks, released
// to the system or not) and the process's resident size.
struct HeapFigures {
  std::size_t free = 0;
  std::size_t resident = 0;
};

// Decides, from the peak and current counts, whether a trim is due (pure; unit-tested).
bool trim_due(std::size_t peak, std::size_t now, const MemoryTrimOptions& options);
// Decides, from the heap now and the lowest figures seen since the last trim (just after it, at
// first), whether a trim is due (pure; unit-tested). A trim hands pages back but leaves the chunks
// free, so the free count alone does not say whether free bytes are resident: they are when the
// resident size grew (freed chunks reused, then freed again) or the free count grew (freed since).
bool heap_trim_due(const HeapFigures& now, const HeapFigures& low, const MemoryTrimOptions& options);
HeapFigures heap_figures();

// glibc keeps up to 7 freed chunks of each small size (up to 1,032 bytes) per thread in its
// tcache. They count as in use, so they neither merge with their free neighbours nor are handed
// back by malloc_trim; after a burst they are the last chunks each thread freed, scattered over the
// heap, each holding its page resident (issue 16: ~3 MiB of the ~6 MiB that stayed 60 s after
// 2,000 streams; docs/benchmarks.md, "Session 14: RSS after the streams"). This empties the
// calling thread's cache into the arenas' free lists, where those chunks merge with their free
// neighbours and malloc_trim hands their pages back: ~450 allocations taken on this thread and
// freed by a thread started for it (one that ends flushes its own cache). Only before a trim.
void release_thread_cache();

class MemoryTrimmer {
 public:
  // `open` counts what holds memory (the server's connections); read on `io`. `heap` (tests
  // replace it) and the trim run on `blocking`.
  MemoryTrimmer(boost::asio::any_io_executor io, boost::asio::any_io_executor blocking, std::function<std::size_t()> open,
                MemoryTrimOptions options = {}, std::function<HeapFigures()> heap = heap_figures);
  ~MemoryTrimmer();
  MemoryTrimmer(const MemoryTrimmer&) = delete;
  MemoryTrimmer& operator=(const MemoryTrimmer&) = delete;

  void start();
  void stop();
  std::size_t trims() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace aas
