#pragma once
// The seam between a chat turn and the agent (src/agent/): when one is set, the chat offers its
// tools to the model and lets it run the turn's model calls and tools; the chat still plans,
// admits and persists the turn before, and records its last call as the answer after.
#include "llm/provider.hpp"

#include <boost/asio/awaitable.hpp>

#include <vector>

namespace aas::chat {

struct TurnInput;
struct PreparedTurn;
struct CallResult;
struct CallControl;
class TurnObserver;

class TurnAgent {
 public:
  virtual ~TurnAgent() = default;
  // The tools this user may have the model call (in the request before it is admitted, so they
  // are counted in the prompt). Empty: a plain turn. `has_knowledge`: the turn answers from
  // knowledge bases (so knowledge_search is offered).
  virtual std::vector<llm::ToolDefinition> tools_for(const TurnInput& in, bool has_knowledge) const = 0;
  // Runs the model (and the tools it asks for) until an answer: intermediate steps are recorded
  // by the agent (each its own message and ledger row, the turn's grant replaced for each new
  // admission, turn.placeholder_id moved to the next answer's placeholder); the last call is
  // returned for the chat to record over turn.placeholder_id. Never fails: as call_model().
  virtual boost::asio::awaitable<CallResult> run(PreparedTurn& turn, TurnObserver* observer,
                                                 const CallControl& control) = 0;
};

}  // namespace aas::chat
