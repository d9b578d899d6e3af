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

TEST(JsonIo, RefuseNulTextOnAnyValue) {
  EXPECT_TRUE(refuse_nul_text(boost::json::parse(R"(["a","b"])")));
  const auto bare = refuse_nul_text(boost::json::parse(R"("\u0000")"));
  ASSERT_FALSE(bare);
  EXPECT_EQ(bare.error().message, "'the value' contains a NUL character (U+0000)");
}

}  // namespace
}  // namespace aas::api
