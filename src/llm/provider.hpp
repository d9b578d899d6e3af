#pragma once
// The model port. Providers turn our ChatRequest into a vendor's wire format and the vendor's
// answer back into our types at their own edge; nothing above this header sees vendor JSON.
#include "core/error.hpp"
#include "domain/content.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aas::llm {

// Content parts and tool calls are the records' own types (domain/content.hpp): a stored turn
// goes to a provider unchanged.
using ContentPart = domain::ContentPart;
using ToolCall = domain::ToolCall;

// A function the model may call. `parameters` is a JSON Schema, as JSON text.
struct ToolDefinition {
  std::string name;
  std::string description;
  std::string parameters = "{}";
  bool strict = false;
};

struct ChatMessage {
  std::string role;     // "system", "user", "assistant", "tool"
  std::string content;  // the text; when `parts` is not empty it holds the text parts joined
  // Multimodal content (text and image parts, in order); empty for a plain text message.
  std::vector<ContentPart> parts;
  std::vector<ToolCall> tool_calls;  // role "assistant": the calls it made
  std::string tool_call_id;          // role "tool": the call this is the result of
  std::string name;                  // optional participant name (OpenAI's `name`)
};

// How the model must shape its answer.
struct ResponseFormat {
  enum class Kind { text, json_object, json_schema };
  Kind kind = Kind::text;
  std::string schema_name;  // json_schema
  std::string schema;       // json_schema: the JSON Schema, as JSON text
  bool strict = false;
};

// A generated token's log probability (OpenAI's logprobs.content[]): its text, its UTF-8 bytes
// (empty when the upstream sent none), and, when top_logprobs was asked, the likeliest tokens at
// that position (their own `top` empty).
struct TokenLogprob {
  std::string token;
  double logprob = 0;
  std::vector<int> bytes;
  std::vector<TokenLogprob> top;
};

struct ChatRequest {
  std::string model;  // the upstream model name of the deployment
  std::vector<ChatMessage> messages;
  std::optional<double> temperature;
  std::optional<int> max_tokens;
  std::optional<double> top_p;
  std::optional<std::int64_t> seed;
  std::optional<double> presence_penalty;
  std::optional<double> frequency_penalty;
  std::vector<std::string> stop;  // stop sequences
  std::string user;               // the end user, for the provider's abuse monitoring
  std::vector<ToolDefinition> tools;
  // "auto" | "none" | "required" | a function name (that one must be called); empty: not given.
  std::string tool_choice;
  std::optional<bool> parallel_tool_calls;
  ResponseFormat response_format;
  // The answer's tokens' log probabilities (OpenAI's logprobs), with top_logprobs alternatives
  // each (0 to 20). Only OpenAI-compatible upstreams give them; others refuse in supports().
  bool logprobs = false;
  std::optional<int> top_logprobs;
  std::string request_id;  // forwarded for tracing, never used for behaviour
  // Whose call it is (our user id, never sent upstream): the router shares a deployment's slots
  // fairly between these keys. Empty: one shared key for everything unattributed.
  std::string fair_key;
};

// Normalised alike for every provider (see providers/*_wire.hpp for each vendor's mapping):
// input_tokens is the WHOLE prompt, cached reads and cache writes included; cached_input_tokens
// and cache_write_tokens are the parts of it read from / written to the prompt cache, so the
// uncached rest is input - cached_input - cache_write. output_tokens includes reasoning_tokens.
struct Usage {
  std::int64_t input_tokens = 0;
  std::int64_t output_tokens = 0;
  std::int64_t cached_input_tokens = 0;
  std::int64_t cache_write_tokens = 0;
  std::int64_t reasoning_tokens = 0;
  // True when the provider reported no usage and these are our estimate.
  bool estimated = false;

  // The usage of several calls billed as one answer (n > 1, several prompts).
  Usage& operator+=(const Usage& more) {
    input_tokens += more.input_tokens;
    output_tokens += more.output_tokens;
    cached_input_tokens += more.cached_input_tokens;
    cache_write_tokens += more.cache_write_tokens;
    reasoning_tokens += more.reasoning_tokens;
    estimated = estimated || more.estimated;
    return *this;
  }
};

struct Completion {
  std::string content;
  std::vector<ToolCall> tool_calls;  // finish_reason "tool_calls" when the model made some
  std::string model;           // as reported by the provider
  std::string finish_reason;   // "stop", "length", "tool_calls", ...
  Usage usage;
  std::vector<TokenLogprob> logprobs;  // when the request asked for them
  // The request's stop sequence that ended the answer (finish_reason "stop"), when the upstream
  // says which: Anthropic's stop_sequence, vLLM's stop_reason; empty otherwise.
  std::string stop_sequence;
  // Who answered, for the usage ledger: set by the router (or a provider used on its own).
  std::string deployment;  // "openai/gpt-4o-mini#1"
  std::string provider;    // "openai", "anthropic", "mock"
};

// A piece of a tool call as it streams: the first piece of call `index` carries its id and
// name, later ones append to its arguments.
struct ToolCallDelta {
  int index = 0;
  std::string id;
  std::string name;
  std::string arguments;
};

// Adds a streamed piece to the calls assembled so far: a new index starts a call, a known one
// appends to its arguments (and takes an id or name it did not have yet).
void apply_tool_call_delta(std::vector<ToolCall>& calls, const ToolCallDelta& d);

