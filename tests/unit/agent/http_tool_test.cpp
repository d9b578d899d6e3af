#include "agent/http_tool.hpp"
#include "agent/settings.hpp"
#include "agent/toolbox.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

namespace aas::agent {
namespace {

namespace json = boost::json;
constexpr std::string_view kBackend = "http://todo.internal:3000";

HttpToolSpec tool(std::string name, std::string method, std::string path, std::string params) {
  HttpToolSpec t;
  t.name = std::move(name);
  t.method = std::move(method);
  t.path = std::move(path);
  t.parameters = std::move(params);
  return t;
}

constexpr const char* kIdTitle =
    R"({"type":"object","properties":{"id":{"type":"string"},"title":{"type":"string"},"q":{"type":"string"}}})";

std::string refusal(const std::vector<HttpToolSpec>& tools, std::string_view backend = kBackend) {
  auto r = validate_tools(tools, backend);
  return r ? std::string("ok") : r.error().message;
}

TEST(ValidateTools, RefusesToolsThatLeaveTheMonolithNamingTheTool) {
  EXPECT_EQ(refusal({tool("update_todo", "PATCH", "/api/todos/{id}", kIdTitle)}), "ok");
  EXPECT_EQ(refusal({tool("t", "GET", "http://todo.internal:3000/api/todos", kIdTitle)}), "ok");
  EXPECT_EQ(refusal({tool("steal", "GET", "http://evil.example/api", kIdTitle)}),
            "tools[steal].path: outside MAIN_BACKEND_URL (http://todo.internal:3000): tools call the monolith only");
  EXPECT_EQ(refusal({tool("sneaky", "GET", "http://todo.internal:3000.evil.example/x", kIdTitle)}),
            "tools[sneaky].path: outside MAIN_BACKEND_URL (http://todo.internal:3000): tools call the monolith only");
  EXPECT_EQ(refusal({tool("up", "GET", "/api/../admin", kIdTitle)}),
            "tools[up].path: must be a plain path under MAIN_BACKEND_URL (no .., //, ?, #, @)");
  EXPECT_EQ(refusal({tool("rel", "GET", "api/todos", kIdTitle)}), "tools[rel].path: must start with / (under MAIN_BACKEND_URL)");
  EXPECT_EQ(refusal({tool("t", "GET", "/api/todos", kIdTitle)}, ""),
            "tools[t].path: HTTP tools need MAIN_BACKEND_URL (the monolith they call)");
}

TEST(ValidateTools, RefusesBadSchemasNamesAndArguments) {
  EXPECT_EQ(refusal({tool("t", "GET", "/x", R"({"type":"object","properties":{"a":{"type":"date"}}})")}),
            R"(tools[t].parameters: properties.a.type: unknown type "date")");
  EXPECT_EQ(refusal({tool("t", "GET", "/x", R"({"type":"string"})")}),
            R"(tools[t].parameters: the arguments' schema must be {"type": "object", ...})");
  EXPECT_EQ(refusal({tool("t", "GET", "/x/{nope}", kIdTitle)}), "tools[t].path: {nope} is not a property of parameters");
  EXPECT_EQ(refusal({tool("t", "FETCH", "/x", kIdTitle)}), "tools[t].method: one of GET, POST, PUT, PATCH, DELETE");
  EXPECT_EQ(refusal({tool("bad name", "GET", "/x", kIdTitle)}),
            "tools[bad name].name: required: letters, digits, _ and - (at most 64)");
  EXPECT_EQ(refusal({tool("t", "GET", "/x", kIdTitle), tool("t", "GET", "/y", kIdTitle)}), "tools[t].name: declared twice");
  EXPECT_EQ(refusal({tool("current_time", "GET", "/x", kIdTitle)}), "tools[current_time].name: is a built-in tool's");
}

TEST(PlanRequest, FillsThePathQueryAndBodyWithoutLettingArgumentsMoveTheRequest) {
  HttpToolSpec t = tool("update_todo", "PATCH", "/api/todos/{id}", kIdTitle);
  t.query = {"q"};
  auto r = plan_request(t, kBackend, json::parse(R"({"id":"42","title":"milk","q":"a b"})").as_object());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->method, "PATCH");
  EXPECT_EQ(r->url, "http://todo.internal:3000/api/todos/42?q=a%20b");
  EXPECT_EQ(r->body, R"({"title":"milk"})");

