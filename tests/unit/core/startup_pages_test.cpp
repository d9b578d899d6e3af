#include "core/startup_pages.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace {

// The resident and copied-on-write kilobytes of the mapping that starts at `at`, from smaps.
struct Resident {
  long rss_kb = -1;
  long anonymous_kb = -1;
};

Resident resident(const void* at) {
  std::ifstream smaps("/proc/self/smaps");
  char start[32];
  std::snprintf(start, sizeof start, "%lx-", reinterpret_cast<unsigned long>(at));
  Resident r;
  bool in = false;
  for (std::string line; std::getline(smaps, line);) {
    if (line.rfind(start, 0) == 0) {
      in = true;
    } else if (in && line.rfind("Rss:", 0) == 0) {
      r.rss_kb = std::stol(line.substr(4));
    } else if (in && line.rfind("Anonymous:", 0) == 0) {
      r.anonymous_kb = std::stol(line.substr(10));
      break;
    }
  }
  return r;
}

class StartupPages : public ::testing::Test {
 protected:
  void SetUp() override {
    char name[] = "/tmp/aas-startup-pages-XXXXXX";
    fd_ = ::mkstemp(name);
    ASSERT_GE(fd_, 0);
    // Kept on disk while mapped: a deleted file's mappings are left alone.
    path_ = name;
    std::string bytes(kSize, '\0');
    for (std::size_t i = 0; i < kSize; ++i) bytes[i] = static_cast<char>('a' + i % 26);
    ASSERT_EQ(::write(fd_, bytes.data(), kSize), static_cast<ssize_t>(kSize));
    expected_ = bytes;
  }
  void TearDown() override {
    ::close(fd_);
    ::unlink(path_.c_str());
  }

  // A private mapping of the file, every page read (so resident).
  char* map(int prot) {
    void* p = ::mmap(nullptr, kSize, prot, MAP_PRIVATE, fd_, 0);
    EXPECT_NE(p, MAP_FAILED);
    auto* c = static_cast<char*>(p);
    volatile char sink = 0;
    for (std::size_t i = 0; i < kSize; i += 4096) sink = sink + c[i];
    return c;
  }

  static constexpr std::size_t kSize = 64 * 4096;
  int fd_ = -1;
  std::string path_;
  std::string expected_;
};

TEST_F(StartupPages, DropsAReadOnlyFileMappingAndItsContentComesBack) {
  char* p = map(PROT_READ);
  ASSERT_GT(resident(p).rss_kb, 0);
  const aas::ReleasedPages released = aas::release_startup_pages();
  EXPECT_GE(released.mappings, 1u);
  EXPECT_GE(released.bytes, kSize / 2);
  EXPECT_EQ(resident(p).rss_kb, 0);
  // Read again: the same bytes, faulted back in from the file.
  EXPECT_EQ(std::string(p, kSize), expected_);
  EXPECT_GT(resident(p).rss_kb, 0);
  ::munmap(p, kSize);
}

TEST_F(StartupPages, KeepsWhatTheProcessWrote) {
  // A writable private mapping, and a read-only one with a page copied on write (as the loader's
  // RELRO relocations are): neither may lose its bytes.
  char* rw = map(PROT_READ | PROT_WRITE);
  rw[10] = '!';
  char* relro = map(PROT_READ | PROT_WRITE);
  relro[20] = '?';
  ASSERT_EQ(::mprotect(relro, kSize, PROT_READ), 0);
  ASSERT_GT(resident(relro).anonymous_kb, 0);
  aas::release_startup_pages();
  EXPECT_EQ(rw[10], '!');
  EXPECT_EQ(relro[20], '?');
  EXPECT_GT(resident(rw).rss_kb, 0);
  EXPECT_GT(resident(relro).rss_kb, 0);
  ::munmap(rw, kSize);
  ::munmap(relro, kSize);
}

}  // namespace
