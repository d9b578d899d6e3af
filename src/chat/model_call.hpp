#pragma once
// The "call" stage of a turn, shared by the chat and the gateway: one model call, streamed or
// not, raced against the client going away and against a stop request, ending in a typed
// outcome. It never fails: whatever happened is described, so the recorder can bill and store it.
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

// Follows a streamed call. Called on the caller's strand; delta() must not block.
class TurnObserver {
 public:
  virtual ~TurnObserver() = default;
  // false: the client is gone (or too far behind); the model call is then stopped.
  virtual bool delta(std::string_view text) = 0;
  // A piece of a tool call the model is making (the first piece of call `index` has its id and
  // name). Observers that show no tool calls take them silently.
  virtual bool tool_call(const llm::ToolCallDelta&) { return true; }
  // Completes when the client is gone; raced against the model call to cancel it promptly.
  virtual boost::asio::awaitable<void> gone() = 0;
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
  std::string finish_reason;         // the upstream's, when it finished
  std::optional<llm::Usage> usage;   // the provider's figures, when it returned any
  std::string deployment;            // who answered, when known
  std::string provider;
  std::optional<Error> error;  // failed, interrupted, cancelled: why
  std::optional<std::int64_t> ttft_ms;  // streamed calls that produced text
  std::int64_t latency_ms = 0;
  std::chrono::steady_clock::duration upstream{};  // time spent waiting for the model
  bool cached = false;  // answered from the gateway's response cache: no upstream call
};

// Completes when a stop was requested; cancelled (and so never completing) otherwise.
using StopSignal = std::function<boost::asio::awaitable<void>()>;

// `observer` null: a non-streamed call. `stop` empty: no stop requests (the gateway).
boost::asio::awaitable<CallResult> call_model(const llm::Model& model, const llm::ChatRequest& request,
                                              TurnObserver* observer, const StopSignal& stop = {});

}  // namespace aas::chat
