// The context stage on its own: no store, no model, only what goes into a request.
#include "chat/context_builder.hpp"

#include "llm/token_estimate.hpp"

#include <gtest/gtest.h>

namespace aas::chat {
namespace {

domain::Message turn(std::string id, domain::Role role, std::string text,
                    domain::MessageStatus status = domain::MessageStatus::complete) {
  domain::Message m;
  m.id = std::move(id);
  m.role = role;
  m.content = std::move(text);
  m.status = status;
  return m;
}

ContextInput input_with(std::vector<domain::Message> history, std::string message = "and now?") {
  ContextInput in;
  in.system_prompt = "You are terse.";
  in.history = std::move(history);
  in.message = {"user", std::move(message)};
  in.request_id = "r1";
  return in;
}

std::vector<std::string> texts(const llm::ChatRequest& r) {
  std::vector<std::string> out;
  for (const llm::ChatMessage& m : r.messages) out.push_back(m.role + ":" + m.content);
  return out;
}

TEST(ContextBuilder, SendsSystemPromptHistoryAndTheNewMessageInOrder) {
  const ContextBuilder builder({"gpt-4o-mini", 10'000, 100});
  auto ctx = builder.build(input_with({turn("1", domain::Role::user, "hi"), turn("2", domain::Role::assistant, "hello")}));
  ASSERT_TRUE(ctx);
  EXPECT_EQ(texts(ctx->request),
            (std::vector<std::string>{"system:You are terse.", "user:hi", "assistant:hello", "user:and now?"}));
  EXPECT_EQ(ctx->omitted, 0);
  EXPECT_EQ(ctx->request.model, "gpt-4o-mini");
  EXPECT_EQ(ctx->request.request_id, "r1");
}

TEST(ContextBuilder, FailedAndInFlightAnswersAreNotSent) {
  const ContextBuilder builder({"gpt-4o-mini", 10'000, 100});
  auto ctx = builder.build(input_with({turn("1", domain::Role::user, "q1"),
                                       turn("2", domain::Role::assistant, "", domain::MessageStatus::error),
                                       turn("3", domain::Role::user, "q2"),
                                       turn("4", domain::Role::assistant, "part", domain::MessageStatus::interrupted),
                                       turn("5", domain::Role::assistant, "", domain::MessageStatus::streaming)}));
  ASSERT_TRUE(ctx);
  EXPECT_EQ(texts(ctx->request), (std::vector<std::string>{"system:You are terse.", "user:q1", "user:q2",
                                                           "assistant:part", "user:and now?"}));
}

TEST(ContextBuilder, KeepsTheNewestWholeTurnsThatFitAndCountsTheRest) {
  // The window holds the head, the new message and exactly the two newest turns (exact counts:
  // gpt-4o-mini has a tokenizer).
  const ContextBuilder sizing({"gpt-4o-mini", 1, 0});
  std::vector<domain::Message> history;
  for (int i = 0; i < 6; ++i)
    history.push_back(turn(std::to_string(i), i % 2 ? domain::Role::assistant : domain::Role::user,
                           "turn number " + std::to_string(i)));
  ContextInput in = input_with(history);
  const std::int64_t needed = 3 + sizing.cost_of({"system", in.system_prompt}) + sizing.cost_of(in.message) +
           sizing.cost_of({"user", history[4].content}) + sizing.cost_of({"assistant", history[5].content});

  const ContextBuilder builder({"gpt-4o-mini", needed + 50, 50});
  auto ctx = builder.build(in);
  ASSERT_TRUE(ctx);
  EXPECT_EQ(ctx->omitted, 4);
  EXPECT_EQ(texts(ctx->request), (std::vector<std::string>{"system:You are terse.", "user:turn number 4",
                                                           "assistant:turn number 5", "user:and now?"}));
  // One token less and the older of the two no longer fits: a turn is never split.
  auto tighter = ContextBuilder({"gpt-4o-mini", needed + 49, 50}).build(in);
  ASSERT_TRUE(tighter);
  EXPECT_EQ(tighter->omitted, 5);
}

TEST(ContextBuilder, AMessageTooLongForTheWindowIsRefused) {
  const ContextBuilder builder({"gpt-4o-mini", 30, 20});
  auto ctx = builder.build(input_with({}, "a message far too long for a window of thirty tokens, with room "
                                          "for twenty of them kept for the answer"));
  ASSERT_FALSE(ctx);
  EXPECT_EQ(ctx.error().code, errc::invalid_request);
  EXPECT_NE(ctx.error().message.find("context window (30 tokens)"), std::string::npos);
}

TEST(ContextBuilder, UnknownModelsAreEstimatedWithAMargin) {
  const ContextBuilder exact({"gpt-4o-mini", 1000, 0});
  const ContextBuilder estimated({"llama3", 1000, 0});
  const llm::ChatMessage m{"user", std::string(400, 'a') + " plenty of words to count here"};
  EXPECT_GT(estimated.cost_of(m), llm::count_prompt_tokens("llama3", {m}) - 3);
  EXPECT_EQ(exact.cost_of(m), llm::count_prompt_tokens("gpt-4o-mini", {m}) - 3);
}

TEST(ContextBuilder, SummaryAndPassagesComeBeforeTheHistory) {
  const ContextBuilder builder({"gpt-4o-mini", 10'000, 100});
  ContextInput in = input_with({turn("9", domain::Role::user, "recent")});
  in.summary = "They talked about milk.";
  in.passages = {{"Shopping list", "milk, eggs"}, {"Fridge manual", "keep at 4 degrees"}};
  auto ctx = builder.build(in);
  ASSERT_TRUE(ctx);
  ASSERT_EQ(ctx->request.messages.size(), 5u);
  EXPECT_EQ(ctx->request.messages[0].content, "You are terse.");
  const std::string& sources = ctx->request.messages[1].content;
  EXPECT_NE(sources.find("[1] Shopping list\nmilk, eggs"), std::string::npos);
  EXPECT_NE(sources.find("[2] Fridge manual\nkeep at 4 degrees"), std::string::npos);
  EXPECT_NE(sources.find("cite"), std::string::npos);
  EXPECT_EQ(ctx->request.messages[2].content, "Summary of the earlier conversation:\nThey talked about milk.");
  EXPECT_EQ(ctx->request.messages[3].content, "recent");
}

TEST(ContextBuilder, ToolDefinitionsRideOnTheRequestAndCountAgainstTheWindow) {
  ContextInput in = input_with({turn("1", domain::Role::user, "older turn that needs room")});
  in.tools = {{"create_todo", "Adds a todo for the user", R"({"type":"object","properties":{"title":{"type":"string"}}})", false}};
  auto roomy = ContextBuilder({"gpt-4o-mini", 10'000, 100}).build(in);
  ASSERT_TRUE(roomy);
  ASSERT_EQ(roomy->request.tools.size(), 1u);
  EXPECT_EQ(roomy->request.tools[0].name, "create_todo");

  // A window that holds the turn without the tools, but not with them.
  ContextInput bare = in;
  bare.tools.clear();
  const ContextBuilder sizing({"gpt-4o-mini", 1, 0});
  const std::int64_t without_tools = 3 + sizing.cost_of({"system", in.system_prompt}) + sizing.cost_of(in.message) +
                                     sizing.cost_of({"user", in.history[0].content});
  auto fits = ContextBuilder({"gpt-4o-mini", without_tools, 0}).build(bare);
  ASSERT_TRUE(fits);
  EXPECT_EQ(fits->omitted, 0);
  // The tools take more than the old turn left free: with them, not even the new message fits.
  auto squeezed = ContextBuilder({"gpt-4o-mini", without_tools, 0}).build(in);
  ASSERT_FALSE(squeezed);
  EXPECT_EQ(squeezed.error().code, errc::invalid_request);
}

// A message with tool calls, a tool result or images is counted with all of it (the port's
// counter), not by its text alone: a call whose arguments do not fit is left out with what is older.
TEST(ContextBuilder, AStructuredMessageIsCountedWithItsToolCallsAndResults) {
  const ContextBuilder builder({"gpt-4o-mini", 400, 100});
  domain::Message big = turn("2", domain::Role::assistant, "");
  std::string words;
  for (int i = 0; i < 400; ++i) words += "word" + std::to_string(i) + " ";  // about 800 tokens
  big.tool_calls = {{"c1", "lookup", R"({"q":")" + words + R"("})"}};
  auto cut = builder.build(input_with({turn("1", domain::Role::user, "hi"), big}));
  ASSERT_TRUE(cut) << cut.error().message;
  EXPECT_EQ(cut->omitted, 2) << "its text is empty, but its arguments do not fit";

  domain::Message call = turn("2", domain::Role::assistant, "");
  call.tool_calls = {{"c1", "lookup", "{}"}};
  domain::Message result = turn("3", domain::Role::tool, "42");
  result.tool_call_id = "c1";
  auto kept = builder.build(input_with({turn("1", domain::Role::user, "hi"), call, result}));
  ASSERT_TRUE(kept) << kept.error().message;
  EXPECT_EQ(kept->omitted, 0);
  ASSERT_EQ(kept->request.messages.size(), 5u);
  EXPECT_EQ(kept->request.messages[2].tool_calls.size(), 1u);
  EXPECT_EQ(kept->request.messages[3].tool_call_id, "c1");
  EXPECT_GT(builder.cost_of(kept->request.messages[2]), builder.cost_of({"assistant", ""}))
      << "the call costs more than an empty text";
}

}  // namespace
}  // namespace aas::chat
