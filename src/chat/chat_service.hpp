#pragma once
// One chat turn: validate, store the user's message, build the context, call the model, store the
// answer (or the failure) with its usage and cost. Knows nothing of HTTP or JSON.
#include "core/clock.hpp"
#include "core/error.hpp"
#include "llm/models.hpp"
#include "store/store.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstddef>
#include <optional>
#include <string>

namespace boost::asio { class thread_pool; }

namespace aas::chat {

struct ChatOptions {
  std::size_t max_message_chars = 32000;  // Unicode code points
  int context_messages = 50;              // most recent messages sent to the model
  std::string default_system_prompt = "You are a helpful AI assistant for the Todo app.";
};

struct TurnInput {
  std::string user_id;
  std::string message;
  std::optional<std::string> conversation_id;
  std::optional<std::string> model;
  std::optional<std::string> system_prompt;
  std::string request_id;
};

struct TurnResult {
  std::string conversation_id;
  std::string user_message_id;
  store::Message assistant;  // status complete
  llm::Usage usage;
  std::string model;  // the model name the client asked for (or the default)
};

class ChatService {
 public:
  ChatService(store::Store& store, boost::asio::thread_pool& blocking,
              const llm::ModelRegistry& models, ChatOptions options);

  boost::asio::awaitable<Result<TurnResult>> send(TurnInput input);

  const ChatOptions& options() const { return options_; }

 private:
  store::Store& store_;
  boost::asio::thread_pool& blocking_;
  const llm::ModelRegistry& models_;
  ChatOptions options_;
};

// Shared validation of free text fields (also used by the conversation service).
std::size_t count_code_points(std::string_view utf8) noexcept;
bool is_valid_utf8(std::string_view s) noexcept;
bool is_blank(std::string_view s) noexcept;
// A title from a first message: its first line, trimmed, at most 80 code points.
std::string title_from_message(std::string_view message);

}  // namespace aas::chat
