// Keeps the router and docs/openapi.yaml in step: every route is documented, every documented
// operation is routed.
#include "knowledge/service.hpp"
#include "store/sqlite/knowledge_store.hpp"
#include "realtime/event_bus.hpp"
#include "api/api.hpp"

#include "chat/chat_service.hpp"
#include "chat/conversation_service.hpp"
#include "chat/gateway_service.hpp"
#include "chat/prompt_service.hpp"
#include "chat/usage_service.hpp"
#include "ops/health.hpp"
#include "limits/local_limiter.hpp"
#include "llm/providers/mock.hpp"
#include "metrics/metrics.hpp"
#include "realtime/socketio/server.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "http/client.hpp"
#include "keys/key_service.hpp"
#include "keys/sql_key_store.hpp"
#include "webhooks/webhooks.hpp"

#include <boost/asio/thread_pool.hpp>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <set>

namespace aas::api {

namespace {

// "/api/ai/conversations/:id" -> "/api/ai/conversations/{id}"
std::string to_openapi_path(const std::string& pattern) {
  std::string out;
  std::size_t i = 0;
  while (i < pattern.size()) {
    if (pattern[i] == ':' && (i == 0 || pattern[i - 1] == '/')) {
      const std::size_t end = std::min(pattern.find('/', i), pattern.size());
      out += "{" + pattern.substr(i + 1, end - i - 1) + "}";
      i = end;
    } else {
      out += pattern[i++];
    }
  }
  return out;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

TEST(OpenApi, RouterAndSpecDescribeTheSameOperations) {
  char tmpl[] = "/tmp/aas-openapi-XXXXXX";
  const std::filesystem::path dir = mkdtemp(tmpl);
  SystemClock clock;
  auto store = store::sqlite::open_sqlite_store((dir / "ai.db").string(), clock);
  llm::ModelRegistry models;
  models.add({"mock", "mock", std::make_shared<llm::MockProvider>(), llm::Pricing{}, std::nullopt, std::nullopt});
  boost::asio::thread_pool blocking(1);
  limits::Policies policies;
  limits::LocalLimiter limiter(clock, [](std::string_view, std::string_view) -> Result<std::int64_t> { return 0; });
  chat::Accounting accounting(*store, limiter, policies, {});
  realtime::LocalEventBus events;
  chat::Recorder recorder(*store, blocking, accounting, events);
  chat::ChatService chat(*store, blocking, models, accounting, recorder, events, {});
  chat::ConversationService conversations(*store, blocking, models);
  chat::GatewayService gateway(blocking, models, accounting, recorder);
  metrics::Metrics metrics;
  chat::PromptService prompts(*store, blocking);
  chat::UsageService usage(*store, blocking, accounting);
  ops::HealthService health(*store, nullptr, blocking);
  realtime::socketio::Server socketio(blocking.get_executor(), {}, {});
  Services services{chat, conversations, gateway, usage, prompts, health, models, metrics, {}};
  services.socketio = &socketio;
  auto knowledge_store = store::sqlite::open_sqlite_knowledge_store((dir / "ai.db").string(), clock);
  knowledge::KnowledgeService knowledge(*knowledge_store, blocking, {});
  services.knowledge = &knowledge;
  // The admin key routes and the webhook delivery log are routed when their services are set.
  auto key_store = keys::open_sqlite_key_store((dir / "ai.db").string(), clock);
  keys::KeyService key_service(*key_store, *store, blocking, events);
  services.keys = &key_service;
  auto delivery_store = webhooks::open_sqlite_delivery_store((dir / "ai.db").string(), clock);
  auto endpoint_store = webhooks::open_sqlite_endpoint_store((dir / "ai.db").string(), clock);
  webhooks::Webhooks hooks(*delivery_store, endpoint_store.get(),
                           std::make_shared<http::HttpClient>(blocking.get_executor(), http::ClientOptions{}), blocking,
                           clock, {});
  services.webhooks = &hooks;
  // The development sign-in is routed only when it is set.
  services.dev_token = [](const std::string&) -> Result<std::string> { return std::string("token"); };
  const http::Router router = make_router(services);

  std::set<std::string> routed;
  for (const http::Route& r : router.routes()) routed.insert(lower(r.method) + " " + to_openapi_path(r.pattern));

  const YAML::Node spec = YAML::LoadFile(std::string(AAS_SOURCE_DIR) + "/docs/openapi.yaml");
  ASSERT_EQ(spec["openapi"].as<std::string>().substr(0, 3), "3.1");
  static const std::set<std::string> methods{"get", "post", "put", "patch", "delete", "head", "options"};
  std::set<std::string> documented;
  for (const auto& path : spec["paths"]) {
    for (const auto& op : path.second) {
      const std::string method = op.first.as<std::string>();
      if (methods.count(method)) documented.insert(method + " " + path.first.as<std::string>());
    }
  }

  EXPECT_FALSE(routed.empty());
  for (const std::string& op : routed) EXPECT_TRUE(documented.count(op)) << "routed but not in openapi.yaml: " << op;
  for (const std::string& op : documented) EXPECT_TRUE(routed.count(op)) << "in openapi.yaml but not routed: " << op;

  blocking.join();
  std::filesystem::remove_all(dir);
}

}  // namespace aas::api
