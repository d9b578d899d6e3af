#pragma once
// Human approval of `confirm` tools. The turn that wants to run such a call waits here; the
// user's decision (POST .../tool-calls/:callId/approve | reject) may reach any replica, so it goes
// out on the event bus ("tool.decision") and wakes the waiting turn wherever it runs.
#include "agent/toolbox.hpp"
#include "core/error.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace boost::asio { class thread_pool; }
namespace aas::realtime { class EventBus; }
namespace aas::store { class Store; }

namespace aas::agent {

enum class Decision { approved, rejected, expired };

class Approvals {
 public:
  // `confirm_timeout`: how long a confirmation waits (AgentSettings), for pending()'s expiry.
  Approvals(realtime::EventBus& bus, store::Store& store, boost::asio::thread_pool& blocking, const Toolbox& tools,
            std::chrono::milliseconds confirm_timeout);
  ~Approvals();

  // The call, registered as waiting from now on (before the client is told of it, so no answer
  // can be missed), on the turn's strand `ex`; then wait() for the decision, at most `timeout`
  // (expired then).
  struct Waiter;
  std::shared_ptr<Waiter> expect(const boost::asio::any_io_executor& ex, const std::string& user_id,
                                 const std::string& call_id);
  boost::asio::awaitable<Decision> wait(std::shared_ptr<Waiter> waiter, std::chrono::milliseconds timeout);

  // The user's decision, from any replica: checks that the conversation is the user's and that
  // the call is one of its tool calls, needing approval, not yet answered (not_found / conflict
  // otherwise), then announces it on the bus.
  boost::asio::awaitable<Result<void>> decide(std::string user_id, std::string conversation_id,
                                              std::string call_id, bool approve);

  // The conversation's calls waiting for the user's decision now (GET .../tool-calls/pending), so
  // a client that reloads during a wait can still answer it: the calls of `confirm` tools in the
  // conversation's latest step that no `tool` message answers yet and whose wait has not expired.
  // Read from the store, so every replica answers alike whichever one runs the turn. The step is
  // stored as its wait starts (its placeholder's time plus the model call's latency), so a wait
  // expires confirm_timeout after that. not_found for another user's conversation.
  struct PendingCall {
    std::string message_id;  // the step that made the call
    std::string call_id;
    std::string name;
    std::string arguments;  // as the model wrote them (JSON text)
    std::chrono::system_clock::time_point expires_at;
  };
  boost::asio::awaitable<Result<std::vector<PendingCall>>> pending(std::string user_id, std::string conversation_id);

 private:
  struct State;
  realtime::EventBus& bus_;
  store::Store& store_;
  boost::asio::thread_pool& blocking_;
  const Toolbox& tools_;
  std::chrono::milliseconds confirm_timeout_;
  std::shared_ptr<State> state_;  // shared with the bus's handler, which may outlive this
};

}  // namespace aas::agent
