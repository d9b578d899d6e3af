#include "core/startup_pages.hpp"

#include <sys/mman.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

namespace aas {

namespace {

struct Mapping {
  std::uintptr_t start = 0;
  std::uintptr_t end = 0;
  bool eligible = false;  // private, read-only, backed by a file
  std::size_t rss_kb = 0;
  std::size_t anonymous_kb = 0;
};

// "start-end perms offset dev inode path": eligible when r-?p (not writable, private) and the path
// is a file that still exists ([vdso], [stack] and "(deleted)" are not).
Mapping parse_header(const char* line) {
  Mapping m;
  char perms[5] = {};
  int path_at = 0;
  unsigned long start = 0, end = 0;
  if (std::sscanf(line, "%lx-%lx %4s %*s %*s %*s %n", &start, &end, perms, &path_at) < 3) return m;
  m.start = start;
  m.end = end;
  const char* path = line + path_at;
  m.eligible = perms[0] == 'r' && perms[1] == '-' && perms[3] == 'p' && path[0] == '/' &&
               !std::strstr(path, "(deleted)");
  return m;
}

}  // namespace

ReleasedPages release_startup_pages() {
  ReleasedPages out;
  std::FILE* f = std::fopen("/proc/self/smaps", "re");
  if (!f) return out;
  std::vector<Mapping> mappings;
  char line[4096];
  while (std::fgets(line, sizeof line, f)) {
    std::size_t kb = 0;
    if (std::sscanf(line, "Rss: %zu kB", &kb) == 1) {
      if (!mappings.empty()) mappings.back().rss_kb = kb;
    } else if (std::sscanf(line, "Anonymous: %zu kB", &kb) == 1) {
      if (!mappings.empty()) mappings.back().anonymous_kb = kb;
    } else {
      // Field lines start with "Name:"; a mapping's header starts with its address range.
      const char* space = std::strchr(line, ' ');
      if (space && space > line && space[-1] != ':') mappings.push_back(parse_header(line));
    }
  }
  std::fclose(f);
  for (const Mapping& m : mappings) {
    // A page copied on write (relocations in RELRO, a debugger's breakpoint) holds data the file
    // does not: such a mapping is left alone.
    if (!m.eligible || m.rss_kb == 0 || m.anonymous_kb != 0) continue;
    if (::madvise(reinterpret_cast<void*>(m.start), m.end - m.start, MADV_DONTNEED) == 0) {
      ++out.mappings;
      out.bytes += m.rss_kb * 1024;
    }
  }
  return out;
}

}  // namespace aas
