#pragma once
// The Responses API's memory (`previous_response_id`), kept in the existing store rather than a
// store of its own: each stored response is an archived conversation (metadata
// {"source": "responses-api"}) holding the whole exchange up to it — the earlier responses'
// messages, this request's input and its output — so continuing from any response, not only the
// latest, reads one conversation and branches without touching the others. The response id is
// "resp_" + that conversation's id: another user's id is the store's 404, as for conversations.
// Instructions (system messages) are not kept: the API does not carry them over.
#include "core/error.hpp"
#include "llm/provider.hpp"

#include <boost/asio/awaitable.hpp>

#include <optional>
#include <string>
#include <vector>

namespace boost::asio { class thread_pool; }
namespace aas::store { class Store; }

namespace aas::chat {

class ResponseHistory {
 public:
  ResponseHistory(boost::asio::thread_pool& blocking, store::Store& store) : blocking_(blocking), store_(store) {}

  // The messages of a stored response, oldest first (its input and output included): not_found
  // for an id that is not one of the user's stored responses.
  boost::asio::awaitable<Result<std::vector<llm::ChatMessage>>> load(std::string user_id, std::string response_id);

  // Opens the response's record before the call: a new archived conversation holding `history`
  // and this request's input (system messages left out). Returns the response id.
  boost::asio::awaitable<Result<std::string>> open(std::string user_id, std::string model,
                                                   std::vector<llm::ChatMessage> messages);
  // The answer (text and tool calls; `complete` false for an interrupted one) appended to it.
  boost::asio::awaitable<Result<void>> close(std::string user_id, std::string response_id, std::string model,
                                             std::string text, std::vector<llm::ToolCall> tool_calls, bool complete);
  // A call that failed before any answer: its record is removed.
  boost::asio::awaitable<void> discard(std::string user_id, std::string response_id);

  static constexpr std::string_view id_prefix = "resp_";

 private:
  boost::asio::thread_pool& blocking_;
  store::Store& store_;
};

}  // namespace aas::chat
