#pragma once
// The HTTP API: one file per resource turns JSON into service calls and results back into JSON.
// No business logic lives here.
#include "http/router.hpp"
#include "realtime/event_bus.hpp"

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

namespace aas::auth { class Authenticator; }
namespace aas::realtime::socketio { class Server; }
namespace aas::chat { class ChatService; class ConversationService; class GatewayService; class PromptService; class ResponseHistory; class UsageService; }
namespace aas::llm { class ModelRegistry; }
namespace aas::agent { class Approvals; }
namespace aas::knowledge { class KnowledgeService; }
namespace aas::keys { class KeyService; }
namespace aas::webhooks { class Webhooks; }
namespace aas::metrics { class Metrics; }
namespace aas::ops { class HealthService; }

namespace aas::api {

struct ProviderInfo {
  std::string name;     // "openai", "anthropic", "mock"
  bool configured = false;  // its key (or base URL) is set
  bool active = false;      // models are served by it in this build
};

struct ServiceInfo {
  std::string version;
  std::vector<ProviderInfo> providers;
  std::string database_driver;  // "sqlite"
  std::chrono::steady_clock::time_point started;
};

// What the handlers call: services only (never the store or the blocking pool — every service
// runs its own blocking work there).
struct Services {
  chat::ChatService& chat;
  chat::ConversationService& conversations;
  chat::GatewayService& gateway;
  chat::UsageService& usage;
  chat::PromptService& prompts;
  ops::HealthService& health;
  const llm::ModelRegistry& models;
  // Prometheus metrics: GET /metrics exposes them; chat-level figures are recorded through it.
  metrics::Metrics& metrics;
  ServiceInfo info;
  // When set, GET /metrics needs "Authorization: Bearer <metrics_token>" (METRICS_TOKEN).
  std::string metrics_token;
  // When the limits fail closed without Redis (REDIS_FAIL_MODE=closed), the replica is not ready
  // while Redis is down.
  bool redis_required = false;
  // Socket.IO (Engine.IO's long-polling routes at socketio_path); null: not mounted.
  realtime::socketio::Server* socketio = nullptr;
  std::string socketio_path = "/api/ai/socket.io";
  // The development sign-in (POST /api/ai/dev/token, api/ui.cpp): a token for a user name, signed
  // with the development secret. Set only when the service runs on it (no JWT_SECRET, public key
  // or MAIN_BACKEND_URL); empty, the route does not exist and the page offers no sign-in.
  std::function<Result<std::string>(const std::string& user)> dev_token;
  // The Responses API's stored responses (previous_response_id); null: every response is
  // stateless and previous_response_id is refused.
  chat::ResponseHistory* response_history = nullptr;
  // The agent's approvals of `confirm` tools (api/tool_calls.cpp); null: no agent tools.
  agent::Approvals* approvals = nullptr;
  // A non-streamed agent turn answers by then at the latest (a little under REQUEST_TIMEOUT_MS):
  // with 202 and the turn going on in the background when it is still running (api/chat.cpp).
  std::chrono::milliseconds agent_answer_within{110000};
  // Knowledge bases (/api/ai/knowledge); null: not mounted.
  knowledge::KnowledgeService* knowledge = nullptr;
  // Service keys (api/admin_keys.cpp); null: the admin key routes do not exist.
  keys::KeyService* keys = nullptr;
  // Webhooks (api/admin_webhooks.cpp: the delivery log); null: the route does not exist.
  webhooks::Webhooks* webhooks = nullptr;
};

http::Router make_router(Services& services);

// Each resource adds its routes (api/<resource>.cpp).
void add_health_routes(http::Router& router, Services& services);
void add_chat_routes(http::Router& router, Services& services);
void add_usage_routes(http::Router& router, Services& services);
void add_export_routes(http::Router& router, Services& services);
void add_prompt_routes(http::Router& router, Services& services);
void add_conversation_routes(http::Router& router, Services& services);
void add_openai_routes(http::Router& router, Services& services);
// Anthropic's Messages API (api/anthropic_messages.cpp).
void add_anthropic_routes(http::Router& router, Services& services);
// OpenAI's Responses API (api/responses.cpp).
void add_responses_routes(http::Router& router, Services& services);
void add_metrics_routes(http::Router& router, Services& services);
// POST /api/ai/conversations/:id/tool-calls/:callId/approve | reject (the agent's confirmations).
void add_tool_call_routes(http::Router& router, Services& services);
void add_knowledge_routes(http::Router& router, Services& services);
// Service keys, admin only (/api/ai/admin/keys).
void add_admin_key_routes(http::Router& router, Services& services);
// The webhook delivery log, admin only (/api/ai/admin/webhooks/deliveries).
void add_admin_webhook_routes(http::Router& router, Services& services);
// The chat UI: the page at /, its embedded files, and the development sign-in.
void add_ui_routes(http::Router& router, Services& services);
// Engine.IO's long-polling routes when services.socketio is set (the upgrade goes to http::Server).
void add_socketio_routes(http::Router& router, Services& services);

// The Socket.IO channel (api/socket_chat.cpp): auth, the user's room, ai:chat / ai:stop. Turns
// run on `executor`. Returns how many turns its sockets started are still running: they are not
// requests of http::Server, so a shutdown waits for them itself (once their sockets are closed,
// each ends by recording its answer as interrupted).
std::function<std::size_t()> add_socketio_handlers(realtime::socketio::Server& io, Services& services,
                                                   const auth::Authenticator& authenticator,
                                                   const boost::asio::any_io_executor& executor);

// The event bus ChatService publishes on, seen through the Socket.IO channel: a recorded answer
// (message.completed) also goes out as `ai-message` to the room user:<id> — from the replica
// that recorded it, to its own sockets and, through the Socket.IO Redis adapter, to the other
// replicas' and the monolith's. Once per answer, whichever way it was asked (REST, SSE, socket).
class AnnouncingEventBus final : public realtime::EventBus {
 public:
  AnnouncingEventBus(realtime::EventBus& inner, realtime::socketio::Server& io);
  void publish(const realtime::Event& event) override;
  void subscribe(Handler handler) override;

 private:
  realtime::EventBus& inner_;
  realtime::socketio::Server& io_;
};

}  // namespace aas::api