  // An argument is one encoded segment: it cannot climb up or add a path or a host.
  auto escape = plan_request(t, kBackend, json::parse(R"({"id":"../../admin?x=1#@evil"})").as_object());
  ASSERT_TRUE(escape);
  EXPECT_EQ(escape->url, "http://todo.internal:3000/api/todos/..%2F..%2Fadmin%3Fx%3D1%23%40evil");
  EXPECT_FALSE(plan_request(t, kBackend, json::parse(R"({"id":".."})").as_object()));
  EXPECT_FALSE(plan_request(t, kBackend, json::parse(R"({"title":"x"})").as_object())) << "path argument missing";
  // Numbers go in as their JSON text; GET sends no body.
  auto get = plan_request(tool("get", "GET", "/api/todos/{id}", kIdTitle), kBackend, json::parse(R"({"id":7})").as_object());
  ASSERT_TRUE(get);
  EXPECT_EQ(get->url, "http://todo.internal:3000/api/todos/7");
  EXPECT_EQ(get->body, "");
}

TEST(PlanRequest, SendsTheBodyAsDeclaredWithFixedFieldsOverTheModelsAndRefusesEmptySegments) {
  constexpr const char* kTodo =
      R"({"type":"object","properties":{"id":{"type":"string"},"title":{"type":"string"},"q":{"type":"string"},"page":{"type":"integer"}}})";
  HttpToolSpec post = tool("create", "POST", "/api/lists/{id}/todos", kTodo);
  post.query = {"q", "page"};
  post.fixed = R"({"done":false,"title":"fixed wins"})";
  auto r = plan_request(post, kBackend, json::parse(R"({"id":"l1","title":"milk","q":null,"page":2,"extra":true})").as_object());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->url, "http://todo.internal:3000/api/lists/l1/todos?page=2") << "a null query argument is left out";
  EXPECT_EQ(json::parse(r->body), json::parse(R"({"extra":true,"done":false,"title":"fixed wins"})"))
      << "every argument not in the path or the query, then the fixed fields over them";

  HttpToolSpec put = tool("rename", "PUT", "/api/todos/{id}", kTodo);
  put.body = {"title"};
  put.query = {"q"};
  auto named = plan_request(put, kBackend, json::parse(R"({"id":"7","title":"t","q":"a","page":1})").as_object());
  ASSERT_TRUE(named);
  EXPECT_EQ(named->url, "http://todo.internal:3000/api/todos/7?q=a");
  EXPECT_EQ(named->body, R"({"title":"t"})") << "a declared body list sends only its arguments";

  HttpToolSpec two = tool("find", "GET", "/api/todos", kTodo);
  two.query = {"q", "page"};
  auto both = plan_request(two, kBackend, json::parse(R"({"q":"x y","page":3})").as_object());
  ASSERT_TRUE(both);
  EXPECT_EQ(both->url, "http://todo.internal:3000/api/todos?q=x%20y&page=3");

  const HttpToolSpec get = tool("get", "GET", "/api/todos/{id}", kTodo);
  for (const char* id : {R"("")", R"(".")"}) {
    auto refused = plan_request(get, kBackend, json::parse(std::string(R"({"id":)") + id + "}").as_object());
    ASSERT_FALSE(refused) << id;
    EXPECT_EQ(refused.error().message, "id: not a valid identifier");
  }
  auto missing = plan_request(get, kBackend, json::parse(R"({"id":null})").as_object());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "id: required");
}

TEST(DescribeResponse, ReadsTheContentTypeLooselyAndSaysWhatTheAppAnswered) {
  EXPECT_EQ(describe_response(200, "Application/Problem+JSON ", R"({"a": [1, 2]})").text, R"({"a":[1,2]})");
  EXPECT_EQ(describe_response(200, "application/xml", "<a/>").text, "<a/>");
  EXPECT_EQ(describe_response(200, "text/html; charset=latin1", "caf\xe9").text,
            "[binary response: 4 bytes of text/html]")
      << "text that is not UTF-8 is described, not passed on";
  EXPECT_EQ(describe_response(200, "application/json", "").text, "(no content)");
  const ToolOutput failed = describe_response(500, "text/plain", "");
  EXPECT_TRUE(failed.error);
  EXPECT_EQ(failed.text, "the app refused the request (HTTP 500)");
  const ToolOutput redirect = describe_response(302, "text/plain", "moved");
  EXPECT_TRUE(redirect.error) << "only 2xx is a success";
  EXPECT_EQ(redirect.text, "the app refused the request (HTTP 302): moved");
}

TEST(HttpTool, IsOfferedToItsRolesOnly) {
  HttpToolSpec spec = tool("purge", "DELETE", "/api/todos", kIdTitle);
  EXPECT_TRUE(HttpTool(spec, std::string(kBackend), nullptr).allowed_for({})) << "no roles declared: everyone";
  spec.roles = {"admin", "owner"};
  const HttpTool restricted(spec, std::string(kBackend), nullptr);
  EXPECT_FALSE(restricted.allowed_for({}));
  EXPECT_FALSE(restricted.allowed_for({"user"}));
  EXPECT_TRUE(restricted.allowed_for({"user", "owner"}));
  EXPECT_EQ(restricted.definition().name, "purge");
}

TEST(DescribeResponse, GivesTheModelJsonTextOrADescriptionAndErrorsWithTheAppsMessage) {
  EXPECT_EQ(describe_response(200, "application/json; charset=utf-8", R"({ "id" : 1 })").text, R"({"id":1})");
  EXPECT_EQ(describe_response(200, "text/plain", "hello").text, "hello");
  const ToolOutput binary = describe_response(200, "image/png", std::string("\x89PNG\0\0", 6));
  EXPECT_EQ(binary.text, "[binary response: 6 bytes of image/png]");
  EXPECT_FALSE(binary.error);
  EXPECT_EQ(describe_response(204, "", "").text, "(no content)");
  const ToolOutput refused = describe_response(404, "application/json", R"({"error":"Todo not found"})");
  EXPECT_TRUE(refused.error);
  EXPECT_EQ(refused.text, R"(the app refused the request (HTTP 404): {"error":"Todo not found"})");
  EXPECT_EQ(describe_response(200, "application/json", "{broken").text, "{broken") << "not JSON: text as it is";
  EXPECT_EQ(describe_response(200, "", std::string("a\0b", 3)).text, "[binary response: 3 bytes of unknown type]");
}

}  // namespace
}  // namespace aas::agent

