#pragma once
// The HTTP API: one file per resource turns JSON into service calls and results back into JSON.
// No business logic lives here.
#include "http/router.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace aas::chat { class ChatService; class ConversationService; class GatewayService; class PromptService; class UsageService; }
namespace aas::llm { class ModelRegistry; }
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
void add_metrics_routes(http::Router& router, Services& services);

}  // namespace aas::api
