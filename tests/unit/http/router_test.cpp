#include "http/router.hpp"

#include <gtest/gtest.h>

namespace aas::http {
namespace {

Handler noop() {
  return [](Context&) -> boost::asio::awaitable<Result<Response>> { co_return Response{}; };
}

Router make_router() {
  Router r;
  r.add({"GET", "/health", Access::open, noop()});
  r.add({"GET", "/api/ai/conversations", Access::user, noop()});
  r.add({"POST", "/api/ai/conversations", Access::user, noop()});
  r.add({"GET", "/api/ai/conversations/:id", Access::user, noop()});
  r.add({"PATCH", "/api/ai/conversations/:id", Access::user, noop()});
  r.add({"DELETE", "/api/ai/conversations/:id", Access::user, noop()});
  r.add({"GET", "/api/ai/conversations/search", Access::user, noop()});
  r.add({"GET", "/kb/:kb/docs/:doc", Access::user, noop()});
  r.add({"GET", "/", Access::open, noop()});
  return r;
}

TEST(Router, MatchesStaticRoute) {
  const Router r = make_router();
  const auto m = r.match("GET", "/health");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->pattern, "/health");
  EXPECT_TRUE(m.params.empty());
  EXPECT_TRUE(m.allowed_methods.empty());
}

TEST(Router, ExtractsParams) {
  const Router r = make_router();
  const auto m = r.match("GET", "/kb/k1/docs/d 2");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->pattern, "/kb/:kb/docs/:doc");
  ASSERT_EQ(m.params.size(), 2u);
  EXPECT_EQ(m.params[0], (std::pair<std::string, std::string>{"kb", "k1"}));
  EXPECT_EQ(m.params[1], (std::pair<std::string, std::string>{"doc", "d 2"}));
}

TEST(Router, StaticSegmentBeatsParamRegardlessOfOrder) {
  Router r;
  r.add({"GET", "/a/:id", Access::open, noop()});
  r.add({"GET", "/a/new", Access::open, noop()});
  EXPECT_EQ(r.match("GET", "/a/new").route->pattern, "/a/new");
  EXPECT_EQ(r.match("GET", "/a/other").route->pattern, "/a/:id");

  const Router r2 = make_router();
  EXPECT_EQ(r2.match("GET", "/api/ai/conversations/search").route->pattern,
            "/api/ai/conversations/search");
  EXPECT_EQ(r2.match("GET", "/api/ai/conversations/123").route->pattern,
            "/api/ai/conversations/:id");
}

TEST(Router, EarlierStaticSegmentDecidesPrecedence) {
  Router r;
  r.add({"GET", "/:a/x", Access::open, noop()});
  r.add({"GET", "/s/:b", Access::open, noop()});
  EXPECT_EQ(r.match("GET", "/s/x").route->pattern, "/s/:b");
}

TEST(Router, ExactSegmentCount) {
  const Router r = make_router();
  EXPECT_EQ(r.match("GET", "/api/ai/conversations/1/extra").route, nullptr);
  EXPECT_TRUE(r.match("GET", "/api/ai/conversations/1/extra").allowed_methods.empty());
  EXPECT_EQ(r.match("GET", "/api/ai").route, nullptr);
}

TEST(Router, TrailingSlashIsADifferentPath) {
  const Router r = make_router();
  EXPECT_EQ(r.match("GET", "/health/").route, nullptr);
  // "/api/ai/conversations/" would give :id an empty value: not a match either.
  EXPECT_EQ(r.match("GET", "/api/ai/conversations/").route, nullptr);
  EXPECT_NE(r.match("GET", "/").route, nullptr);
}

TEST(Router, ReportsAllowedMethodsForKnownPathWrongMethod) {
  const Router r = make_router();
  const auto m = r.match("PUT", "/api/ai/conversations/abc");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_EQ(m.allowed_methods, (std::vector<std::string>{"GET", "PATCH", "DELETE"}));

  const auto collection = r.match("DELETE", "/api/ai/conversations");
  EXPECT_EQ(collection.allowed_methods, (std::vector<std::string>{"GET", "POST"}));
}

TEST(Router, AStaticPathOwnsItsOtherMethodsToo) {
  // GET /api/ai/conversations/search exists: a PATCH there is a 405 naming GET, not a PATCH of
  // a conversation called "search".
  const Router r = make_router();
  const auto m = r.match("PATCH", "/api/ai/conversations/search");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_EQ(m.allowed_methods, std::vector<std::string>{"GET"});
  const auto item = r.match("PATCH", "/api/ai/conversations/123");
  ASSERT_NE(item.route, nullptr);
  EXPECT_EQ(item.route->pattern, "/api/ai/conversations/:id");
}

TEST(Router, UnknownPathHasNoAllowedMethods) {
  const Router r = make_router();
  const auto m = r.match("GET", "/nope");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_TRUE(m.allowed_methods.empty());
  EXPECT_EQ(r.match("GET", "").route, nullptr);
  EXPECT_EQ(r.match("GET", "health").route, nullptr);
}

TEST(Router, HeadFallsBackToGet) {
  const Router r = make_router();
  const auto m = r.match("HEAD", "/health");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->method, "GET");
}

TEST(Router, RejectsBadAndDuplicateRoutes) {
  Router r;
  r.add({"GET", "/x", Access::open, noop()});
  EXPECT_THROW(r.add({"GET", "/x", Access::open, noop()}), std::invalid_argument);
  EXPECT_THROW(r.add({"GET", "x", Access::open, noop()}), std::invalid_argument);
  EXPECT_NO_THROW(r.add({"POST", "/x", Access::open, noop()}));
}

TEST(Router, ContextParamLookup) {
  Request req;
  Context ctx{req, "rid", std::nullopt, {{"id", "42"}, {"kb", "main"}}};
  EXPECT_EQ(ctx.param("id"), "42");
  EXPECT_EQ(ctx.param("kb"), "main");
  EXPECT_EQ(ctx.param("missing"), "");
}

}  // namespace
}  // namespace aas::http
