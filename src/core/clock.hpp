#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace aas {

using TimePoint = std::chrono::system_clock::time_point;

// Injected wherever time decides behaviour (token expiry, windows), so tests can set it.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint now() const override { return std::chrono::system_clock::now(); }
};

// RFC 3339 UTC with milliseconds: 2026-11-25T01:20:44.123Z
std::string format_rfc3339(TimePoint t);
// Accepts what format_rfc3339 writes, plus a missing fraction and a numeric offset.
std::optional<TimePoint> parse_rfc3339(std::string_view s);

// Milliseconds since the Unix epoch: how the stores keep times (sortable, dialect-free).
std::int64_t to_unix_ms(TimePoint t);
TimePoint from_unix_ms(std::int64_t ms);

}  // namespace aas
