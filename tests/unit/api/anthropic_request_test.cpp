#include "api/anthropic_request.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

namespace aas::api::anthropic {
namespace {

Result<MessagesRequest> read(std::string_view body) {
  return read_messages_request(boost::json::parse(body).as_object(), {});
}

std::string refusal(std::string_view body) {
  auto r = read(body);
  if (r) return "accepted";
  EXPECT_EQ(r.error().code, errc::invalid_request);
  return r.error().message;
}

// The first bytes of a PNG, base64: enough for the magic-byte check.
constexpr std::string_view kPng = "iVBORw0KGgoAAAANSUhEUgAAAAAAAAAAAAAAAAAAAAA=";

TEST(AnthropicRequest, ReadsEveryField) {
  auto r = read(std::string(R"({
    "model": "claude", "max_tokens": 50, "stream": true,
    "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "Be kind."}],
    "messages": [
      {"role": "user", "content": [{"type": "text", "text": "Look"}, {"type": "text", "text": "here"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": ")") + std::string(kPng) + R"("}}]},
      {"role": "assistant", "content": [{"type": "text", "text": "Calling."},
        {"type": "tool_use", "id": "tu_1", "name": "look", "input": {"x": 1}}]},
      {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tu_1", "content": [{"type": "text", "text": "a cat"}]},
        {"type": "text", "text": "And?"}]}
    ],
    "temperature": 0.5, "top_p": 0.9, "stop_sequences": ["END"], "metadata": {"user_id": "u-1"},
    "tools": [{"name": "look", "description": "Looks", "input_schema": {"type": "object"}}],
    "tool_choice": {"type": "any", "disable_parallel_tool_use": true}
  })");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->model, "claude");
  EXPECT_TRUE(r->stream);
  const llm::ChatRequest& c = r->call;
  EXPECT_EQ(c.max_tokens, 50);
  ASSERT_EQ(c.messages.size(), 5u);
  EXPECT_EQ(c.messages[0].role, "system");
  EXPECT_EQ(c.messages[0].content, "Be brief.\nBe kind.");
  EXPECT_EQ(c.messages[1].role, "user");
  EXPECT_EQ(c.messages[1].content, "Look\nhere");  // text blocks a newline apart
  ASSERT_EQ(c.messages[1].parts.size(), 3u);
  EXPECT_EQ(c.messages[1].parts[2].image_url, "data:image/png;base64," + std::string(kPng));
  EXPECT_EQ(c.messages[2].role, "assistant");
  EXPECT_EQ(c.messages[2].content, "Calling.");
  EXPECT_TRUE(c.messages[2].parts.empty()) << "text-only keeps the plain form";
  ASSERT_EQ(c.messages[2].tool_calls.size(), 1u);
  EXPECT_EQ(c.messages[2].tool_calls[0].arguments, R"({"x":1})");
  // The tool result becomes a tool message, before the user's text.
  EXPECT_EQ(c.messages[3].role, "tool");
  EXPECT_EQ(c.messages[3].tool_call_id, "tu_1");
  EXPECT_EQ(c.messages[3].content, "a cat");
  EXPECT_EQ(c.messages[4].role, "user");
  EXPECT_EQ(c.messages[4].content, "And?");
  EXPECT_EQ(c.temperature, 0.5);
  EXPECT_EQ(c.top_p, 0.9);
  EXPECT_EQ(c.stop, std::vector<std::string>{"END"});
  EXPECT_EQ(c.user, "u-1");
  ASSERT_EQ(c.tools.size(), 1u);
  EXPECT_EQ(c.tools[0].parameters, R"({"type":"object"})");
  EXPECT_EQ(c.tool_choice, "required");
  EXPECT_EQ(c.parallel_tool_calls, false);
}

TEST(AnthropicRequest, ToolChoiceKinds) {
  const std::string base = R"({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}],
    "tools": [{"name": "t", "input_schema": {"type": "object"}}], "tool_choice": )";
  EXPECT_EQ(read(base + R"({"type": "auto"}})")->call.tool_choice, "auto");
  EXPECT_EQ(read(base + R"({"type": "none"}})")->call.tool_choice, "none");
  EXPECT_EQ(read(base + R"({"type": "tool", "name": "t"}})")->call.tool_choice, "t");
  EXPECT_FALSE(read(base + R"({"type": "auto"}})")->call.parallel_tool_calls.has_value());
}

TEST(AnthropicRequest, RefusesWhatItCannotCarryNamingTheField) {
  const std::string msgs = R"("messages": [{"role": "user", "content": "hi"}])";
  EXPECT_EQ(refusal(R"({"model": "m", )" + msgs + "}"), "'max_tokens' is required: a positive integer");
  EXPECT_EQ(refusal(R"({"model": "m", "max_tokens": 0, )" + msgs + "}"), "'max_tokens' is required: a positive integer");
  EXPECT_EQ(refusal(R"({"max_tokens": 5, )" + msgs + "}"), "'model' is required");
  EXPECT_EQ(refusal(R"({"model": "m", "max_tokens": 5, "messages": []})"), "'messages' must be a non-empty array");
  EXPECT_EQ(refusal(R"({"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]})"),
            "'messages[0].role' must be user or assistant");
  EXPECT_EQ(refusal(R"({"model": "m", "max_tokens": 5, "top_k": 3, )" + msgs + "}"),
            "'top_k' is not supported by this gateway");
  EXPECT_EQ(refusal(R"({"model": "m", "max_tokens": 5, "thinking": {"type": "enabled"}, )" + msgs + "}"),
            "'thinking' is not supported by this gateway");
  EXPECT_EQ(refusal(R"({"model": "m", "max_tokens": 5, "temperature": 1.5, )" + msgs + "}"),
            "'temperature' must be between 0 and 1");
  EXPECT_EQ(refusal(R"({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "document"}]}]})"),
            "'messages[0].content[0].type' document is not supported (text, image, tool_use and tool_result are)");
  EXPECT_EQ(refusal(R"({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "tool_use", "id": "a", "name": "b", "input": {}}]}]})"),
            "'messages[0].content[0]' tool_use blocks belong in assistant messages");
  EXPECT_EQ(refusal(R"({"model": "m", "max_tokens": 5, "tools": [{"type": "web_search_20250305", "name": "w"}], )" + msgs + "}"),
            "'tools[0].type' web_search_20250305 is not supported (custom tools are)");
  EXPECT_EQ(refusal(R"({"model": "m", "max_tokens": 5, "tools": [{"name": "w"}], )" + msgs + "}"),
            "'tools[0].input_schema' must be a JSON object (a JSON Schema)");
  EXPECT_EQ(refusal(R"({"model": "m", "max_tokens": 5, "tool_choice": {"type": "some"}, )" + msgs + "}"),
            "'tool_choice.type' must be auto, any, tool or none");
  EXPECT_EQ(refusal(R"({"model": "m", "max_tokens": 5, "stop_sequences": [""], )" + msgs + "}"),
            "'stop_sequences' must hold non-empty strings");
  // llm::validate_request's checks run too: a tool result must answer an earlier call.
  EXPECT_NE(refusal(R"({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "x", "content": "r"}]}]})"),
            "accepted");
  EXPECT_NE(refusal(R"({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "!!!"}}]}]})"),
            "accepted");
}

}  // namespace
}  // namespace aas::api::anthropic

