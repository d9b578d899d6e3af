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
  std::string model;
  std::vector<llm::ChatMessage> messages;
  std::optional<double> temperature;
  std::optional<int> max_tokens;
  std::string request_id;
};

// A request that passed every check (model, limits): its call may start.
struct AdmittedCall {
  DirectRequest input;
  const llm::Model* model = nullptr;
  llm::ChatRequest request;
  limits::Grant grant;
  std::chrono::steady_clock::time_point admitted_at{};  // when admit() started (metrics)
};

struct DirectResult {
  std::string model;  // the name the client asked for
  std::string content;
  std::string finish_reason;
  llm::Usage usage;
  std::optional<std::int64_t> cost_micros;
  std::optional<Error> interruption;  // a stream that broke (or lost its client) part way
  std::optional<bool> cached;  // set for a cacheable request: answered from the cache or not
};

class GatewayService {
 public:
  // `cache` (may be null: no caching) answers repeated deterministic non-streamed requests.
  GatewayService(boost::asio::thread_pool& blocking, const llm::ModelRegistry& models, Accounting& accounting,
                 Recorder& recorder, ResponseCache* cache = nullptr)
      : blocking_(blocking), models_(models), accounting_(accounting), recorder_(recorder), cache_(cache) {}

  // 400 for an unknown model or an empty message list, 429 when a limit refuses: before
  // anything is sent to a client.
  boost::asio::awaitable<Result<AdmittedCall>> admit(DirectRequest req, bool stream);
  boost::asio::awaitable<Result<DirectResult>> complete(AdmittedCall call);
  boost::asio::awaitable<Result<DirectResult>> stream(AdmittedCall call, TurnObserver& observer);

 private:
  // The call's ledger row, by the one Recorder; a failure to write is logged, not returned (the
  // answer has already been given).
  boost::asio::awaitable<void> record(AdmittedCall& call, const CallResult& result);

  boost::asio::thread_pool& blocking_;
  const llm::ModelRegistry& models_;
  Accounting& accounting_;
  Recorder& recorder_;
  ResponseCache* cache_;
};

}  // namespace aas::chat
