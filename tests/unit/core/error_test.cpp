#include "core/error.hpp"

#include <gtest/gtest.h>

namespace aas {

TEST(Error, EveryCodeHasAStatusAndAStableName) {
  EXPECT_EQ(http_status(errc::invalid_request), 400);
  EXPECT_EQ(http_status(errc::not_found), 404);
  EXPECT_EQ(http_status(errc::budget_exceeded), 429);
  EXPECT_EQ(http_status(errc::upstream_timeout), 504);
  EXPECT_EQ(code_name(errc::payload_too_large), "payload_too_large");
  EXPECT_EQ(code_name(errc::rate_limited), "rate_limited");
}

TEST(Error, ResultValueThrowsOnError) {
  Result<int> r = make_error(errc::conflict, "taken");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::conflict);
  EXPECT_THROW((void)r.value(), std::runtime_error);
}

}  // namespace aas
