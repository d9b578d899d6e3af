#include "http/message.hpp"

#include "http/error_response.hpp"

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

namespace aas::http {
namespace {

const Header* find_header(const Response& res, std::string_view name) {
  for (const Header& h : res.headers) {
    if (h.name == name) return &h;
  }
  return nullptr;
}

TEST(Request, HeaderLookupByLowercaseName) {
  Request req;
  req.headers = {{"content-type", "application/json"}, {"x-a", "1"}, {"x-a", "2"}};
  EXPECT_EQ(req.header("content-type"), "application/json");
  EXPECT_EQ(req.header("x-a"), "1");
  EXPECT_FALSE(req.header("authorization"));
}

TEST(Request, QueryDecodesAndFirstOccurrenceWins) {
  Request req;
  req.query_string = "limit=20&q=hello+world%21&limit=50&empty=&flag&na%6De=x&bad=%zz%4";
  EXPECT_EQ(req.query("limit"), "20");
  EXPECT_EQ(req.query("q"), "hello world!");
  EXPECT_EQ(req.query("empty"), "");
  EXPECT_EQ(req.query("flag"), "");
  EXPECT_EQ(req.query("name"), "x");
  EXPECT_EQ(req.query("bad"), "%zz%4");  // malformed escapes are kept, not fatal
  EXPECT_FALSE(req.query("cursor"));
  EXPECT_FALSE(Request{}.query("limit"));
}

TEST(Request, FindsTheQueryParameterThatDecodesToNul) {
  Request req;
  req.query_string = "limit=20&q=a%2500b";  // %25 is '%': "a%00b" is text, not a NUL
  EXPECT_EQ(req.query_param_with_nul(), std::nullopt);
  req.query_string = "limit=20&q=a%00b&tag=%00";
  EXPECT_EQ(req.query_param_with_nul(), "q");
  req.query_string = "x%00y=1";
  EXPECT_EQ(req.query_param_with_nul(), "x?y") << "the name, made printable";
  req.query_string = "plain=1";
  EXPECT_EQ(req.query_param_with_nul(), std::nullopt);
}

TEST(ErrorResponse, EnvelopeAndStatus) {
  const Response res =
      error_response(make_error(errc::not_found, "no \"such\" thing", "secret detail"), "rid-1");
  EXPECT_EQ(res.status, 404);
  EXPECT_EQ(res.content_type, "application/json");
  const auto body = boost::json::parse(res.body).as_object();
  EXPECT_EQ(body.at("success"), false);
  EXPECT_EQ(body.at("error").at("code"), "not_found");
  EXPECT_EQ(body.at("error").at("message"), "no \"such\" thing");
  EXPECT_EQ(body.at("requestId"), "rid-1");
  EXPECT_EQ(res.body.find("secret detail"), std::string::npos);
  EXPECT_EQ(find_header(res, "retry-after"), nullptr);
  EXPECT_EQ(find_header(res, "www-authenticate"), nullptr);
}

TEST(ErrorResponse, RetryAfterAndWwwAuthenticate) {
  Error limited = make_error(errc::rate_limited, "slow down");
  limited.retry_after_seconds = 12;
  const Response res = error_response(limited, "r");
  EXPECT_EQ(res.status, 429);
  ASSERT_NE(find_header(res, "retry-after"), nullptr);
  EXPECT_EQ(find_header(res, "retry-after")->value, "12");

  const Response unauthorized = error_response(make_error(errc::unauthorized, "no"), "r");
  EXPECT_EQ(unauthorized.status, 401);
  ASSERT_NE(find_header(unauthorized, "www-authenticate"), nullptr);
  EXPECT_EQ(find_header(unauthorized, "www-authenticate")->value, "Bearer");
}

TEST(ErrorResponse, LongMessagesStillSerialize) {
  const std::string long_message(10000, 'x');
  const Response res = error_response(make_error(errc::invalid_request, long_message), "r");
  EXPECT_EQ(boost::json::parse(res.body).at("error").at("message").as_string(), long_message);
}

TEST(JsonOk, WrapsData) {
  const Response res = json_ok(R"({"a":1})", 201);
  EXPECT_EQ(res.status, 201);
  EXPECT_EQ(res.body, R"({"success":true,"data":{"a":1}})");
  EXPECT_EQ(json_ok("[]").status, 200);
}

}  // namespace
}  // namespace aas::http
