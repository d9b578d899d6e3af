#pragma once
// Runs a helper program (pdftotext) as a separate process with a deadline, resource limits and a cap
// on its output, so a hostile input can cost at most that. Internal to src/knowledge.

#include "core/error.hpp"

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace aas::knowledge::loaders {

struct ProcessLimits {
  std::chrono::milliseconds timeout{30'000};  // wall clock; the child is killed after it
  std::size_t max_output = 16u << 20;          // stdout bytes; the child is killed beyond it
  std::size_t max_memory = 1u << 30;           // RLIMIT_AS
  unsigned cpu_seconds = 60;                   // RLIMIT_CPU
};

struct ProcessResult {
  int exit_code = -1;      // -1 when killed by a signal
  bool timed_out = false;
  bool output_too_large = false;
  std::string out;         // stdout (stderr goes to /dev/null)
};

// argv[0] is looked up in PATH. Fails (errc::unavailable) only when the process cannot be started:
// a program that is not installed is that too.
Result<ProcessResult> run_process(const std::vector<std::string>& argv, const ProcessLimits& limits);

}  // namespace aas::knowledge::loaders
