#pragma once
// The bodies of OpenAI's chat-completions and embeddings requests read into our types, every
// field checked (a 400 naming it), as pure functions: the gateway's handlers stay thin and the
// reading is unit-tested without a server.
#include "api/json_io.hpp"
#include "llm/provider.hpp"
#include "llm/validate.hpp"

#include <optional>
#include <string>
#include <vector>

namespace aas::api::openai {

struct ChatCompletionRequest {
  std::string model;   // the name the client asked for
  llm::ChatRequest call;  // messages, parameters, tools, response format (its model unset)
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  int n = 1;                   // answers asked for (choices), 1 to max_choices
};

// The most answers (`n`) one request may ask for: each is a model call of its own.
constexpr int max_choices = 8;

// Every field of docs/openapi.yaml's chat-completions body (`n` 1 to max_choices, `logprobs`,
// `top_logprobs` 0 to 20 with logprobs); `logit_bias`, `functions`, `function_call`, `audio` and
// `prediction` are refused; then llm::validate_request (tools, tool results, images, ...).
Result<ChatCompletionRequest> read_chat_completion(const json::object& body, const llm::ValidationLimits& limits);

struct EmbeddingsRequest {
  std::string model;  // empty: the configured default
  std::vector<std::string> inputs;
  std::optional<int> dimensions;
  bool base64 = false;  // encoding_format "base64" (else "float")
  std::string user;
};

// `input` a string or 1 to 2048 non-empty strings (token arrays refused), `dimensions`,
// `encoding_format` float | base64, `user`.
Result<EmbeddingsRequest> read_embeddings(const json::object& body);

// POST /v1/responses: the Responses API's body as our ChatRequest.
struct ResponseRequest {
  std::string model;
  llm::ChatRequest call;  // instructions as a system message first, then the input's items
  bool stream = false;
  std::string previous_response_id;  // empty: none
  bool store = true;                  // false: this response cannot be continued from
  std::string instructions;           // echoed in the response
};

// input a string (one user message) or items: messages (role user | assistant | system |
// developer; content a string or input_text / output_text / input_image parts), function_call
// and function_call_output items; instructions, max_output_tokens, temperature, top_p, tools
// (flat function tools), tool_choice, parallel_tool_calls, text.format (text, json_object,
// json_schema), user, metadata, store, stream, previous_response_id, top_logprobs and include
// ["message.output_text.logprobs"] (the answer's log probabilities). Built-in tools (web search,
// files...), reasoning, background, conversation, prompt and other include values are refused.
// Not yet validated (the previous response's messages come first): llm::validate_request is
// the caller's once it has them.
Result<ResponseRequest> read_response_request(const json::object& body);

// POST /v1/completions (legacy): the prompt as one user message each.
struct CompletionRequest {
  std::string model;
  std::vector<std::string> prompts;  // a string, or an array of 1 to 16 strings
  llm::ChatRequest call;             // parameters only: each prompt is its own message
  bool stream = false;
  bool include_usage = false;
  int n = 1;  // answers per prompt; n x prompts at most 16
};

// prompt, max_tokens (default 16, as OpenAI's), temperature, top_p, stop, seed,
// presence/frequency_penalty, user, stream, stream_options, n, logprobs (0 to 5: the chat form's
// logprobs with that many top_logprobs); `best_of` > 1, `echo`, `suffix` and `logit_bias`
// refused; token-id prompts refused.
Result<CompletionRequest> read_completion_request(const json::object& body);

}  // namespace aas::api::openai
