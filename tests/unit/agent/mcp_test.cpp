// The MCP client's pure parts: reading a JSON-RPC response from either answer format of the
// Streamable HTTP transport, a tools/call result as the model reads it, which server schemas are
// usable, and the configuration's checks. The whole exchange is tested against a server written
// with the official SDK in tests/blackbox/agent-mcp.test.mjs.
#include "agent/mcp.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

namespace aas::agent {
namespace {

namespace json = boost::json;

TEST(McpResponse, ReadsTheResponseWithItsIdFromJsonOrAnEventStream) {
  auto plain = read_rpc_response("application/json", R"({"jsonrpc":"2.0","id":3,"result":{"tools":[]}})", 3);
  ASSERT_TRUE(plain);
  EXPECT_TRUE(plain->at("tools").is_array());

  // A server may send its own notifications first; the last event may lack its blank line.
  const std::string sse =
      "event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\r\n\r\n"
      ": a comment\n"
      "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\n"
      "data: \"result\":{\"content\":[]}}\n";
  auto streamed = read_rpc_response("text/event-stream; charset=utf-8", sse, 7);
  ASSERT_TRUE(streamed) << streamed.error().message;
  EXPECT_TRUE(streamed->at("content").is_array());

  auto batch = read_rpc_response("application/json", R"([{"jsonrpc":"2.0","id":1,"result":1},{"jsonrpc":"2.0","id":2,"result":2}])", 2);
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->as_int64(), 2);
}

TEST(McpResponse, ErrorsAndJunkAreUpstreamErrors) {
  auto refused = read_rpc_response("application/json",
                                   R"({"jsonrpc":"2.0","id":4,"error":{"code":-32602,"message":"Unknown tool: x"}})", 4);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, errc::upstream_error);
  EXPECT_EQ(refused.error().message, "-32602: Unknown tool: x");
  EXPECT_FALSE(read_rpc_response("application/json", "<html>", 1));
  EXPECT_FALSE(read_rpc_response("application/json", R"({"jsonrpc":"2.0","id":9,"result":{}})", 1));
  EXPECT_FALSE(read_rpc_response("text/event-stream", "data: {\"jsonrpc\":\"2.0\",\"method\":\"ping\"}\n\n", 1));
}

TEST(McpCallResult, TextJoinedOtherPartsDescribedIsErrorKept) {
  auto out = describe_call_result(json::parse(R"({"content":[{"type":"text","text":"a"},
      {"type":"image","data":"AAAA","mimeType":"image/png"},{"type":"resource","resource":{"uri":"file:///x","text":"body"}},
      {"type":"resource_link","uri":"file:///y","name":"y"}]})"));
  EXPECT_EQ(out.text, "a\n[image: image/png]\nbody\n[resource: file:///y]");
  EXPECT_FALSE(out.error);
  auto failed = describe_call_result(json::parse(R"({"content":[{"type":"text","text":"disk full"}],"isError":true})"));
  EXPECT_EQ(failed.text, "disk full");
  EXPECT_TRUE(failed.error);
  EXPECT_EQ(describe_call_result(json::parse(R"({"content":[],"structuredContent":{"n":1}})")).text, R"({"n":1})");
  EXPECT_EQ(describe_call_result(json::parse(R"({"content":[]})")).text, "(no content)");
}

TEST(McpSchema, DropsTheSchemaAnnotationAndRefusesWhatTheSubsetCannotCheck) {
  std::string problem;
  auto usable = usable_schema(json::parse(R"({"$schema":"http://json-schema.org/draft-07/schema#","type":"object",
      "properties":{"a":{"type":"number"}},"required":["a"],"additionalProperties":false})"), problem);
  ASSERT_TRUE(usable) << problem;
  EXPECT_EQ(usable->find("$schema"), std::string::npos);
  EXPECT_FALSE(usable_schema(json::parse(R"({"type":"object","properties":{"v":{"oneOf":[{"type":"string"}]}}})"), problem));
  EXPECT_NE(problem.find("oneOf"), std::string::npos) << problem;
  EXPECT_FALSE(usable_schema(json::parse(R"({"type":"string"})"), problem));
}

