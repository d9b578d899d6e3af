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
};

// Every field of docs/openapi.yaml's chat-completions body; `n` > 1, `logprobs`,
// `top_logprobs`, `logit_bias`, `functions`, `function_call`, `audio` and `prediction` are
// refused; then llm::validate_request (tools, tool results, images, ...).
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

}  // namespace aas::api::openai
