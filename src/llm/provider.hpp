#pragma once
// The model port. Providers turn our ChatRequest into a vendor's wire format and the vendor's
// answer back into our types at their own edge; nothing above this header sees vendor JSON.
#include "core/error.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace aas::llm {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

struct ChatRequest {
  std::string model;  // the upstream model name of the deployment
  std::vector<ChatMessage> messages;
  std::optional<double> temperature;
  std::optional<int> max_tokens;
  std::string request_id;  // forwarded for tracing, never used for behaviour
};

struct Usage {
  std::int64_t input_tokens = 0;
  std::int64_t output_tokens = 0;
  std::int64_t cached_input_tokens = 0;
  std::int64_t cache_write_tokens = 0;
  std::int64_t reasoning_tokens = 0;
  // True when the provider reported no usage and these are our estimate.
  bool estimated = false;
};

struct Completion {
  std::string content;
  std::string model;           // as reported by the provider
  std::string finish_reason;   // "stop", "length", ...
  Usage usage;
};

// Receives the answer as it is generated. Returning false asks the provider to stop (the client
// went away); the provider then returns what it has with finish_reason "cancelled".
using ChunkSink = std::function<bool(std::string_view text)>;

class LlmProvider {
 public:
  virtual ~LlmProvider() = default;
  virtual std::string_view name() const = 0;
  virtual boost::asio::awaitable<Result<Completion>> complete(const ChatRequest& req) = 0;
  virtual boost::asio::awaitable<Result<Completion>> stream(const ChatRequest& req,
                                                            const ChunkSink& sink) = 0;
};

}  // namespace aas::llm
