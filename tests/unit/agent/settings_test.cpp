// The start-up checks of the agent's configuration: every way a declared HTTP tool or MCP server
// can be unusable is refused with the tool or server and the member named, as the operator reads it
// when the service does not start (app/config.cpp throws these messages).
#include "agent/settings.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace aas::agent {
namespace {

constexpr std::string_view kBackend = "http://todo.internal:3000/";
constexpr const char* kIdSchema = R"({"type":"object","properties":{"id":{"type":"string"}}})";

HttpToolSpec tool(std::string name, std::string path) {
  HttpToolSpec t;
  t.name = std::move(name);
  t.path = std::move(path);
  t.parameters = kIdSchema;
  return t;
}

std::string refusal(const std::vector<HttpToolSpec>& tools, std::string_view backend = kBackend) {
  auto r = validate_tools(tools, backend);
  return r ? std::string("ok") : r.error().message;
}

TEST(ValidateTools, EachUnusableToolIsRefusedNamingTheToolAndTheMember) {
  const auto with = [](auto change) {
    HttpToolSpec t = tool("t", "/api/todos/{id}");
    change(t);
    return refusal({t});
  };
  EXPECT_EQ(with([](HttpToolSpec&) {}), "ok");
  EXPECT_EQ(with([](HttpToolSpec& t) { t.name = ""; }), "tools[0].name: required: letters, digits, _ and - (at most 64)");
  EXPECT_EQ(with([](HttpToolSpec& t) { t.name = std::string(65, 'a'); }),
            "tools[" + std::string(65, 'a') + "].name: required: letters, digits, _ and - (at most 64)");
  EXPECT_EQ(with([](HttpToolSpec& t) { t.name = "todo.list"; }),
            "tools[todo.list].name: required: letters, digits, _ and - (at most 64)");
  EXPECT_EQ(with([](HttpToolSpec& t) { t.name = "knowledge_search"; }), "tools[knowledge_search].name: is a built-in tool's");
  EXPECT_EQ(with([](HttpToolSpec& t) { t.method = "get"; }), "tools[t].method: one of GET, POST, PUT, PATCH, DELETE");
  EXPECT_EQ(with([](HttpToolSpec& t) { t.path = ""; }), "tools[t].path: required");
  EXPECT_EQ(with([](HttpToolSpec& t) { t.path = "https://todo.internal:3000/api"; }),
            "tools[t].path: outside MAIN_BACKEND_URL (http://todo.internal:3000): tools call the monolith only");
  for (const char* path : {"/api//todos", "/api/todos?all=1", "/api/todos#x", "/api/@me", "/api\\todos", "/api/my todos"})
    EXPECT_EQ(with([&](HttpToolSpec& t) { t.path = path; }),
              "tools[t].path: must be a plain path under MAIN_BACKEND_URL (no .., //, ?, #, @)")
        << path;
  EXPECT_EQ(with([](HttpToolSpec& t) { t.path = "/api/todos/{id"; }), "tools[t].path: a { without its }");
  EXPECT_EQ(with([](HttpToolSpec& t) { t.path = "/api/<todos>"; }),
            "tools[t].path: not a valid URL once joined with MAIN_BACKEND_URL");
  EXPECT_EQ(with([](HttpToolSpec& t) { t.fixed = "{broken"; }), "tools[t].fixed: must be an object of body fields");
  EXPECT_EQ(with([](HttpToolSpec& t) { t.fixed = "[]"; }), "tools[t].fixed: must be an object of body fields");
  EXPECT_EQ(with([](HttpToolSpec& t) { t.fixed = R"({"done":true})"; }), "tools[t].fixed: a GET request has no body");
  EXPECT_EQ(with([](HttpToolSpec& t) {
              t.method = "DELETE";
              t.fixed = R"({"hard":true})";
            }),
            "tools[t].fixed: a DELETE request has no body");
  EXPECT_EQ(with([](HttpToolSpec& t) {
              t.method = "PATCH";
              t.fixed = R"({"done":true})";
            }),
            "ok");
  EXPECT_EQ(with([](HttpToolSpec& t) { t.parameters = "{"; }), "tools[t].parameters: schema: not valid JSON");
  EXPECT_EQ(with([](HttpToolSpec& t) { t.parameters = R"({"properties":{}})"; }),
            R"(tools[t].parameters: the arguments' schema must be {"type": "object", ...})");
  EXPECT_EQ(with([](HttpToolSpec& t) { t.parameters = R"({"type":"object"})"; }),
            "tools[t].path: {id} is not a property of parameters")
      << "no properties at all";
  EXPECT_EQ(with([](HttpToolSpec& t) { t.query = {"id", "page"}; }), "tools[t].query: page is not a property of parameters");
  EXPECT_EQ(with([](HttpToolSpec& t) {
              t.method = "POST";
              t.body = {"title"};
            }),
            "tools[t].body: title is not a property of parameters");
}

TEST(ValidateTools, AWholeUrlMustStartWithTheBackendAndTheBackendsSlashesDoNotMatter) {
  EXPECT_EQ(refusal({tool("t", "http://todo.internal:3000/api/todos/{id}")}), "ok");
  EXPECT_EQ(refusal({tool("t", "/api/todos/{id}")}, "http://todo.internal:3000"), "ok");
  EXPECT_EQ(refusal({tool("t", "http://todo.internal:3000")}),
            "tools[t].path: outside MAIN_BACKEND_URL (http://todo.internal:3000): tools call the monolith only")
      << "the backend's root itself is no path under it";
  // The second tool is checked as carefully as the first, and named.
  EXPECT_EQ(refusal({tool("a", "/api/a/{id}"), tool("b", "/api/../b")}),
            "tools[b].path: must be a plain path under MAIN_BACKEND_URL (no .., //, ?, #, @)");
  EXPECT_EQ(refusal({}, ""), "ok") << "no tools need no backend";
}

TEST(ToolBaseUrl, JoinsARelativePathAndKeepsAWholeUrl) {
  EXPECT_EQ(tool_base_url("http://app:3000//", "/api/x"), "http://app:3000/api/x");
  EXPECT_EQ(tool_base_url("http://app:3000", "https://app:3000/api/x"), "https://app:3000/api/x");
  EXPECT_EQ(tool_base_url("", "/api/x"), "/api/x");
}

std::string mcp_refusal(const McpServerSpec& m, const std::vector<HttpToolSpec>& tools = {}) {
  auto r = validate_mcp({m}, tools);
  return r ? std::string("ok") : r.error().message;
}

TEST(ValidateMcp, EachUnusableServerIsRefusedNamingTheServerAndTheMember) {
  const McpServerSpec ok{"notes", "https://mcp.internal/mcp", {"search", "read-note"}, {{"Authorization", "Bearer k"}}};
  const auto with = [&](auto change) {
    McpServerSpec m = ok;
    change(m);
    return mcp_refusal(m);
  };
  EXPECT_EQ(with([](McpServerSpec&) {}), "ok");
  EXPECT_EQ(with([](McpServerSpec& m) { m.name = ""; }),
            "mcp[0].name: required: letters, digits, _ and - (at most 64, no \"__\")");
  EXPECT_EQ(with([](McpServerSpec& m) { m.name = "my notes"; }),
            "mcp[my notes].name: required: letters, digits, _ and - (at most 64, no \"__\")");
  EXPECT_EQ(with([](McpServerSpec& m) { m.url = "ws://mcp.internal/mcp"; }), "mcp[notes].url: must be an http:// or https:// URL");
  EXPECT_EQ(with([](McpServerSpec& m) { m.url = "http://mcp internal/mcp"; }), "mcp[notes].url: must be an http:// or https:// URL");
  EXPECT_EQ(with([](McpServerSpec& m) { m.allow = {"search", "bad.tool"}; }),
            "mcp[notes].allow: 'bad.tool': letters, digits, _ and - (\"notes__<tool>\" at most 64)");
  EXPECT_EQ(with([](McpServerSpec& m) { m.allow = {std::string(58, 'x')}; }),
            "mcp[notes].allow: '" + std::string(58, 'x') + "': letters, digits, _ and - (\"notes__<tool>\" at most 64)")
      << "notes__ and 58 characters make 65";
  EXPECT_EQ(with([](McpServerSpec& m) { m.allow = {std::string(57, 'x')}; }), "ok");
  EXPECT_EQ(with([](McpServerSpec& m) { m.headers = {{"", "x"}}; }), "mcp[notes].headers: '' is not a header that may be set");
  EXPECT_EQ(with([](McpServerSpec& m) { m.headers = {{"X Key", "x"}}; }),
            "mcp[notes].headers: 'X Key' is not a header that may be set");
  EXPECT_EQ(with([](McpServerSpec& m) { m.headers = {{"HOST", "evil"}}; }),
            "mcp[notes].headers: 'HOST' is not a header that may be set");
  EXPECT_EQ(with([](McpServerSpec& m) { m.headers = {{"X-Key", "a\r\nX-Admin: 1"}}; }),
            "mcp[notes].headers: 'X-Key': a value on one line");
  EXPECT_EQ(with([](McpServerSpec& m) { m.headers = {{"X-Key!#$%&'*+-.^_`|~", "v"}}; }), "ok")
      << "every token character of RFC 9110 is allowed in a name";
}

TEST(ValidateMcp, TheSecondServerIsCheckedAndNamedToo) {
  const McpServerSpec a{"a", "http://127.0.0.1:9/mcp", {"x"}, {}};
  McpServerSpec b{"b", "http://127.0.0.1:9/mcp", {}, {}};
  auto r = validate_mcp({a, b}, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "mcp[b].allow: required: the tools of the server that may be offered");
  EXPECT_EQ(r.error().code, errc::invalid_request);
  b.allow = {"x"};
  EXPECT_TRUE(validate_mcp({a, b}, {tool("a_x", "/x")})) << "a__x is the MCP tool's name, a_x is another";
}

}  // namespace
}  // namespace aas::agent
