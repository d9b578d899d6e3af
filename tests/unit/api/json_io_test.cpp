#include "api/json_io.hpp"

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

#include <string>

namespace aas::api {
namespace {

// The message of the 400, or "ok".
std::string verdict(std::string_view body) {
  http::Request req;
  req.body = std::string(body);
  auto parsed = parse_object(req);
  if (parsed) return "ok";
  EXPECT_EQ(parsed.error().code, errc::invalid_request);
  return parsed.error().message;
}

TEST(JsonIo, RefusesNulAnywhereNamingTheField) {
  EXPECT_EQ(verdict(R"({"message":"a\u0000b"})"), "'message' contains a NUL character (U+0000)");
  EXPECT_EQ(verdict(R"({"messages":[{"role":"user","content":"x"},{"role":"user","content":[{"type":"text","text":"\u0000"}]}]})"),
            "'messages[1].content[0].text' contains a NUL character (U+0000)");
  EXPECT_EQ(verdict(R"({"metadata":{"a\u0000":1}})"), "'metadata.<a field name>' contains a NUL character (U+0000)");
  EXPECT_EQ(verdict(R"({"ok":"\\u0000 is only text here","n":0,"x":null,"t":true,"u":"\u0001"})"), "ok");
}

// Found by tests/fuzz: 1e999 parsed as infinity was stored as `Infinity` (not JSON), and the
// conversation's metadata then read back as {}: the client's 201 hid a silent loss.
TEST(JsonIo, RefusesNumbersThatAreNotFiniteDoubles) {
  const std::string out_of_range = "request body holds a number out of range (not a finite double)";
  EXPECT_EQ(verdict(R"({"metadata":{"x":1e999}})"), out_of_range);
  EXPECT_EQ(verdict(R"({"temperature":-1e400})"), out_of_range);
  EXPECT_EQ(verdict(R"({"tools":[{"function":{"parameters":{"maximum":[1, 2e308]}}}]})"), out_of_range);
  EXPECT_EQ(verdict(R"({"n":1.7976931348623157e308,"m":-5e-324,"big":18446744073709551616})"), "ok");
}

TEST(JsonIo, RefuseNulTextOnAnyValue) {
  EXPECT_TRUE(refuse_nul_text(boost::json::parse(R"(["a","b"])")));
  const auto bare = refuse_nul_text(boost::json::parse(R"("\u0000")"));
  ASSERT_FALSE(bare);
  EXPECT_EQ(bare.error().message, "'the value' contains a NUL character (U+0000)");
}

}  // namespace
}  // namespace aas::api
