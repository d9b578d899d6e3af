// The MCP client's pure parts: reading a JSON-RPC response from either answer format of the
// Streamable HTTP transport, a tools/call result as the model reads it, which server schemas are
// usable, and the configuration's checks. The whole exchange is tested against a server written
// with the official SDK in tests/blackbox/agent-mcp.test.mjs.
#include "agent/mcp.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

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
