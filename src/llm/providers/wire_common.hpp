#pragma once
// What the OpenAI and Anthropic wire translations share: the stream decoder interface, the
// mapping of an upstream HTTP status to our Error, Retry-After parsing and the usage fallback.
// Pure functions only (no I/O), so that all of it is unit-tested without a network.
#include "core/clock.hpp"
#include "core/error.hpp"
#include "http/message.hpp"
#include "llm/provider.hpp"
#include "llm/sse_parser.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aas::llm::wire {

// What a stream decoder has learned so far.
struct StreamProgress {
  std::string model;          // as the upstream names it; empty until it did
  std::string finish_reason;  // normalised (see normalise in the vendor files); empty until sent
  std::string stop_sequence;  // the stop sequence that ended the answer, when the upstream said
  Usage usage;                // the upstream's figures so far, already normalised
  bool input_reported = false;
  bool output_reported = false;
  bool terminated = false;  // the vendor's end marker arrived ([DONE] / message_stop)

  // The answer is complete once the end marker or the final finish reason arrived: a connection
  // that closes after the finish reason but before the end marker lost nothing of the answer.
  bool finished() const { return terminated || !finish_reason.empty(); }
};

// What one event adds to the answer: text, pieces of tool calls, or (often) nothing.
struct Decoded {
  std::string text;
  std::vector<ToolCallDelta> tool_calls;
  std::vector<TokenLogprob> logprobs;  // of `text`'s tokens, when asked for
  bool empty() const { return text.empty() && tool_calls.empty() && logprobs.empty(); }
};

// Turns a vendor's server-sent events into answer pieces and a StreamProgress.
class StreamDecoder {
 public:
  virtual ~StreamDecoder() = default;
  // Takes one event and returns what it adds to the answer. An error the upstream reports
  // inside the stream, or an event that is not valid JSON, is returned as an Error.
  virtual Result<Decoded> feed(const SseEvent& ev) = 0;
  const StreamProgress& progress() const { return progress_; }

 protected:
  StreamProgress progress_;
};

// The error body of a vendor, reduced to what we log.
struct VendorError {
  std::string type;     // "invalid_request_error", "overloaded_error", ...
  std::string code;     // OpenAI's `code` ("invalid_api_key", "insufficient_quota", ...)
  std::string message;  // the vendor's text: logs only, it may echo the request
};

// Maps an upstream HTTP status to our taxonomy, with a client-safe message and the vendor's text
// in `detail`. Always sets upstream_status, and retry_after_seconds when the response says
// (Retry-After / retry-after-ms). `vendor` names the provider in `detail`.
//   429 -> rate_limited; 408 -> upstream_timeout; 503 -> unavailable;
//   401, 403, other 4xx, 5xx (529 "overloaded" included) -> upstream_error.
Error error_from_status(std::string_view vendor, int status,
                        const std::vector<http::Header>& headers, const VendorError& v,
                        TimePoint now);

// The error for a 2xx body or stream event that is not in the vendor's format.
Error malformed(std::string_view vendor, std::string_view what);

// Retry-After: delay-seconds or an HTTP-date (IMF-fixdate), as whole seconds from `now`
// (rounded up, never negative). nullopt when absent or unparsable.
std::optional<int> parse_retry_after(std::string_view value, TimePoint now);
// A Go-style duration as OpenAI writes x-ratelimit-reset-*: "1s", "6m0s", "20ms", "1h2m3.5s";
// whole seconds, rounded up.
std::optional<int> parse_duration_seconds(std::string_view value);

// Case-insensitive header lookup (our headers are lowercase already; upstreams' may not be).
std::optional<std::string_view> find_header(const std::vector<http::Header>& headers,
                                            std::string_view name);

// Masks things that look like API keys ("sk-...", "sk-ant-...") in vendor text before it goes to
// a log: OpenAI echoes a partly masked key in its 401 message.
std::string redact_secrets(std::string text);

// Fills in what the upstream did not report with our estimate and flags the usage estimated.
Usage complete_usage(const StreamProgress& p, const ChatRequest& req, std::string_view content,
                     const std::vector<ToolCall>& tool_calls = {});

// Tolerant JSON readers: a missing member, a null or another type reads as absent, because
// vendors add, drop and null out fields over time.
std::optional<boost::json::value> parse_json_object(std::string_view body,
                                                    boost::json::storage_ptr sp = {});  // object or nullopt

// Memory for the JSON of one stream chunk, parsed and dropped within one call: a per-thread
// buffer reused for every chunk (the heap only past its 4 KB), so decoding a relayed token
// mallocs nothing for its parse tree. It must outlive what is parsed into it; a second one alive
// on the same thread at once uses the heap.
class ChunkMemory {
 public:
  ChunkMemory();
  ~ChunkMemory();
  ChunkMemory(const ChunkMemory&) = delete;
  ChunkMemory& operator=(const ChunkMemory&) = delete;
  boost::json::storage_ptr storage() { return &*resource_; }

 private:
  std::optional<boost::json::monotonic_resource> resource_;
  bool owns_buffer_ = false;
};
const boost::json::object* get_object(const boost::json::object& o, std::string_view key);
const boost::json::array* get_array(const boost::json::object& o, std::string_view key);
std::optional<std::string_view> get_string(const boost::json::object& o, std::string_view key);
std::optional<std::int64_t> get_int(const boost::json::object& o, std::string_view key);

// base_url + "/" + path, whatever trailing slash the configured base URL has.
std::string join_url(std::string_view base_url, std::string_view path);

}  // namespace aas::llm::wire