TEST(McpSettings, EachServerIsCheckedAndNamed) {
  const auto error_of = [](McpServerSpec m, std::vector<HttpToolSpec> tools = {}) {
    auto r = validate_mcp({std::move(m)}, tools);
    return r ? std::string() : r.error().message;
  };
  McpServerSpec ok{"notes", "http://127.0.0.1:9/mcp", {"echo"}, {{"x-api-key", "k"}}};
  EXPECT_EQ(error_of(ok), "");
  auto bad = ok;
  bad.name = "a__b";
  EXPECT_EQ(error_of(bad).rfind("mcp[a__b].name:", 0), 0u);
  bad = ok;
  bad.url = "file:///etc/passwd";
  EXPECT_EQ(error_of(bad), "mcp[notes].url: must be an http:// or https:// URL");
  bad = ok;
  bad.allow.clear();
  EXPECT_EQ(error_of(bad).rfind("mcp[notes].allow: required", 0), 0u);
  bad = ok;
  bad.headers = {{"Mcp-Session-Id", "x"}};
  EXPECT_EQ(error_of(bad), "mcp[notes].headers: 'Mcp-Session-Id' is not a header that may be set");
  HttpToolSpec clash;
  clash.name = "notes__echo";
  EXPECT_EQ(error_of(ok, {clash}), "mcp[notes].allow: 'notes__echo' is also an HTTP tool's name");
  EXPECT_EQ(validate_mcp({ok, ok}, {}).error().message, "mcp[notes].name: declared twice");
}

}  // namespace
}  // namespace aas::agent

namespace aas::agent {
namespace {

// "ok: <result>" or the upstream error's message.
std::string rpc(std::string_view content_type, std::string_view body, std::int64_t id) {
  auto r = read_rpc_response(content_type, body, id);
  if (!r) {
    EXPECT_EQ(r.error().code, errc::upstream_error);
    return r.error().message;
  }
  return "ok: " + json::serialize(*r);
}

TEST(McpResponse, EachMalformedAnswerIsAnUpstreamErrorSayingWhat) {
  const std::vector<std::tuple<std::string_view, std::string_view, std::string>> cases{
      {"application/json", R"({"jsonrpc":"2.0","id":1,"result":5})", "ok: 5"},
      {"Application/JSON ; charset=utf-8", R"({"jsonrpc":"2.0","id":1.0,"result":"x"})", R"(ok: "x")"},
      {"application/json", R"({"jsonrpc":"2.0","id":1})", "the MCP server's response has neither result nor error"},
      {"application/json", R"({"jsonrpc":"2.0","id":"1","result":1})", "the MCP server's response has another id"},
      {"application/json", R"({"jsonrpc":"2.0","result":1})", "the MCP server's response has another id"},
      {"application/json", R"({"jsonrpc":"2.0","id":1,"method":"ping"})", "the MCP server's response has another id"},
      {"application/json", R"([{"jsonrpc":"2.0","id":2,"result":2}])", "the MCP server's response has another id"},
      {"application/json", R"([{"jsonrpc":"2.0","id":2,"result":2}, 7])",
       "the MCP server answered something that is not JSON-RPC"},
      {"application/json", "7", "the MCP server answered something that is not JSON-RPC"},
      {"application/json", R"({"jsonrpc":"2.0","id":1,"error":{}})", "JSON-RPC error"},
      {"application/json", R"({"jsonrpc":"2.0","id":1,"error":{"code":"bad","message":5}})", "JSON-RPC error"},
      {"application/json", R"({"jsonrpc":"2.0","id":1,"error":{"message":"gone"}})", "JSON-RPC error: gone"},
      {"application/json", R"({"jsonrpc":"2.0","id":1,"error":"gone","result":3})", "ok: 3"},
      {"text/event-stream", "", "the MCP server's event stream ended without the response"},
      {"text/event-stream", "event: ping\n\ndata: not json\n\ndata: 5\n\n",
       "the MCP server answered something that is not JSON-RPC"},
      {"text/event-stream", "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1,\"message\":\"no\"}}\n\n", "1: no"},
      {"text/event-stream", "data: not json", "the MCP server's event stream ended without the response"},
      {"text/event-stream", "data: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":2}",
       "the MCP server's event stream ended without the response"},
      {"text/event-stream", "data: [{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1}]", "ok: 1"},
      {"text/event-stream", "data: 3", "the MCP server answered something that is not JSON-RPC"},
      {"text/event-stream",
       "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1}\n\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":2}\n\n",
       "ok: 1"},
  };
  for (const auto& [type, body, expected] : cases) EXPECT_EQ(rpc(type, body, 1), expected) << type << " " << body;
}

