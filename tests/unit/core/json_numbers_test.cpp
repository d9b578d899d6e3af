#include "core/json_numbers.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <gtest/gtest.h>

#include <limits>

namespace aas {
namespace {

TEST(JsonNumbers, FindsInfinityAnywhereAndNothingElse) {
  EXPECT_TRUE(has_non_finite_number(boost::json::parse("1e999")));
  EXPECT_TRUE(has_non_finite_number(boost::json::parse(R"({"a":[1,{"b":-1e999}]})")));
  EXPECT_TRUE(has_non_finite_number(boost::json::value(std::numeric_limits<double>::quiet_NaN())));
  EXPECT_FALSE(has_non_finite_number(boost::json::parse(R"({"a":[1,2.5,-0.0,"1e999",null,true,18446744073709551615]})")));
  EXPECT_FALSE(has_non_finite_number(boost::json::parse("1.7976931348623157e308")));
}

}  // namespace
}  // namespace aas
