#include "llm/token_estimate.hpp"

#include <gtest/gtest.h>

namespace aas::llm {
namespace {

TEST(TokenEstimate, ImagesCountByDetail) {
  ChatMessage plain{"user", "what is this"};
  ChatMessage with_images = plain;
  with_images.parts = {{ContentPart::Kind::text, "what is this", "", ""},
                       {ContentPart::Kind::image, "", "https://x/a.png", "low"},
                       {ContentPart::Kind::image, "", "https://x/b.png", ""}};
  const std::int64_t images = image_tokens_low_detail + image_tokens_default;
  EXPECT_EQ(count_prompt_tokens("gpt-4o", {with_images}) - count_prompt_tokens("gpt-4o", {plain}), images);
  EXPECT_EQ(estimate_prompt_tokens({with_images}) - estimate_prompt_tokens({plain}), images);
}

TEST(TokenEstimate, ToolCallsAndDefinitionsCount) {
  ChatRequest req;
  req.model = "gpt-4o";
  req.messages = {{"user", "hi"}};
  const std::int64_t bare = count_request_tokens(req);
  req.tools = {{"get_weather", "The weather in a city", R"({"type":"object"})", false}};
  const std::int64_t with_tool = count_request_tokens(req);
  EXPECT_EQ(with_tool - bare, count_text_tokens("gpt-4o", "get_weather") +
                                  count_text_tokens("gpt-4o", "The weather in a city") +
                                  count_text_tokens("gpt-4o", R"({"type":"object"})") + tokens_per_tool_definition);
  EXPECT_GT(estimate_request_tokens(req), estimate_prompt_tokens(req.messages));

  ChatMessage call{"assistant", ""};
  call.tool_calls = {{"call_1", "get_weather", R"({"city":"Paris"})"}};
  const std::vector<ToolCall> calls = call.tool_calls;
  EXPECT_EQ(count_prompt_tokens("gpt-4o", {call}) - count_prompt_tokens("gpt-4o", {{"assistant", ""}}),
            count_tool_call_tokens("gpt-4o", calls));
  EXPECT_EQ(count_tool_call_tokens("gpt-4o", calls),
            count_text_tokens("gpt-4o", "get_weather") + count_text_tokens("gpt-4o", R"({"city":"Paris"})") +
                tokens_per_tool_call);
  EXPECT_GT(estimate_tool_call_tokens(calls), tokens_per_tool_call);
}

}  // namespace
}  // namespace aas::llm
