#pragma once
// The "call" stage of a turn, shared by the chat and the gateway: one model call, streamed or
// not, raced against the client going away and against a stop request, ending in a typed
// outcome. It never fails: whatever happened is described, so the recorder can bill and store it.
#include "chat/retriever.hpp"
#include "core/error.hpp"
#include "llm/models.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aas::chat {

// What the agent does with tools during a turn, told to the client as the events tool_call,
// tool_result and tool_confirmation (SSE and Socket.IO alike).
struct ToolEvent {
  enum class Kind { call, result, confirmation };
  Kind kind = Kind::call;
  std::string call_id;
  std::string name;
  std::string arguments;  // call, confirmation: the arguments as the model wrote them (JSON text)
  std::string result;     // result: what the model is given
  bool error = false;     // result: a tool error (the model is told so)
  std::chrono::system_clock::time_point expires_at{};  // confirmation: unanswered, it expires then
};

// Follows a streamed call. Called on the caller's strand; delta() must not block.
class TurnObserver {
 public:
  virtual ~TurnObserver() = default;
  // false: the client is gone (or too far behind); the model call is then stopped.
  virtual bool delta(std::string_view text) = 0;
  // A piece of text with its tokens' log probabilities (asked for with logprobs; `text` may be
  // empty). Observers that show none take the text alone.
  virtual bool delta_logprobs(std::string_view text, const std::vector<llm::TokenLogprob>&) {
    return text.empty() || delta(text);
  }
  // A piece of a tool call the model is making (the first piece of call `index` has its id and
  // name). Observers that show no tool calls take them silently.
  virtual bool tool_call(const llm::ToolCallDelta&) { return true; }
  // The agent's tool calls, results and confirmations requested (observers may ignore them).
  virtual void tool_event(const ToolEvent&) {}
  // An agent's next model call starts; its answer will be stored as `message_id` (the events that
  // name the answer's message follow it).
  virtual void next_answer(const std::string& message_id) { (void)message_id; }
  // The answer's citations grew (the agent's knowledge_search found passages): all of them so far.
  virtual void citations(const std::vector<Citation>& all) { (void)all; }
  // Calls `f` once when the client is gone (at once when it is gone already), on the caller's
  // strand, until replaced (nullptr: no longer told); the model call cancels itself promptly
  // through it. A callback, not an awaitable raced against the call: that was a spawned thread
  // and its frame held for the whole of every stream. Observers whose client never leaves (the
  // turn runs to its end whatever happens) keep this default.
  virtual void on_gone(std::function<void()> f) { (void)f; }
  // Whether the client is gone already (checked between an agent's steps).
  virtual bool left() const { return false; }
};

enum class CallEnd {
  complete,     // the model finished its answer
  interrupted,  // the upstream failed after the first words: `text` holds what arrived
  stopped,      // the user asked to stop (a stop request): `text` holds what arrived
  cancelled,    // the client went away
  failed,       // the upstream failed before any text
};
std::string_view to_string(CallEnd end) noexcept;

struct CallResult {
  CallEnd end = CallEnd::failed;
  std::string text;  // the answer, or what of it arrived (streams: what reached the client)
  std::vector<llm::ToolCall> tool_calls;
  std::vector<llm::TokenLogprob> logprobs;  // asked for with logprobs: the answer's tokens'
  std::string finish_reason;         // the upstream's, when it finished
  std::string stop_sequence;         // the stop sequence that ended it, when the upstream said
  std::optional<llm::Usage> usage;   // the provider's figures, when it returned any
  std::string deployment;            // who answered, when known
  std::string provider;
  std::optional<Error> error;  // failed, interrupted, cancelled: why
  std::optional<std::int64_t> ttft_ms;  // streamed calls that produced text
  std::int64_t latency_ms = 0;
  std::chrono::steady_clock::duration upstream{};  // time spent waiting for the model
  bool cached = false;  // answered from the gateway's response cache: no upstream call
  // false: the turn ended before this call was made (an agent turn stopped while a tool call
  // waited for approval): nothing to bill.
  bool called = true;
};

// Completes when a stop was requested; cancelled (and so never completing) otherwise.
using StopSignal = std::function<boost::asio::awaitable<void>()>;

// What comes back from a model is bounded whatever the model does or claims (zero: no bound).
// The output cap is the request's max_tokens (Accounting::admit sets it).
struct CallLimits {
  // An answer's text is cut here (whole UTF-8 characters): finish reason "length".
  std::size_t max_answer_bytes = 1024 * 1024;
  // A non-streamed call not answered by then fails upstream_timeout (billed for its prompt);
  // callers set it below the request timeout, so the failure is recorded and told.
  std::chrono::milliseconds timeout{0};
  // A stream still running after this, or without a piece for stream_idle_timeout (the first
  // piece included), ends upstream_timeout: interrupted with what arrived, or failed.
  std::chrono::milliseconds stream_max_duration{0};
  std::chrono::milliseconds stream_idle_timeout{0};
};

// Our tokenizer is exact for OpenAI's models only; another upstream's count may differ by this
// much before its answer is taken to overrun its cap: cap + cap / 4 + 8.
std::int64_t output_allowance(std::int64_t cap) noexcept;

// A streamed answer saved as it grows (what a crash can lose is bounded): `save` gets the text
// added since its last call (the answer so far is every piece in order) once `every_tokens` more
// (estimated: 4 bytes a token) or `every` have passed since the last save, whichever first. Only
// the new text, so a long answer's checkpoints cost time linear in its length, not quadratic.
// Called on the caller's strand; must not block.
struct Checkpoint {
  std::function<void(std::string_view added)> save;
  std::chrono::milliseconds every{1000};
  std::int64_t every_tokens = 64;
};

struct CallControl {
  CallLimits limits;
  StopSignal stop;                     // empty: no stop requests (the gateway)
  const Checkpoint* checkpoint = nullptr;  // streamed chat answers only
  // A non-streamed call's limits.timeout counts from here: the request's arrival, so that time
  // spent before the call (context, retrieval, admission) cannot carry the call past the request
  // timeout, which would abandon the turn unrecorded. Default: the call's own start.
  std::chrono::steady_clock::time_point since{};
};

// `observer` null: a non-streamed call.
boost::asio::awaitable<CallResult> call_model(const llm::Model& model, const llm::ChatRequest& request,
                                              TurnObserver* observer, const CallControl& control);
// A streamed call_model whose result goes into `out` (the caller's, alive while it awaits), for
// callers that hold many streams (the gateway): a coroutine returning the CallResult keeps it
// twice in its frame (its own and the promise's) for the whole of the stream.
boost::asio::awaitable<void> stream_model(const llm::Model& model, const llm::ChatRequest& request,
                                          TurnObserver& observer, const CallControl& control, CallResult& out);

}  // namespace aas::chat
