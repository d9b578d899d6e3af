#pragma once
#include "llm/provider.hpp"

#include <chrono>

namespace aas::llm {

// The offline model: deterministic, free, and plainly marked as not a real model. It restates
// what it was given so that a developer can see the context the service built. With tools it
// follows tools/mock-llm's rule: a last user message saying "call <name> [{json}]" calls that
// tool (a tool named by tool_choice is called anyway, with "{}"); JSON mode json_object wraps
// the reply as {"answer": ...}; a json_schema is refused (400). It cannot embed.
class MockProvider final : public LlmProvider {
 public:
  explicit MockProvider(std::chrono::milliseconds latency = std::chrono::milliseconds(0));
  std::string_view name() const override { return "mock"; }
  Result<void> supports(const ChatRequest& req) const override;
  boost::asio::awaitable<Result<Completion>> complete(const ChatRequest& req) override;
  boost::asio::awaitable<Result<Completion>> stream(const ChatRequest& req,
                                                    const ChunkSink& sink) override;

  // The reply text for a request (exposed for tests).
  static std::string reply_for(const ChatRequest& req);
  // The tool calls the request asks for (none without tools).
  static std::vector<ToolCall> tool_calls_for(const ChatRequest& req);

 private:
  static Result<std::string> answer_for(const ChatRequest& req);
  boost::asio::awaitable<void> simulate_latency() const;
  std::chrono::milliseconds latency_;
};

}  // namespace aas::llm
