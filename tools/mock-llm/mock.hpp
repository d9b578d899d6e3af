#pragma once
// mock-llm: a fake OpenAI + Anthropic upstream speaking the real wire formats, with fault
// injection, for the service's integration tests, benchmarks and demos. See README.md beside this
// file for the flags, the x-mock-* headers and the token-counting rule.
#include "http/message.hpp"
#include "http/router.hpp"

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aas::mockllm {

// From the command line: the defaults of every request.
struct Settings {
  std::string require_key;          // empty: no API key needed
  std::vector<std::string> models;  // empty: any model name is accepted
  std::chrono::milliseconds delay{0};
  double tokens_per_second = 0;  // 0: as fast as the socket takes them
  std::optional<std::size_t> answer_tokens;  // unset: the natural answer "Mock answer to: ..."
  std::chrono::milliseconds drip_interval{500};
};

// What one request asks of the mock: the Settings, overridden by its x-mock-* headers.
struct Behaviour {
  std::chrono::milliseconds delay{0};  // before the first token (or the whole answer)
  double tokens_per_second = 0;
  std::optional<std::size_t> answer_tokens;
  int status = 0;           // answer this error status instead of succeeding (0: succeed)
  std::string retry_after;  // sent as Retry-After with an injected error
  int fail_first = 0;       // only the first N requests carrying `key` fail
  std::string key;          // isolates one test's counters (fail-first, stats)
  std::optional<std::size_t> drop_after;       // close the stream after this many tokens
  std::optional<std::size_t> malformed_after;  // one invalid JSON chunk after this many tokens
  bool drip = false;                           // one token per drip interval, forever
  std::chrono::milliseconds drip_interval{500};
  std::size_t chunk_bytes = 0;  // group tokens so each chunk carries at least this many bytes
  std::size_t cached_tokens = 0;
  std::size_t cache_write_tokens = 0;
  std::size_t reasoning_tokens = 0;
  // Streamed: after the answer, filler words (made as they go, never held whole) until the text
  // has this many bytes: an upstream that will not stop (0: off).
  std::size_t flood_bytes = 0;
  // Streamed: after this many tokens, send nothing more and keep the connection open until the
  // client leaves (a stalled upstream that never closes).
  std::optional<std::size_t> stall_after;
  // OpenAI: report this many completion tokens whatever was sent (an upstream that under-reports).
  std::optional<std::size_t> claim_output_tokens;
  bool ignore_max_tokens = false;  // OpenAI: answer past max_tokens (an upstream that overruns)
};

// Reads the x-mock-* headers over the defaults; an error message names a header with a bad value.
std::optional<std::string> read_behaviour(const http::Request& req, const Settings& settings,
                                          Behaviour& out);

// An injected error with the Retry-After that x-mock-retry-after asks for.
http::Response with_retry_after(http::Response res, const Behaviour& b);

enum class StreamEnd { completed, cancelled, dropped };

// Counters for GET /mock/stats, so a test can see what reached the upstream and whether a stream
// was cancelled by the client (our service) going away. Shared by all connection threads.
class Stats {
 public:
  void count_request(std::string_view path, std::string_view key);
  void stream_opened(std::string_view key);
  void stream_closed(std::string_view key, StreamEnd how);
  // Fail-first: counts one more attempt for `key`; true while it is among the first `n`.
  bool fail_this_attempt(std::string_view key, int n);
  std::string to_json() const;
  void reset();

 private:
  struct Streams {
    std::uint64_t open = 0, completed = 0, cancelled = 0, dropped = 0;
  };
  mutable std::mutex mutex_;
  std::uint64_t total_ = 0;
  std::map<std::string, std::uint64_t, std::less<>> by_path_;
  std::map<std::string, std::uint64_t, std::less<>> by_key_;
  std::map<std::string, std::uint64_t, std::less<>> attempts_;
  Streams streams_;
  std::map<std::string, Streams, std::less<>> streams_by_key_;
};

// Everything the handlers share; lives as long as the server.
class Ticker;

struct Mock {
  Settings settings;
  Stats stats;
  // Paces the streams' tokens (ticker.hpp); without one each stream sleeps on its own timer.
  Ticker* ticker = nullptr;
  std::atomic<std::uint64_t> next_id{1};

  // "chatcmpl-mock-000001": unique per process, readable in logs.
  std::string new_id(std::string_view prefix);
  bool model_known(std::string_view model) const;
  // The status an injected fault asks for (x-mock-status, x-mock-fail-first), or 0.
  int injected_status(const Behaviour& b);
};

// ---- content (content.cpp): deterministic text, token counts and vectors ----

// The token rule: a token is a whitespace-separated word.
std::size_t count_tokens(std::string_view text);
// The answer's tokens: the words of `answer`, padded with filler words or cut to `length` when
// given. Every token but the first carries its leading space, so the tokens concatenate to the
// answer text.
std::vector<std::string> answer_tokens(std::string_view answer, std::optional<std::size_t> length);
// The i-th token of an endless filler text (drip), with its leading space.
std::string filler_token(std::size_t i);
std::string join(const std::vector<std::string>& tokens);
// Ends the answer before the first of `stops` it contains (a token may be cut part way): the
// stop sequence that matched, or nullopt when none occurs.
std::optional<std::string> cut_at_stop(std::vector<std::string>& tokens, const std::vector<std::string>& stops);
// "call <name>" (or "<verb> <name>") appears in `text` as a whole word.
bool asks_to_call(std::string_view text, std::string_view tool_name, std::string_view verb = "call");

// A tool call of an answer: the tool's name and its arguments as JSON text.
struct MockToolCall {
  std::string name;
  std::string arguments = "{}";
};
// Its tokens: 1 for the name, plus the arguments' words (at least 1: "{}").
std::size_t tool_call_tokens(const MockToolCall& call);
// The arguments of "call <name> {json}" in `text`: that JSON object (compact), or "{}" when none
// follows or it is not a JSON object; nullopt when `text` does not ask to call the tool.
std::optional<std::string> requested_arguments(std::string_view text, std::string_view tool_name,
                                               std::string_view verb = "call");
// The runaway rule: "keep calling <name> {json}" in the last user message makes every answer call
// that tool again, after its results too (until tool_choice "none").
inline constexpr std::string_view kKeepCalling = "keep calling";
// A JSON value that satisfies the simple parts of a JSON Schema: an object with its required
// properties (all of them when none is required) filled by type (string "mock", or the enum's
// first value; number/integer the minimum or 0; boolean true; array empty or one item when
// minItems > 0; nested objects alike). How JSON mode and forced tools get valid answers.
std::string sample_for_schema(std::string_view schema_json);
// An image part's tokens, as the service estimates them: 85 at detail "low", else 765.
std::size_t image_tokens(std::string_view detail);
// A unit vector from the bag of words of `text`: equal texts give equal vectors and texts sharing
// words point in similar directions, which keeps retrieval tests meaningful.
std::vector<float> embed(std::string_view text, std::size_t dimensions);
// Little-endian float32 bytes in base64, as OpenAI's encoding_format "base64".
std::string base64_floats(const std::vector<float>& v);

// ---- streaming (faults.cpp): timing and faults shared by both vendors ----

// The vendor's framing of a streamed answer; run_stream decides when and whether each part goes.
class StreamFraming {
 public:
  virtual ~StreamFraming() = default;
  virtual std::string start() = 0;                        // before the first token
  virtual std::string delta(std::string_view text) = 0;   // one chunk of answer text
  virtual std::string malformed() = 0;                    // a chunk whose data is not JSON
  virtual std::string finish(std::size_t text_tokens) = 0;  // after the last token
};

// A streamed body sending `tokens` through `framing`, applying delay, pacing, chunk size,
// malformed chunk, drop and drip, and recording the stream in the stats.
http::StreamBody paced_stream(Mock& mock, Behaviour b, std::vector<std::string> tokens,
                              std::shared_ptr<StreamFraming> framing);
// The faults of a non-streamed answer: drip sends whitespace (valid before JSON) forever, drop
// sends the first half of the body and closes.
http::StreamBody dripping_body(Mock& mock, Behaviour b);
http::StreamBody truncated_body(Mock& mock, Behaviour b, std::string body);
// Waits as a non-streamed answer of `tokens` tokens would take: the delay, then the pacing.
boost::asio::awaitable<void> wait_like_generation(const Behaviour& b, std::size_t tokens);

// ---- routes ----
void add_openai_routes(http::Router& router, Mock& mock);
void add_anthropic_routes(http::Router& router, Mock& mock);
// GET /v1/models (either vendor's shape), GET /mock/stats, POST /mock/reset.
void add_shared_routes(http::Router& router, Mock& mock);

// Vendor error bodies, used by the shared routes too.
http::Response openai_error(int status, std::string message, std::string_view code = {},
                            std::string_view param = {});
http::Response anthropic_error(Mock& mock, int status, std::string message);
// True when the request carries the configured key in the vendor's header (or none is needed).
bool openai_key_ok(const Mock& mock, const http::Request& req);
bool anthropic_key_ok(const Mock& mock, const http::Request& req);

}  // namespace aas::mockllm
