#pragma once
// One model call with no conversation: the OpenAI-compatible gateway. The same models (and, as
// they arrive, the same limits and accounting) as the chat, but nothing is stored as messages.
#include "chat/chat_service.hpp"
#include "core/error.hpp"
#include "llm/models.hpp"

#include <boost/asio/awaitable.hpp>

#include <optional>
#include <string>
#include <vector>

namespace aas::chat {

struct DirectRequest {
  std::string user_id;
  std::string model;
  std::vector<llm::ChatMessage> messages;
  std::optional<double> temperature;
  std::optional<int> max_tokens;
  std::string request_id;
};

struct DirectResult {
  std::string model;  // the name the client asked for
  std::string content;
  std::string finish_reason;
  llm::Usage usage;
  std::optional<std::int64_t> cost_micros;
  std::optional<Error> interruption;  // a stream that broke (or lost its client) part way
};

class GatewayService {
 public:
  explicit GatewayService(const llm::ModelRegistry& models) : models_(models) {}

  // 400 for an unknown model or an empty message list, before anything is sent to a client.
  Result<const llm::Model*> check(const DirectRequest& req) const;
  boost::asio::awaitable<Result<DirectResult>> complete(DirectRequest req);
  boost::asio::awaitable<Result<DirectResult>> stream(DirectRequest req, TurnObserver& observer);

 private:
  const llm::ModelRegistry& models_;
};

}  // namespace aas::chat
