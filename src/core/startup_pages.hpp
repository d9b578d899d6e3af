#pragma once
// Releases the pages of code and read-only data that only start-up touched (issue 16, idle RSS).
//
// Start-up runs a little code in every module (each service's constructor, every route's
// registration, the config and migration checks) and the dynamic loader reads every library's
// relocation and symbol tables once. The kernel maps file pages in 64 KiB blocks around each
// fault, so that scattered one-off work left ~9 MiB of the binary's and the libraries' pages
// resident for the rest of the process's life. This drops them from the process's page tables
// with MADV_DONTNEED, like the kernel frees its own __init sections: the pages stay in the page
// cache, and what the running service does use comes back on its first touch (a minor fault, no
// I/O). Only private, read-only, file-backed mappings without any copied-on-write page are
// touched, so nothing the process wrote is lost.
#include <cstddef>

namespace aas {

struct ReleasedPages {
  std::size_t mappings = 0;  // mappings advised
  std::size_t bytes = 0;     // their resident bytes before
};

// Reads /proc/self/smaps; a failure to read it releases nothing.
ReleasedPages release_startup_pages();

}  // namespace aas
