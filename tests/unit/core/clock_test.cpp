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


// What clients send as `from`/`to` (RFC 3339 as written by other systems): fractions of any
// length (milliseconds kept), a lower-case z, negative offsets, instants before 1970.
TEST(Clock, ParsesOtherSystemsFormsAndRefusesMalformedOnes) {
  const TimePoint t = from_unix_ms(1795569644123);
  EXPECT_EQ(parse_rfc3339("2026-11-25T01:20:44.123456789Z"), t) << "beyond milliseconds is dropped";
  EXPECT_EQ(parse_rfc3339("2026-11-25T01:20:44.1z"), from_unix_ms(1795569644100));
  EXPECT_EQ(parse_rfc3339("2026-11-24T19:50:44.123-05:30"), t);
  EXPECT_EQ(format_rfc3339(from_unix_ms(-1)), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(parse_rfc3339("1969-12-31T23:59:59.999Z"), from_unix_ms(-1));
  EXPECT_FALSE(parse_rfc3339("2026-11-25T01:20:44.Z")) << "a point without digits";
  EXPECT_FALSE(parse_rfc3339("2026-11-25T01:20:44+0100")) << "an offset without its colon";
  EXPECT_FALSE(parse_rfc3339("2026-11-25T01:20:44+xx:00"));
  EXPECT_FALSE(parse_rfc3339("2026-11-25T01:20:44 UTC"));
}

}  // namespace aas
