#pragma once
// The OpenAI Chat Completions wire format (also spoken by Ollama, vLLM, llama.cpp server, LM
// Studio, Groq, ...), as pure functions: our ChatRequest to the request JSON and headers, the
// response and the event stream back to our Completion, and error responses to our Error.
//
// Usage as OpenAI reports it already matches our normalisation (see Usage in llm/provider.hpp):
// prompt_tokens INCLUDES the cached tokens, so input_tokens = prompt_tokens and
// cached_input_tokens = prompt_tokens_details.cached_tokens; completion_tokens includes the
// reasoning tokens, so output_tokens = completion_tokens and reasoning_tokens =
// completion_tokens_details.reasoning_tokens. OpenAI has no cache writes.
#include "llm/providers/wire_common.hpp"

namespace aas::llm::openai_wire {

struct RequestOptions {
  // Applied when the request names no max_tokens; nullopt sends none (the model's own limit).
  std::optional<int> default_max_tokens;
  // OpenAI's reasoning models refuse `max_tokens` and want `max_completion_tokens`; most
  // compatible servers only know `max_tokens`.
  bool use_max_completion_tokens = false;
};

// The request body. Streaming always asks for the final usage chunk (stream_options.include_usage).
// Content parts, tools, tool_choice, tool calls and results, response_format and the sampling
// parameters map one to one. invalid_request when a tool's parameters or a json_schema's schema
// is not a JSON object (the caller should have checked: the message names the field).
Result<std::string> build_request(const ChatRequest& req, bool stream, const RequestOptions& opts = {});

// POST /embeddings: the inputs as an array of strings, always encoding_format "float".
std::string build_embedding_request(const EmbeddingRequest& req);
// Its answer: data[].embedding put in input order by data[].index; usage.prompt_tokens (estimated
// and flagged when absent).
Result<Embeddings> parse_embedding_response(std::string_view body, const EmbeddingRequest& req);
// Content-Type, Accept and, when a key is given, Authorization: Bearer; then `extra` (e.g.
// OpenAI-Organization, OpenAI-Project).
std::vector<http::Header> build_headers(const std::string* api_key, bool stream,
                                        const std::vector<http::Header>& extra = {});

// "stop", "length", "tool_calls", "content_filter", or "other".
std::string normalise_finish_reason(std::string_view reason);

// A 2xx non-streaming body. Usage is estimated (and flagged) when the server reports none.
Result<Completion> parse_response(std::string_view body, const ChatRequest& req);

// An error response: {"error": {"message", "type", "code", "param"}} (compatible servers also
// send {"error": "text"}). Retry delay from Retry-After / retry-after-ms, else from
// x-ratelimit-reset-requests / -tokens for the limit that is exhausted.
Error map_error(int status, const std::vector<http::Header>& headers, std::string_view body,
                TimePoint now);

// Chunks carry choices[0].delta.content, choices[0].delta.tool_calls[] (index; id, type and
// function.name on a call's first piece; function.arguments fragments) and choices[0].finish_reason; with include_usage a last
// chunk with empty choices carries usage; `data: [DONE]` ends the stream. A chunk holding an
// `error` object is returned as an Error.
class StreamDecoder final : public wire::StreamDecoder {
 public:
  Result<wire::Decoded> feed(const SseEvent& ev) override;
};

}  // namespace aas::llm::openai_wire
