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

namespace aas::http {
namespace {

// The gateway's refusals in each vendor's shape (the type each SDK reads beside the status), for
// every code of the taxonomy; and the RateLimit-* headers every shape carries.
TEST(ErrorResponse, VendorShapesNameEachCodesTypeAndCarryTheRateLimitHeaders) {
  EXPECT_EQ(error_shape_for("/api/ai/v1/messages"), ErrorShape::anthropic);
  EXPECT_EQ(error_shape_for("/api/ai/v1/messages/count_tokens"), ErrorShape::anthropic);
  EXPECT_EQ(error_shape_for("/api/ai/v1/chat/completions"), ErrorShape::openai);
  EXPECT_EQ(error_shape_for("/api/ai/conversations"), ErrorShape::service);

  const std::pair<errc, std::pair<std::string_view, std::string_view>> expected[] = {
      {errc::invalid_request, {"invalid_request_error", "invalid_request_error"}},
      {errc::unauthorized, {"authentication_error", "authentication_error"}},
      {errc::forbidden, {"permission_error", "permission_error"}},
      {errc::not_found, {"not_found_error", "not_found_error"}},
      {errc::method_not_allowed, {"invalid_request_error", "invalid_request_error"}},
      {errc::conflict, {"invalid_request_error", "invalid_request_error"}},
      {errc::payload_too_large, {"invalid_request_error", "request_too_large"}},
      {errc::unsupported_media_type, {"invalid_request_error", "invalid_request_error"}},
      {errc::rate_limited, {"rate_limit_error", "rate_limit_error"}},
      {errc::budget_exceeded, {"insufficient_quota", "rate_limit_error"}},
      {errc::internal, {"server_error", "api_error"}},
      {errc::upstream_error, {"server_error", "api_error"}},
      {errc::unavailable, {"server_error", "overloaded_error"}},
      {errc::upstream_timeout, {"server_error", "timeout_error"}},
  };
  for (const auto& [code, types] : expected) {
    const Error e = make_error(code, "refused", "detail never shown");
    const Response openai = error_response(e, "rid", ErrorShape::openai);
    EXPECT_EQ(openai.status, http_status(code));
    const auto o = boost::json::parse(openai.body).as_object().at("error").as_object();
    EXPECT_EQ(o.at("type").as_string(), types.first) << code_name(code);
    EXPECT_EQ(o.at("code").as_string(), code_name(code));
    EXPECT_TRUE(o.at("param").is_null());
    const Response anthropic = error_response(e, "rid", ErrorShape::anthropic);
    const auto a = boost::json::parse(anthropic.body).as_object();
    EXPECT_EQ(a.at("error").at("type").as_string(), types.second) << code_name(code);
    EXPECT_EQ(a.at("request_id"), "rid");
    ASSERT_NE(find_header(anthropic, "request-id"), nullptr);
    EXPECT_EQ(anthropic.body.find("detail never shown"), std::string::npos);
  }

  // A field named in quotes becomes OpenAI's `param`; an unknown model is `model_not_found`.
  const auto openai_of = [](const Error& e) {
    return boost::json::parse(error_response(e, "", ErrorShape::openai).body).as_object().at("error").as_object();
  };
  EXPECT_EQ(openai_of(make_error(errc::invalid_request, "'temperature' must be 0 to 2")).at("param"), "temperature");
  EXPECT_TRUE(openai_of(make_error(errc::invalid_request, "'' is empty")).at("param").is_null());
  const auto unknown = openai_of(make_error(errc::not_found, "model 'nope' does not exist"));
  EXPECT_EQ(unknown.at("code"), "model_not_found");
  EXPECT_EQ(unknown.at("param"), "model");
  EXPECT_FALSE(anthropic_error_body(make_error(errc::internal, "x"), "").contains("request_id"));

  Error limited = make_error(errc::rate_limited, "slow down");
  limited.rate_limit = Error::RateLimit{60, 0, 42};
  const Response r = error_response(limited, "rid", ErrorShape::openai);
  ASSERT_NE(find_header(r, "ratelimit-limit"), nullptr);
  EXPECT_EQ(find_header(r, "ratelimit-limit")->value, "60");
  EXPECT_EQ(find_header(r, "ratelimit-remaining")->value, "0");
  EXPECT_EQ(find_header(r, "ratelimit-reset")->value, "42");
}

}  // namespace
}  // namespace aas::http
