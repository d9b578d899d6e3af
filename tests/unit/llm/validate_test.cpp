#include "llm/validate.hpp"

#include "core/base64.hpp"

#include <gtest/gtest.h>

namespace aas::llm {
namespace {

const std::string png_bytes = std::string("\x89PNG\r\n\x1a\n", 8) + std::string(24, '\0');

std::string data_url(std::string_view type, std::string_view bytes) {
  return "data:" + std::string(type) + ";base64," + base64_encode(bytes);
}

ChatRequest with_image(std::string url, std::string role = "user") {
  ChatRequest req;
  ChatMessage m{role, "see"};
  m.parts = {{ContentPart::Kind::text, "see", "", ""}, {ContentPart::Kind::image, "", std::move(url), ""}};
  req.messages = {m};
  return req;
}

// The message of the refusal, or "" when the request passes.
std::string problem(const ChatRequest& req, std::size_t max_image_bytes = 1024) {
  auto r = validate_request(req, {max_image_bytes});
  if (r) return "";
  EXPECT_EQ(r.error().code, errc::invalid_request);
  return r.error().message;
}

TEST(ValidateRequest, AcceptsImagesOfEachFormatByMagicBytes) {
  EXPECT_EQ(problem(with_image(data_url("image/png", png_bytes))), "");
  EXPECT_EQ(problem(with_image(data_url("image/jpeg", "\xff\xd8\xff\xe0 jfif"))), "");
  EXPECT_EQ(problem(with_image(data_url("image/gif", "GIF89a...."))), "");
  EXPECT_EQ(problem(with_image(data_url("image/webp", std::string("RIFF\x10\0\0\0WEBPVP8 ", 16)))), "");
  EXPECT_EQ(problem(with_image("https://example.com/cat.png")), "");
}

TEST(ValidateRequest, RefusesImagesNamingThePart) {
  const std::string field = "'messages[0].content[1].image_url' ";
  EXPECT_EQ(problem(with_image(data_url("image/png", "GIF89a...."))), field + "is not a png image");
  EXPECT_EQ(problem(with_image("data:image/png;base64,%%%%")), field + "is not valid base64");
  EXPECT_EQ(problem(with_image(data_url("image/png", png_bytes + std::string(2000, 'x')))),
            field + "is larger than 1024 bytes");
  EXPECT_NE(problem(with_image(data_url("image/svg+xml", "<svg/>"))).find("image/png, image/jpeg"), std::string::npos);
  EXPECT_NE(problem(with_image("data:image/png,rawbytes")).find("base64 data URL"), std::string::npos);
  EXPECT_NE(problem(with_image("ftp://example.com/x.png")).find("http(s) URL or a data URL"), std::string::npos);
  EXPECT_NE(problem(with_image("https://example.com/x.png", "system")).find("only allowed in user messages"),
            std::string::npos);
  auto bad_detail = with_image("https://example.com/x.png");
  bad_detail.messages[0].parts[1].detail = "ultra";
  EXPECT_EQ(problem(bad_detail), "'messages[0].content[1].image_url.detail' must be auto, low or high");
}

TEST(ValidateRequest, ToolsAndToolChoice) {
  ChatRequest req;
  req.messages = {{"user", "hi"}};
  req.tools = {{"get_weather", "", R"({"type":"object"})", false}};
  EXPECT_EQ(problem(req), "");
  req.tool_choice = "get_weather";
  EXPECT_EQ(problem(req), "");
  req.tool_choice = "get_time";
  EXPECT_EQ(problem(req), "'tool_choice' names a function that is not among 'tools'");
  req.tool_choice.clear();
  req.tools.push_back({"get weather", "", "{}", false});
  EXPECT_EQ(problem(req), "'tools[1].function.name' must be 1 to 64 letters, digits, underscores or dashes");
  req.tools[1] = {"get_weather", "", "{}", false};
  EXPECT_EQ(problem(req), "'tools[1].function.name' repeats the name of another tool");
  req.tools[1] = {"other", "", "[]", false};
  EXPECT_EQ(problem(req), "'tools[1].function.parameters' must be a JSON object (a JSON Schema)");
  ChatRequest no_tools;
  no_tools.messages = {{"user", "hi"}};
  no_tools.tool_choice = "auto";
  EXPECT_EQ(problem(no_tools), "'tool_choice' is only allowed when 'tools' are given");
}

TEST(ValidateRequest, AToolResultMustAnswerAnEarlierCall) {
  ChatRequest req;
  ChatMessage call{"assistant", ""};
  call.tool_calls = {{"call_1", "f", "{}"}};
  ChatMessage result{"tool", "ok"};
  result.tool_call_id = "call_1";
  req.messages = {{"user", "hi"}, call, result};
  EXPECT_EQ(problem(req), "");
  req.messages[2].tool_call_id = "call_2";
  EXPECT_EQ(problem(req), "'messages[2].tool_call_id' does not answer a tool call of an earlier assistant message");
  // A result before its call does not answer it.
  req.messages = {{"user", "hi"}, result, call};
  EXPECT_NE(problem(req).find("'messages[1].tool_call_id'"), std::string::npos);
}

TEST(ValidateRequest, JsonSchemaNeedsANameAndAnObject) {
  ChatRequest req;
  req.messages = {{"user", "hi"}};
  req.response_format = {ResponseFormat::Kind::json_schema, "answer", R"({"type":"object"})", false};
  EXPECT_EQ(problem(req), "");
  req.response_format.schema = "true";
  EXPECT_EQ(problem(req), "'response_format.json_schema.schema' must be a JSON object (a JSON Schema)");
  req.response_format.schema_name = "";
  EXPECT_NE(problem(req).find("'response_format.json_schema.name'"), std::string::npos);
}


TEST(ValidateRequest, EachImageFormatIsCheckedByItsOwnMagicBytes) {
  const std::string field = "'messages[0].content[1].image_url' ";
  EXPECT_EQ(problem(with_image(data_url("image/jpeg", png_bytes))), field + "is not a jpeg image");
  EXPECT_EQ(problem(with_image(data_url("image/gif", "GIF87a...."))), "");
  EXPECT_EQ(problem(with_image(data_url("image/gif", png_bytes))), field + "is not a gif image");
  EXPECT_EQ(problem(with_image(data_url("image/webp", "RIFF"))), field + "is not a webp image");
  EXPECT_EQ(problem(with_image(data_url("image/webp", std::string("RIFF\x10\0\0\0AVI LIST", 16)))),
            field + "is not a webp image");
  EXPECT_EQ(problem(with_image("https://")), field + "must name a host");
  EXPECT_EQ(problem(with_image("http://")), field + "must name a host");
  // Small enough encoded to be decoded, one byte too large decoded.
  EXPECT_EQ(problem(with_image(data_url("image/png", png_bytes + std::string(1025 - png_bytes.size(), 'x')))),
            field + "is larger than 1024 bytes");
  for (const char* detail : {"auto", "low", "high"}) {
    auto req = with_image("https://example.com/x.png");
    req.messages[0].parts[1].detail = detail;
    EXPECT_EQ(problem(req), "") << detail;
  }
}

TEST(ValidateRequest, ToolCallsNeedAnIdAndANameAndToolOptionsNeedTools) {
  ChatRequest req;
  ChatMessage call{"assistant", ""};
  call.tool_calls = {{"", "f", "{}"}};
  req.messages = {{"user", "hi"}, call};
  EXPECT_EQ(problem(req), "'messages[1].tool_calls[0].id' must not be empty");
  req.messages[1].tool_calls = {{"call_1", "f", "{}"}, {"call_2", "", "{}"}};
  EXPECT_EQ(problem(req), "'messages[1].tool_calls[1].function.name' must not be empty");

  ChatRequest parallel;
  parallel.messages = {{"user", "hi"}};
  parallel.parallel_tool_calls = false;
  EXPECT_EQ(problem(parallel), "'parallel_tool_calls' is only allowed when 'tools' are given");
  parallel.tools = {{"f", "", "{}", false}};
  for (const char* choice : {"auto", "none", "required"}) {
    parallel.tool_choice = choice;
    EXPECT_EQ(problem(parallel), "") << choice;
  }
  parallel.tools[0].name = std::string(65, 'a');
  EXPECT_EQ(problem(parallel), "'tools[0].function.name' must be 1 to 64 letters, digits, underscores or dashes");
  parallel.tools[0].name = std::string(64, 'a');
  parallel.tool_choice.clear();
  EXPECT_EQ(problem(parallel), "");
}

}  // namespace
}  // namespace aas::llm
