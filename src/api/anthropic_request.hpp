#pragma once
// The body of Anthropic's Messages API request (POST /v1/messages) read into our types, every
// field checked (a 400 naming it), as a pure function: the handler stays thin and the reading is
// unit-tested without a server. Whatever the model, the request becomes our provider-neutral
// ChatRequest, so an OpenAI-compatible upstream serves it as well as an Anthropic one.
#include "api/json_io.hpp"
#include "llm/provider.hpp"
#include "llm/validate.hpp"

#include <string>

namespace aas::api::anthropic {

struct MessagesRequest {
  std::string model;      // the name the client asked for
  llm::ChatRequest call;  // messages, parameters, tools (its model unset)
  bool stream = false;
};

// - model, max_tokens (required, >= 1), messages (non-empty; user/assistant turns; content a
//   string or blocks: text, image with a base64 or url source, tool_use in assistant turns,
//   tool_result in user turns, which become our tool messages);
// - system (a string or text blocks), temperature (0..1), top_p, stop_sequences, metadata.user_id,
//   tools (custom tools: name, description, input_schema), tool_choice auto|any|tool|none with
//   disable_parallel_tool_use, stream;
// - cache_control on blocks is a caching hint and ignored; top_k, thinking, server tools and
//   document blocks are refused (400), never silently dropped;
// then llm::validate_request (tools, tool results answering calls, images).
Result<MessagesRequest> read_messages_request(const json::object& body, const llm::ValidationLimits& limits);

}  // namespace aas::api::anthropic