namespace aas::api::anthropic {
namespace {

// A valid request with `patch`'s members put over it (a null member is sent as null).
std::string refused_with(std::string_view patch) {
  boost::json::object body =
      boost::json::parse(R"({"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]})").as_object();
  const boost::json::value members = boost::json::parse(patch);
  for (const auto& [key, value] : members.as_object()) body[key] = value;
  return refusal(boost::json::serialize(body));
}

// Every member of a Messages request that has the wrong type or range is refused with the member
// named (the 400 an SDK user reads), rather than ignored or taken as its default.
TEST(AnthropicRequest, EachMalformedMemberIsRefusedByName) {
  const std::string image = R"({"messages": [{"role": "user", "content": [{"type": "image", "source": )";
  const std::vector<std::pair<std::string, std::string>> cases{
      {R"({"model": ""})", "'model' is required"},
      {R"({"max_tokens": 0})", "'max_tokens' is required: a positive integer"},
      {R"({"max_tokens": "ten"})", "'max_tokens' is required: a positive integer"},
      {R"({"top_k": 5})", "'top_k' is not supported by this gateway"},
      {R"({"thinking": {}})", "'thinking' is not supported by this gateway"},
      {R"({"system": 5})", "'system' must be a string or an array of text blocks"},
      {R"({"system": [{"type": "image"}]})", "'system[0]' must be a text block"},
      {R"({"messages": []})", "'messages' must be a non-empty array"},
      {R"({"messages": [{"role": "system", "content": "x"}]})", "'messages[0].role' must be user or assistant"},
      {R"({"messages": [{"role": "user"}]})", "'messages[0].content' is required"},
      {R"({"messages": [{"role": "user", "content": 5}]})",
       "'messages[0].content' must be a string or an array of content blocks"},
      {R"({"messages": [{"role": "user", "content": [{"text": "x"}]}]})", "'messages[0].content[0].type' must be a string"},
      {R"({"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]})",
       "'messages[0].content[0].text' must be a string"},
      {R"({"messages": [{"role": "assistant", "content": [{"type": "image", "source": {"type": "url", "url": "https://x/a.png"}}]}]})",
       "'messages[0].content[0]' images are allowed in user messages only"},
      {image + R"(5}]}]})", "'messages[0].content[0].source.type' must be a string"},
      {image + R"({"type": "base64", "data": "x"}}]}]})", "'messages[0].content[0].source.media_type' must be a string"},
      {image + R"({"type": "base64", "media_type": "image/png"}}]}]})", "'messages[0].content[0].source.data' must be a string"},
      {image + R"({"type": "url"}}]}]})", "'messages[0].content[0].source.url' must be a string"},
      {image + R"({"type": "file"}}]}]})", "'messages[0].content[0].source.type' must be base64 or url"},
      {R"({"messages": [{"role": "user", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]}]})",
       "'messages[0].content[0]' tool_use blocks belong in assistant messages"},
      {R"({"messages": [{"role": "assistant", "content": [{"type": "tool_use", "name": "f", "input": {}}]}]})",
       "'messages[0].content[0].id' must be a string"},
      {R"({"messages": [{"role": "assistant", "content": [{"type": "tool_use", "id": "t", "input": {}}]}]})",
       "'messages[0].content[0].name' must be a string"},
      {R"({"messages": [{"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": []}]}]})",
       "'messages[0].content[0].input' must be an object"},
      {R"({"messages": [{"role": "assistant", "content": [{"type": "tool_result", "tool_use_id": "t"}]}]})",
       "'messages[0].content[0]' tool_result blocks belong in user messages"},
      {R"({"messages": [{"role": "user", "content": [{"type": "tool_result"}]}]})",
       "'messages[0].content[0].tool_use_id' must be a string"},
      {R"({"temperature": "warm"})", "'temperature' must be a number"},
      {R"({"temperature": 1.5})", "'temperature' must be between 0 and 1"},
      {R"({"top_p": 2})", "'top_p' must be between 0 and 1"},
      {R"({"stop_sequences": "END"})", "'stop_sequences' must be an array of strings"},
      {R"({"stop_sequences": ["END", ""]})", "'stop_sequences' must hold non-empty strings"},
      {R"({"metadata": "u"})", "'metadata' must be an object"},
      {R"({"metadata": {"user_id": 5}})", "'metadata.user_id' must be a string"},
      {R"({"tools": {}})", "'tools' must be an array"},
      {R"({"tools": [5]})", "'tools[0]' must be an object"},
      {R"({"tools": [{"input_schema": {}}]})", "'tools[0].name' must be a string"},
      {R"({"tools": [{"name": "f", "description": 5, "input_schema": {}}]})", "'tools[0].description' must be a string"},
      {R"({"tools": [{"name": "f"}]})", "'tools[0].input_schema' must be a JSON object (a JSON Schema)"},
      {R"({"tool_choice": "auto"})", "'tool_choice.type' must be auto, any, tool or none"},
      {R"({"tool_choice": {"type": "some"}})", "'tool_choice.type' must be auto, any, tool or none"},
      {R"({"tool_choice": {"type": "tool"}})", "'tool_choice.name' must be a string"},
      {R"({"tool_choice": {"type": "auto", "disable_parallel_tool_use": 1}})",
       "'tool_choice.disable_parallel_tool_use' must be a boolean"},
      {R"({"stream": "yes"})", "'stream' must be a boolean"},
  };
  for (const auto& [patch, expected] : cases) EXPECT_EQ(refused_with(patch), expected) << patch;
  EXPECT_EQ(refused_with(R"({"system": null, "temperature": null, "stop_sequences": null, "metadata": null, "tools": null,
                             "tool_choice": null, "top_k": null})"),
            "accepted");
}

}  // namespace
}  // namespace aas::api::anthropic

