#include "core/clock.hpp"

#include <gtest/gtest.h>

namespace aas {

TEST(Clock, FormatsRfc3339UtcWithMilliseconds) {
  EXPECT_EQ(format_rfc3339(from_unix_ms(0)), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_rfc3339(from_unix_ms(1795569644123)), "2026-11-25T01:20:44.123Z");
}

TEST(Clock, ParsesWhatItFormatsAndOffsets) {
  const TimePoint t = from_unix_ms(1795569644123);
  EXPECT_EQ(parse_rfc3339(format_rfc3339(t)), t);
  EXPECT_EQ(parse_rfc3339("2026-11-25T01:20:44Z"), from_unix_ms(1795569644000));
  EXPECT_EQ(parse_rfc3339("2026-11-25T02:20:44.123+01:00"), t);
  EXPECT_FALSE(parse_rfc3339("2026-11-25"));
  EXPECT_FALSE(parse_rfc3339("2026-11-25T01:20:44"));
  EXPECT_FALSE(parse_rfc3339("2026-11-25T01:20:44Zjunk"));
}

}  // namespace aas
