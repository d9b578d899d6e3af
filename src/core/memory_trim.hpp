#pragma once
// Gives the heap that ended connections freed back to the system. glibc keeps freed memory in
// its arenas: after 10,000 streams had ended the service stayed at the RSS of their peak (issue
// 16). malloc_trim(0) hands the free pages of every arena back (madvise), which glibc's own
// trimming (top of the main heap only) does not. A trim walks the whole heap, so it is done only
// when the number of open connections has fallen well below its peak since the last trim, at most
// once per interval, and on the blocking pool rather than an I/O thread.
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
};

// Decides, from the peak and current counts, whether a trim is due (pure; unit-tested).
bool trim_due(std::size_t peak, std::size_t now, const MemoryTrimOptions& options);

class MemoryTrimmer {
 public:
  // `open` counts what holds memory (the server's connections); read on `io`. The trim runs on
  // `blocking`.
  MemoryTrimmer(boost::asio::any_io_executor io, boost::asio::any_io_executor blocking, std::function<std::size_t()> open,
                MemoryTrimOptions options = {});
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