// One piece of a streamed answer: text, or a piece of a tool call (then `text` is empty).
struct StreamDelta {
  std::string_view text;
  const ToolCallDelta* tool_call = nullptr;
  // The log probabilities of the tokens of `text`, when the request asked for them.
  const std::vector<TokenLogprob>* logprobs = nullptr;
};

// Receives the answer as it is generated. Returning false asks the provider to stop (the client
// went away); the provider then returns what it has with finish_reason "cancelled".
using ChunkSink = std::function<bool(const StreamDelta& delta)>;

// Texts to turn into vectors (OpenAI's /embeddings).
struct EmbeddingRequest {
  std::string model;  // the upstream model name of the deployment
  std::vector<std::string> inputs;
  std::optional<int> dimensions;  // shorten the vectors (text-embedding-3-*), when given
  std::string user;
  std::string request_id;
  std::string fair_key;  // as ChatRequest::fair_key
};

struct Embeddings {
  std::vector<std::vector<float>> vectors;  // one per input, in order
  std::string model;                        // as reported by the provider
  Usage usage;                              // input_tokens only
  std::string deployment;                   // set by the router, as for Completion
  std::string provider;
};

// The stream() contract:
// - Success: the upstream finished (finish_reason as it said), or the sink declined a chunk
//   (finish_reason "cancelled", content = the chunks the sink accepted). Usage the upstream did
//   not report is estimated and flagged `estimated`.
// - Any failure is an Error, before or after the first chunk. The Error does not carry the text
//   already delivered: a caller that needs the partial answer (to store it as interrupted)
//   accumulates it from its sink, and once its sink has seen a chunk it must not retry the call.
//   A stream that ends without the vendor's end marker (and without a final finish reason) is
//   upstream_error "the model provider's answer broke off".
// - Tool calls stream as ToolCallDelta pieces and come back assembled in Completion::tool_calls
//   (also for a cancelled stream: the calls the sink accepted, arguments as far as they came).

// A streamed answer once it is flowing (LlmProvider::open_stream): its first piece reached the
// sink, or it has ended already. A held stream keeps this object and the one coroutine frame that
// reads it, not the frames of the layers (router, provider, HTTP client) that opened it.
class OpenStream {
 public:
  virtual ~OpenStream() = default;
  // Reads the rest of the answer into `sink` (the caller's own: the sink given to open_stream
  // may have been a layer's wrapper, gone once it opened), until the upstream finished, failed,
  // or the sink declined. Returns at once for a stream that ended while opening. Cancelled
  // through the awaiting coroutine's cancellation slot.
  virtual boost::asio::awaitable<void> read_rest(const ChunkSink& sink) = 0;
  // Ends a read_rest() under way soon (on the caller's strand, never from within the sink): it
  // returns, and the outcome is not asked for. What a caller that awaits read_rest() in its own
  // coroutine uses, rather than a spawned thread bound to a cancellation slot (~1 KB per held
  // stream). A stream whose read_rest() never waits (one that ended while opening) needs none.
  virtual void cancel() {}
  // What it came to, as stream() returns it, once read_rest has returned. `cancelled`: the reading
  // was cancelled (the client left, a time bound): nothing is counted for or against the upstream.
  virtual Result<Completion> outcome(bool cancelled) = 0;
};

class LlmProvider {
 public:
  virtual ~LlmProvider() = default;
  virtual std::string_view name() const = 0;
  virtual boost::asio::awaitable<Result<Completion>> complete(const ChatRequest& req) = 0;
  virtual boost::asio::awaitable<Result<Completion>> stream(const ChatRequest& req,
                                                            const ChunkSink& sink) = 0;
  // stream() in two steps: returns once the first piece (text or a tool call) reached the sink,
  // or the stream ended (a failure before the first piece, and any failure a provider cannot
  // tell apart, is the Error). `req` must outlive the returned stream. This default runs stream()
  // to its end; providers that hold long streams override it (see stream_through).
  virtual boost::asio::awaitable<Result<std::unique_ptr<OpenStream>>> open_stream(const ChatRequest& req,
                                                                                  const ChunkSink& sink);
  // invalid_request naming the parameter when this provider cannot honour the request (Anthropic
  // has no seed, ...): checked before a call is admitted, so that a refusal costs nothing.
  // stream() and complete() refuse the same requests the same way.
  virtual Result<void> supports(const ChatRequest&) const { return {}; }
  // Vectors for texts. A provider without an embeddings endpoint (Anthropic, the offline mock)
  // keeps this default: invalid_request "model X cannot embed".
  virtual boost::asio::awaitable<Result<Embeddings>> embed(const EmbeddingRequest& req);
};

// stream() by way of open_stream(): open, read the rest, the outcome (a cancelled reading ends
// with operation_aborted, as Asio operations do). For providers that override open_stream, and
// for callers that hold streams (the model call).
boost::asio::awaitable<Result<Completion>> stream_through(LlmProvider& provider, const ChatRequest& req,
                                                          const ChunkSink& sink);

// True for a request every provider carries as it is (text messages, temperature, max_tokens,
// top_p, stop): asking supports() can be skipped, which would build the request's body.
bool plainly_supported(const ChatRequest& req) noexcept;

// The default of LlmProvider::embed, for providers that cannot embed.
Error cannot_embed(std::string_view model);

}  // namespace aas::llm