namespace aas::agent {
namespace {

TEST(Toolbox, OffersARoleRestrictedToolOnlyToThoseRolesAndFindsItOnlyForThem) {
  Toolbox box;
  HttpToolSpec admin_only = tool("purge", "DELETE", "/api/todos/{id}", kIdTitle);
  admin_only.roles = {"admin"};
  ASSERT_TRUE(box.add(std::make_unique<HttpTool>(admin_only, std::string(kBackend), nullptr)));
  ASSERT_TRUE(box.add(std::make_unique<HttpTool>(tool("list", "GET", "/api/todos", kIdTitle), std::string(kBackend), nullptr)));
  EXPECT_FALSE(box.add(std::make_unique<HttpTool>(tool("list", "GET", "/x", kIdTitle), std::string(kBackend), nullptr)));

  const auto names = [&](const std::vector<std::string>& roles) {
    std::vector<std::string> out;
    for (const auto& d : box.definitions_for(roles)) out.push_back(d.name);
    return out;
  };
  EXPECT_EQ(names({"user"}), std::vector<std::string>{"list"});
  EXPECT_EQ(names({"user", "admin"}), (std::vector<std::string>{"purge", "list"}));
  EXPECT_EQ(box.find("purge", {"user"}), nullptr) << "a call to a tool the user may not use is unknown";
  ASSERT_NE(box.find("purge", {"admin"}), nullptr);
  EXPECT_TRUE(box.find("purge", {"admin"})->tool->definition().name == "purge");
}

}  // namespace
}  // namespace aas::agent
