#pragma once
// The "context" stage of a turn: what the model is sent. A pure function of its inputs (no store,
// no clock, no I/O), so every rule about what fits is tested on its own.
//
// Order of the messages sent: the system prompt; the retrieved passages, numbered for citation;
// the summary of earlier turns; as many of the latest stored turns as fit the context window
// (oldest first); the new message. Tool definitions ride on the request. Stored turns are never
// split: a turn that does not fit whole is left out, with every turn before it.
#include "core/error.hpp"
#include "llm/provider.hpp"
#include "store/store.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace aas::chat {

// A retrieved piece of a knowledge base, cited by its 1-based position as [1], [2], ...
struct Passage {
  std::string title;  // the document's title
  std::string text;
};

struct ContextLimits {
  std::string upstream_model;    // picks the tokenizer: exact for OpenAI's models, estimated else
  std::int64_t context_window = 0;
  std::int64_t output_reserve = 0;  // tokens kept free for the answer
};

struct ContextInput {
  std::string system_prompt;
  std::optional<std::string> summary;
  // The conversation's stored turns, oldest first, already without the turns the summary covers.
  std::vector<domain::Message> history;
  llm::ChatMessage message;  // the new user message (role "user")
  std::vector<Passage> passages;
  std::vector<llm::ToolDefinition> tools;
  std::string request_id;
};

struct Context {
  llm::ChatRequest request;
  int omitted = 0;  // stored turns left out (the oldest ones) to fit the window
};

class ContextBuilder {
 public:
  explicit ContextBuilder(ContextLimits limits) : limits_(std::move(limits)) {}

  // invalid_request when the system prompt, the passages and the new message alone do not fit.
  Result<Context> build(const ContextInput& in) const;

  // What a message costs in the window: exact where the model has a tokenizer, else an estimate
  // with a 10 % margin.
  std::int64_t cost_of(const llm::ChatMessage& m) const;

 private:
  ContextLimits limits_;
};

// The system message that carries retrieved passages, telling the model how to cite them.
std::string passages_message(const std::vector<Passage>& passages);
// A stored turn as the model sees it.
llm::ChatMessage to_chat_message(const domain::Message& m);

}  // namespace aas::chat
