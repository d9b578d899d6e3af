#include "core/ids.hpp"

#include <sys/random.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <stdexcept>

namespace aas {

namespace {

// Within one millisecond, a process-wide counter in the rand_a field keeps ids issued by this
// process strictly increasing (RFC 9562 method 1), so two messages stored in the same millisecond
// still sort in the order they were created.
std::uint64_t next_stamp(std::uint64_t ms) {
  static std::atomic<std::uint64_t> last{0};  // (ms << 12) | counter
  std::uint64_t prev = last.load(std::memory_order_relaxed);
  for (;;) {
    std::uint64_t candidate = ms << 12;
    if (candidate <= prev) candidate = prev + 1;
    if (last.compare_exchange_weak(prev, candidate, std::memory_order_relaxed)) return candidate;
  }
}

// Random bits come from the kernel's CSPRNG (getrandom) in blocks, one block per thread: a call
// per id cost about a tenth of a /health request. Not OpenSSL's RAND_bytes: the first call of that
// loads OpenSSL's configuration and default provider and seeds its DRBG, ~1 MiB of resident pages
// that a service answering only probes and ids otherwise never needs.
void random_bytes(unsigned char* out, std::size_t n) {
  thread_local std::array<unsigned char, 512> block;
  thread_local std::size_t used = block.size();
  if (used + n > block.size()) {
    // Up to 256 bytes are never cut short by a signal (getrandom(2)); a block is two calls.
    for (std::size_t off = 0; off < block.size();) {
      const ssize_t got = ::getrandom(block.data() + off, std::min<std::size_t>(256, block.size() - off), 0);
      if (got <= 0) throw std::runtime_error("getrandom failed");
      off += static_cast<std::size_t>(got);
    }
    used = 0;
  }
  std::memcpy(out, block.data() + used, n);
  used += n;
}

}  // namespace

std::string new_uuid_v7(std::chrono::system_clock::time_point at) {
  const auto ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count());
  const std::uint64_t stamp = next_stamp(ms & 0xFFFFFFFFFFFFull);
  const std::uint64_t unix_ms = stamp >> 12;
  const std::uint64_t counter = stamp & 0xFFF;

  std::array<unsigned char, 16> b{};
  random_bytes(b.data() + 8, 8);
  for (int i = 0; i < 6; ++i) b[i] = static_cast<unsigned char>(unix_ms >> (40 - 8 * i));
  b[6] = static_cast<unsigned char>(0x70 | ((counter >> 8) & 0x0F));
  b[7] = static_cast<unsigned char>(counter & 0xFF);
  b[8] = static_cast<unsigned char>(0x80 | (b[8] & 0x3F));

  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(hex[b[i] >> 4]);
    out.push_back(hex[b[i] & 0x0F]);
  }
  return out;
}

std::string new_uuid_v7() { return new_uuid_v7(std::chrono::system_clock::now()); }

bool is_uuid(std::string_view s) noexcept {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

}  // namespace aas