namespace aas::api::anthropic {
namespace {

// The refusals the first table leaves out: blocks that are not objects, a text block without its
// text, a tool result holding an image, and what is missing rather than mistyped.
TEST(AnthropicRequest, EachMalformedBlockIsRefusedByName) {
  const std::string tool_result = R"({"messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": )";
  const std::vector<std::pair<std::string, std::string>> cases{
      {R"({"max_tokens": null})", "'max_tokens' is required: a positive integer"},
      {R"({"max_tokens": 1000001})", "'max_tokens' is required: a positive integer"},
      {R"({"system": [5]})", "'system[0]' must be a text block"},
      {R"({"system": [{"type": "text"}]})", "'system[0]' must be a text block"},
      {R"({"messages": null})", "'messages' must be a non-empty array"},
      {R"({"messages": {"role": "user"}})", "'messages' must be a non-empty array"},
      {R"({"messages": [5]})", "'messages[0].role' must be user or assistant"},
      {R"({"messages": [{"role": "user", "content": [5]}]})", "'messages[0].content[0].type' must be a string"},
      {R"({"messages": [{"role": "user", "content": [{"type": "image"}]}]})",
       "'messages[0].content[0].source.type' must be a string"},
      {R"({"messages": [{"role": "user", "content": [{"type": "document"}]}]})",
       "'messages[0].content[0].type' document is not supported (text, image, tool_use and tool_result are)"},
      {R"({"messages": [{"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f"}]}]})",
       "'messages[0].content[0].input' must be an object"},
      {tool_result + R"(5}]}]})", "'messages[0].content[0].content' must be a string or an array of text blocks"},
      {tool_result + R"([{"type": "image", "source": {"type": "url", "url": "https://x/a.png"}}]}]}]})",
       "'messages[0].content[0].content[0]' must be a text block (images in tool results are not supported)"},
      {R"({"temperature": -0.1})", "'temperature' must be between 0 and 1"},
      {R"({"top_p": "high"})", "'top_p' must be a number"},
      {R"({"stop_sequences": [5]})", "'stop_sequences' must hold non-empty strings"},
      {R"({"tools": [{"type": "web_search_20250305", "name": "web_search"}]})",
       "'tools[0].type' web_search_20250305 is not supported (custom tools are)"},
      {R"({"tools": [{"name": "f", "input_schema": "{}"}]})", "'tools[0].input_schema' must be a JSON object (a JSON Schema)"},
      {R"({"tool_choice": {"name": "f"}})", "'tool_choice.type' must be auto, any, tool or none"},
      {R"({"container": "c"})", "'container' is not supported by this gateway"},
      {R"({"mcp_servers": []})", "'mcp_servers' is not supported by this gateway"},
      {R"({"service_tier": "auto"})", "'service_tier' is not supported by this gateway"},
  };
  for (const auto& [patch, expected] : cases) EXPECT_EQ(refused_with(patch), expected) << patch;
}

TEST(AnthropicRequest, ReadsToolResultsImagesByUrlAndWhatMayBeLeftOut) {
  auto r = read(R"({"model": "claude", "max_tokens": 5, "system": "",
    "messages": [
      {"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}]},
      {"role": "assistant", "content": []},
      {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}},
                                        {"type": "tool_use", "id": "t2", "name": "f", "input": {}},
                                        {"type": "tool_use", "id": "t3", "name": "f", "input": {}}]},
      {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t1", "content": "disk full", "is_error": true},
        {"type": "tool_result", "tool_use_id": "t2", "is_error": false},
        {"type": "tool_result", "tool_use_id": "t3", "content": null, "is_error": "yes"}]}
    ],
    "tools": [{"type": "custom", "name": "f", "input_schema": {"type": "object"}}],
    "tool_choice": {"type": "none", "disable_parallel_tool_use": false}})");
  ASSERT_TRUE(r) << r.error().message;
  const auto& m = r->call.messages;
  ASSERT_EQ(m.size(), 5u) << "an empty system and an empty message add nothing";
  EXPECT_EQ(m[0].role, "user");
  ASSERT_EQ(m[0].parts.size(), 1u);
  EXPECT_EQ(m[0].parts[0].image_url, "https://example.com/a.png");
  EXPECT_EQ(m[0].content, "");
  EXPECT_EQ(m[1].tool_calls.size(), 3u);
  EXPECT_EQ(m[2].content, "Error: disk full") << "is_error is said in words";
  EXPECT_EQ(m[3].content, "");
  EXPECT_EQ(m[4].tool_call_id, "t3");
  EXPECT_EQ(m[4].content, "") << "only a true is_error marks an error";
  EXPECT_EQ(r->call.tool_choice, "none");
  EXPECT_NE(r->call.parallel_tool_calls, std::optional<bool>(false));
  EXPECT_EQ(r->call.tools.size(), 1u);
}

}  // namespace
}  // namespace aas::api::anthropic
