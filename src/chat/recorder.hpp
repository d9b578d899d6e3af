#pragma once
// The "record" stage: the ONE place that turns a model call's outcome into what is kept of it,
// for the chat, the gateway and the service's own calls (titles, summaries) alike:
//   - one billing rule for every outcome (billed_usage below);
//   - the answer's message (chat: a new message, or the streaming placeholder overwritten) and
//     its ledger row in one transaction, or the ledger row alone (gateway, background calls);
//   - the caller's grant settled with what was used, the metrics observers told;
//   - the recorded answer announced on the event bus (message.completed).
#include "chat/accounting.hpp"
#include "chat/model_call.hpp"
#include "store/store.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>

namespace boost::asio { class thread_pool; }
namespace aas::realtime { class EventBus; }

namespace aas::chat {

// What a call belongs to.
struct CallRecord {
  std::string kind = "chat";  // chat | gateway | title | summary
  std::string user_id;
  // The caller's roles, for what is judged against their limits afterwards (budget.threshold: a
  // role may raise a budget). Empty for the service's own calls (titles, summaries).
  std::vector<std::string> roles;
  std::optional<std::string> conversation_id;
  const llm::Model* model = nullptr;
  const llm::ChatRequest* request = nullptr;  // to estimate the usage a provider did not report
  std::string request_id;
  limits::Grant* grant = nullptr;  // settled with what was used; null for the service's own calls
  std::chrono::steady_clock::time_point admitted_at{};  // for the metrics' whole-call duration

  // Chat answers only: the message to write. With a placeholder, it is overwritten; with
  // `append_message`, a new assistant message is appended to the conversation.
  std::optional<std::string> placeholder_id;
  bool append_message = false;
  int context_omitted = 0;  // noted in the message's metadata
  // The passages the answer may cite (a JSON array, chat/retriever.hpp), kept in its metadata.
  std::string citations_json;
};

struct Recorded {
  llm::Usage usage;  // what was billed
  std::optional<std::int64_t> cost_micros;
  std::string status;  // complete | interrupted | error
  std::optional<domain::Message> message;  // the stored answer (chat)
  std::vector<domain::Message> following;  // what record_now() appended after it
};

// The billing rule. A call that failed before any text used nothing we can bill, except one that
// timed out (upstream_timeout): its prompt, estimated. Otherwise the
// provider's figures when it gave them for this call, else our tokenizer's count of the prompt
// and of the text that arrived, flagged estimated.
llm::Usage billed_usage(const CallResult& result, const llm::ChatRequest& request);
// complete | interrupted | error, as the message and the ledger say it.
std::string_view recorded_status(CallEnd end) noexcept;
// The finish reason a client is told: the upstream's for a finished answer (one of a fixed set),
// else what ended it.
std::string finish_reason_of(const CallResult& result);

class Recorder {
 public:
  // `settle_blocks`: whether settling a grant, telling the observers and publishing the answer
  // may wait on I/O now (Redis; webhooks, whose deliveries are written to the store). When it
  // says no, record() does them on the caller's thread after the write; else (and when it is
  // empty) they take one more trip to the blocking pool.
  Recorder(store::Store& store, boost::asio::thread_pool& blocking, Accounting& accounting,
           realtime::EventBus& events, std::function<bool()> settle_blocks = {})
      : store_(store),
        blocking_(blocking),
        accounting_(accounting),
        events_(events),
        settle_blocks_(std::move(settle_blocks)) {}

  // The write failing is returned (the caller decides whether the client is told); the grant is
  // then left unsettled, which keeps its reservation: the safe side.
  boost::asio::awaitable<Result<Recorded>> record(const CallRecord& what, const CallResult& result);
  // The same on the calling thread, which must be one of the blocking pool: for a caller with more
  // to do in the same trip to the pool. `following` (chat answers only): messages appended after
  // the answer in the same transaction — an agent step's tool results and the next answer's
  // placeholder — returned in Recorded::following.
  Result<Recorded> record_now(const CallRecord& what, const CallResult& result,
                              const std::vector<domain::NewMessage>& following = {});

 private:
  // What is kept of a call, before it is written: the billed figures, the outcome told to the
  // observers, the ledger row.
  struct Recording {
    Recorded out;
    CallOutcome call;
    domain::UsageRecord row;
  };
  Recording recording(const CallRecord& what, const CallResult& result) const;
  // A chat answer written (with its ledger row, taken from `rec`), then `following`; blocking.
  Result<std::vector<domain::Message>> write_answer(const CallRecord& what, const CallResult& result, Recording& rec,
                                                    const std::vector<domain::NewMessage>& following);
  // After the write: the grant settled, the observers told, the answer announced.
  Recorded settle(const CallRecord& what, const CallResult& result, Recording& rec);

  store::Store& store_;
  boost::asio::thread_pool& blocking_;
  Accounting& accounting_;
  realtime::EventBus& events_;
  const std::function<bool()> settle_blocks_;
};

}  // namespace aas::chat
