#pragma once
// The Anthropic Messages API wire format, as pure functions: our ChatRequest to the request JSON
// and headers, the response and the event stream back to our Completion, and error responses to
// our Error.
//
// Usage normalisation (see Usage in llm/provider.hpp): Anthropic's input_tokens EXCLUDES the
// tokens read from and written to the prompt cache, so
//   input_tokens        = input_tokens + cache_read_input_tokens + cache_creation_input_tokens
//   cached_input_tokens = cache_read_input_tokens
//   cache_write_tokens  = cache_creation_input_tokens
// which makes input_tokens the whole prompt, as for OpenAI. Thinking tokens are part of
// output_tokens and not reported apart, so reasoning_tokens stays 0.
#include "llm/providers/wire_common.hpp"

#include <map>

namespace aas::llm::anthropic_wire {

inline constexpr std::string_view api_version = "2023-06-01";
// max_tokens is required by the Messages API; this is sent when neither the request nor the
// configuration names one.
inline constexpr int fallback_max_tokens = 4096;

struct RequestOptions {
  std::optional<int> default_max_tokens;  // when the request has none; else fallback_max_tokens
};

// The request body: system messages joined into the top-level `system`; consecutive messages of
// one role merged (the API wants user and assistant turns to alternate).
// - image parts -> image blocks (a data URL -> source base64, an https URL -> source url);
// - tools -> tools with input_schema; tool_choice auto/required/none/NAME -> {type: auto, any,
//   none, tool}; parallel_tool_calls false -> tool_choice.disable_parallel_tool_use;
// - assistant tool calls -> tool_use blocks (arguments parsed into an object); tool messages ->
//   tool_result blocks of a user turn (consecutive ones in one turn);
// - stop -> stop_sequences, top_p, user -> metadata.user_id;
// - response_format json_object / json_schema -> one forced tool (forced_tool_name) whose
//   input_schema is the schema ({"type":"object"} for json_object); its input is the answer.
// invalid_request naming the parameter for what Anthropic cannot honour (seed, presence_penalty,
// frequency_penalty, a tool's strict, response_format strict or together with tools, a message's
// name, an image's detail low/high) and for
// tool-call arguments or schemas that are not JSON objects.
Result<std::string> build_request(const ChatRequest& req, bool stream, const RequestOptions& opts = {});

// The name of the tool that carries a JSON-mode answer (the json_schema's name, else
// "json_response"); empty when the request wants text.
std::string_view forced_tool_name(const ChatRequest& req);
// Content-Type, Accept, anthropic-version and, when a key is given, x-api-key; then `extra`.
std::vector<http::Header> build_headers(const std::string* api_key, bool stream,
                                        const std::vector<http::Header>& extra = {});

// end_turn/stop_sequence -> "stop", max_tokens -> "length", tool_use -> "tool_calls",
// refusal -> "content_filter", anything else -> "other".
std::string normalise_finish_reason(std::string_view reason);

// A 2xx non-streaming body: the text blocks of `content` joined; tool_use blocks become tool calls
// (input serialised as the arguments), except JSON mode's forced tool, whose input is the text.
Result<Completion> parse_response(std::string_view body, const ChatRequest& req);

// An error response: {"type": "error", "error": {"type", "message"}}; 529 is "overloaded".
Error map_error(int status, const std::vector<http::Header>& headers, std::string_view body,
                TimePoint now);

// message_start (model, input and cache usage), content_block_delta with text_delta (the text),
// message_delta (stop_reason, cumulative output_tokens), message_stop (the end); ping and other
// events are skipped. An `error` event is returned as an Error whose upstream_status is the HTTP
// status Anthropic documents for its type (overloaded_error -> 529, ...).
// A tool_use content_block_start starts a tool call (id, name), its input_json_delta pieces are
// its arguments (JSON mode's forced tool: they are the answer text).
class StreamDecoder final : public wire::StreamDecoder {
 public:
  explicit StreamDecoder(const ChatRequest& req = {});
  Result<wire::Decoded> feed(const SseEvent& ev) override;

 private:
  struct Call {
    int index = 0;  // the call's index among the answer's tool calls
    bool has_arguments = false;
  };
  std::string forced_tool_;
  std::int64_t forced_block_ = -2;  // the content block of the forced tool, when it started
  std::map<std::int64_t, Call> calls_;  // by content block index

  void read_usage(const boost::json::object& u);
  // Anthropic's raw figures, kept apart until normalised into progress_.usage.
  std::int64_t input_ = 0, cache_read_ = 0, cache_write_ = 0;
};

}  // namespace aas::llm::anthropic_wire
