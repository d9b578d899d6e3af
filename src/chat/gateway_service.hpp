#pragma once
// One model call with no conversation: the OpenAI-compatible gateway. The same models, limits
// and accounting (a ledger row per call) as the chat, but nothing is stored as messages.
#include "chat/accounting.hpp"
#include "chat/model_call.hpp"
#include "chat/recorder.hpp"
#include "chat/response_cache.hpp"
#include "core/error.hpp"
#include "llm/models.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace boost::asio { class thread_pool; }

namespace aas::chat {

struct DirectRequest {
  std::string user_id;
  std::vector<std::string> roles;
  std::string model;  // the name the client asked for
  // What goes to the model: messages (parts, tool calls and results), sampling parameters,
  // tools, tool_choice, response_format. Its `model` is set to the upstream model at admit.
  llm::ChatRequest call;
  std::string request_id;
};

struct GatewayOptions {
  // Answers cached for one user are served to every user (CACHE_SHARED); by default each user
  // has their own, so that a cache hit does not tell one user what another asked.
  bool cache_shared = false;
  std::size_t max_image_bytes = 5 * 1024 * 1024;  // MAX_IMAGE_BYTES: an image's decoded size
  std::string embedding_model;                      // EMBEDDING_MODEL: when a request names none
};

// A request that passed every check (model, limits): its call may start. Of the DirectRequest
// it keeps who asked and the request id, not the request itself (moved into `request`): a held
// stream keeps this, and a moved-from ChatRequest beside it was ~0.4 KB of nothing.
struct AdmittedCall {
  std::string user_id;
  std::vector<std::string> roles;
  std::string request_id;
  const llm::Model* model = nullptr;
  llm::ChatRequest request;
  limits::Grant grant;
  std::chrono::steady_clock::time_point admitted_at{};  // when admit() started (metrics)
};

struct DirectResult {
  std::string model;  // the name the client asked for
  std::string content;
  std::vector<llm::ToolCall> tool_calls;
  std::vector<llm::TokenLogprob> logprobs;  // asked for with logprobs
  std::string finish_reason;
  std::string stop_sequence;  // the request's stop sequence that ended the answer, when known
  llm::Usage usage;
  std::optional<std::int64_t> cost_micros;
  std::optional<Error> interruption;  // a stream that broke (or lost its client) part way
  std::optional<bool> cached;  // set for a cacheable request: answered from the cache or not
};

// POST /v1/embeddings.
struct EmbeddingCall {
  std::string user_id;
  std::vector<std::string> roles;
  std::string model;  // empty: GatewayOptions::embedding_model
  std::vector<std::string> inputs;
  std::optional<int> dimensions;
  std::string user;
  std::string request_id;
};

struct EmbeddingResult {
  std::string model;  // the name the client asked for (or the default)
  std::vector<std::vector<float>> vectors;
  llm::Usage usage;
  std::optional<std::int64_t> cost_micros;
};

class GatewayService {
 public:
  // `cache` (may be null: no caching) answers repeated deterministic non-streamed requests.
  GatewayService(boost::asio::thread_pool& blocking, const llm::ModelRegistry& models, Accounting& accounting,
                 Recorder& recorder, ResponseCache* cache = nullptr, GatewayOptions options = {})
      : blocking_(blocking),
        models_(models),
        accounting_(accounting),
        recorder_(recorder),
        cache_(cache),
        options_(std::move(options)),
        stream_control_{accounting.call_limits()} {}

  const GatewayOptions& options() const { return options_; }

  // 404 for an unknown model, 400 for an empty message list, 429 when a limit refuses: before
  // anything is sent to a client.
  boost::asio::awaitable<Result<AdmittedCall>> admit(DirectRequest req, bool stream);
  // `n` answers to one request (OpenAI's n > 1), emulated as n calls, each admitted and billed
  // on its own, so every upstream serves it: all n are admitted before any starts, or none is
  // (the reservations of those already admitted are released).
  boost::asio::awaitable<Result<std::vector<AdmittedCall>>> admit_each(DirectRequest req, int n, bool stream);
  // Gives an admitted call's reservation back without calling the model: nothing is billed.
  boost::asio::awaitable<void> release(AdmittedCall& call);
  boost::asio::awaitable<Result<DirectResult>> complete(AdmittedCall call);
  // Text and tool calls as they stream go to the observer. `call` is the caller's, alive while it
  // awaits (not a copy in the coroutine's frame: ~1 KB more per held stream).
  boost::asio::awaitable<Result<DirectResult>> stream(AdmittedCall& call, TurnObserver& observer);
  // stream() in two steps, for a caller that holds many streams (api/gateway_stream): the model
  // call, not a coroutine itself, its result into the caller's `out` (one CallResult per held
  // stream, in the caller's frame), then streamed(), the call's record and answer.
  boost::asio::awaitable<void> call_streamed(AdmittedCall& call, TurnObserver& observer, CallResult& out) {
    return stream_model(*call.model, call.request, observer, stream_control_, out);
  }
  boost::asio::awaitable<Result<DirectResult>> streamed(AdmittedCall& call, CallResult& result);
  // Admits (limits and budgets, on the inputs' tokens), calls the model's embed() and writes a
  // ledger row of kind "embedding" priced at the model's input price. 404 for an unknown model,
  // 400 for one that cannot embed; 429 when a limit refuses.
  boost::asio::awaitable<Result<EmbeddingResult>> embed(EmbeddingCall call);

 private:
  // A call's ledger row, by the one Recorder; a failure to write is logged, not returned (the
  // answer has already been given).
  boost::asio::awaitable<void> record(CallRecord what, const CallResult& result);

  boost::asio::thread_pool& blocking_;
  const llm::ModelRegistry& models_;
  Accounting& accounting_;
  Recorder& recorder_;
  ResponseCache* cache_;
  GatewayOptions options_;
  const CallControl stream_control_;  // the gateway's streams: its limits, no stop, no checkpoint
};

}  // namespace aas::chat