TEST(McpCallResult, EachPartKindIsReadOrDescribedAndJunkSkipped) {
  const auto text = [](std::string_view result) { return describe_call_result(json::parse(result)).text; };
  EXPECT_EQ(describe_call_result(json::parse("[]")).text, "the MCP server's result is not an object");
  EXPECT_TRUE(describe_call_result(json::parse("[]")).error);
  EXPECT_EQ(text(R"({"content":"plain"})"), "(no content)");
  EXPECT_EQ(text(R"({"content":[1,{"text":"untyped"},{"type":5},{"type":"video","uri":"x"},{"type":"text","text":7}]})"),
            "(no content)");
  EXPECT_EQ(text(R"({"content":[{"type":"audio","mimeType":"audio/wav","data":"AAAA"}]})"), "[audio: audio/wav]");
  EXPECT_EQ(text(R"({"content":[{"type":"image"}]})"), "[image: ]");
  EXPECT_EQ(text(R"({"content":[{"type":"resource","resource":{"uri":"file:///z"}},{"type":"resource","resource":"x"}]})"),
            "[resource: file:///z]");
  EXPECT_EQ(text(R"({"content":[{"type":"text","text":""}],"structuredContent":[1]})"), "[1]");
  const ToolOutput not_bool = describe_call_result(json::parse(R"({"content":[{"type":"text","text":"x"}],"isError":"yes"})"));
  EXPECT_FALSE(not_bool.error) << "only true makes a tool error";
  const ToolOutput false_error = describe_call_result(json::parse(R"({"content":[],"isError":false})"));
  EXPECT_FALSE(false_error.error);
}

TEST(McpSchema, ASchemaThatIsNoObjectOrHasNoObjectTypeIsNamed) {
  std::string problem;
  EXPECT_FALSE(usable_schema(json::parse("true"), problem));
  EXPECT_EQ(problem, "inputSchema is not an object");
  EXPECT_FALSE(usable_schema(json::parse(R"({"properties":{}})"), problem));
  EXPECT_EQ(problem, R"(inputSchema must be {"type": "object", ...})");
  EXPECT_FALSE(usable_schema(json::parse(R"({"type":"object","properties":{"a":{"minimum":"0"}}})"), problem));
  EXPECT_EQ(problem, "properties.a.minimum: must be a number");
}

TEST(McpOfferedTools, OnlyAllowedListedToolsWithUsableSchemasAreOfferedAndEachSkipIsNamed) {
  auto session = std::make_shared<McpSession>(
      McpServerSpec{"notes", "http://127.0.0.1:9/mcp", {"search", "missing", "broken", "oneof", "bare"}, {}}, nullptr);
  const std::vector<McpToolInfo> listed{
      {"search", "Searches notes", R"({"type":"object","properties":{"q":{"type":"string"}}})"},
      {"broken", "", "{not json"},
      {"oneof", "", R"({"type":"object","properties":{"v":{"oneOf":[]}}})"},
      {"bare", "No arguments", ""},
      {"unlisted", "", R"({"type":"object"})"},
  };
  std::vector<std::string> warnings;
  const auto tools = offered_tools(listed, session, warnings);
  ASSERT_EQ(tools.size(), 2u);
  EXPECT_EQ(tools[0]->definition().name, "notes__search");
  EXPECT_EQ(tools[0]->definition().description, "Searches notes");
  EXPECT_EQ(tools[1]->definition().name, "notes__bare");
  EXPECT_EQ(tools[1]->definition().parameters, R"({"type":"object"})") << "no schema: no arguments";
  EXPECT_EQ(warnings, (std::vector<std::string>{
                          "mcp[notes]: allowed tool 'missing' is not one the server lists: skipped",
                          "mcp[notes]: tool 'broken' skipped: its input schema is outside the supported subset (not JSON)",
                          "mcp[notes]: tool 'oneof' skipped: its input schema is outside the supported subset "
                          "(properties.v.oneOf: keyword not supported (see docs/agent.md for the subset))",
                      }));
}

}  // namespace
}  // namespace aas::agent
