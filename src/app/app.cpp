// Wiring: the only place that knows every concrete type.
#include "app/app.hpp"

#include "api/api.hpp"
#include "auth/jwt.hpp"
#include "chat/chat_service.hpp"
#include "chat/conversation_service.hpp"
#include "chat/gateway_service.hpp"
#include "core/log.hpp"
#include "http/dispatcher.hpp"
#include "http/server.hpp"
#include "llm/models.hpp"
#include "llm/providers/mock.hpp"
#include "store/sqlite/sqlite_store.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>

#include <csignal>
#include <iostream>
#include <thread>

namespace aas::app {

namespace asio = boost::asio;

namespace {

auth::JwtOptions jwt_options(const Config& c) {
  auth::JwtOptions o;
  o.hs256_secret = c.jwt_secret;
  o.public_key_pem = c.jwt_public_key_pem;
  o.algorithms = c.jwt_algorithms;
  o.issuer = c.jwt_issuer;
  o.audience = c.jwt_audience;
  o.leeway = c.jwt_leeway;
  o.user_claims = c.jwt_user_claims;
  o.role_claims = c.jwt_role_claims;
  o.admin_role = c.admin_role;
  return o;
}

// The verifier checks the public key when it is built; a bad key is a configuration error.
auth::JwtVerifier make_verifier(const Config& c, const Clock& clock) {
  try {
    return auth::JwtVerifier(jwt_options(c), clock);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(std::string("JWT_PUBLIC_KEY: ") + e.what());
  }
}

http::ServerOptions server_options(const Config& c) {
  http::ServerOptions o;
  o.host = c.host;
  o.port = c.port;
  o.max_body_bytes = c.max_body_bytes;
  o.max_header_bytes = c.max_header_bytes;
  o.idle_timeout = c.idle_timeout;
  o.read_timeout = c.read_timeout;
  o.shutdown_grace = c.shutdown_grace;
  return o;
}

// The models this release can serve. Real providers come with the providers release; until then a
// configured key is reported (admin health) but the mock model answers, and the log says so.
std::vector<api::ProviderInfo> register_models(const Config& c, llm::ModelRegistry& models) {
  models.add({"mock", "mock", std::make_shared<llm::MockProvider>(c.mock_latency), llm::Pricing{0, 0}});
  models.set_default(c.default_model);
  const bool openai = !c.openai_api_key.empty() || !c.openai_base_url.empty();
  const bool anthropic = !c.anthropic_api_key.empty();
  if (openai || anthropic)
    spdlog::warn("provider keys are set, but this release serves only the offline mock model");
  else
    spdlog::warn("no LLM provider configured (OPENAI_API_KEY, ANTHROPIC_API_KEY, OPENAI_BASE_URL): "
                 "answering with the OFFLINE MOCK MODEL");
  return {{"openai", openai, false}, {"anthropic", anthropic, false}, {"mock", true, true}};
}

}  // namespace

int serve(Config c) {
  setup_logging(c.log_level);
  ensure_jwt_secret(c);
  if (c.jwt_secret_generated)
    spdlog::warn("JWT_SECRET not set: using a development secret kept beside the database; set "
                 "JWT_SECRET to the monolith's secret to accept its tokens");
  if (!c.redis_url.empty()) spdlog::warn("REDIS_URL is set but not used by this release");
  if (!c.main_backend_url.empty()) spdlog::warn("MAIN_BACKEND_URL is set but not used by this release");

  SystemClock clock;
  std::unique_ptr<store::Store> store = store::sqlite::open_sqlite_store(c.sqlite_path, clock);
  auto version = store->migrate();
  if (!version) {
    spdlog::critical("migrations failed: {} {}", version.error().message, version.error().detail);
    return 1;
  }

  // Answers that were streaming when the process last stopped can no longer finish.
  if (auto leftovers = store->interrupt_streaming_messages(); leftovers && *leftovers > 0)
    spdlog::warn("marked {} answer(s) left streaming by the previous run as interrupted", *leftovers);

  llm::ModelRegistry models;
  api::ServiceInfo info{AAS_VERSION, register_models(c, models), "sqlite",
                        std::chrono::steady_clock::now()};

  const unsigned threads = c.threads ? c.threads : std::max(1u, std::thread::hardware_concurrency());
  // SQLite work waits on locks and disk; a few more threads than cores keeps the I/O threads free.
  asio::thread_pool blocking(std::max(4u, threads * 2));

  chat::ChatOptions chat_options;
  chat_options.max_message_chars = c.max_message_chars;
  chat_options.context_messages = c.context_messages;
  chat_options.default_system_prompt = c.default_system_prompt;
  chat::ChatService chat(*store, blocking, models, chat_options);
  chat::ConversationService conversations(*store, models);
  chat::GatewayService gateway(models);
  api::Services services{chat, conversations, gateway, *store, models, blocking, info};

  auth::JwtVerifier verifier = make_verifier(c, clock);
  http::Dispatcher dispatcher(api::make_router(services), verifier,
                              http::DispatcherOptions{c.cors_origins, c.request_timeout});

  asio::io_context ioc(static_cast<int>(threads));
  http::Server server(ioc, server_options(c), dispatcher);
  server.start();
  spdlog::info("ai-agent-service {} listening on http://{}:{} (schema v{}, {} threads)", AAS_VERSION,
               c.host, server.port(), *version, threads);

  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: draining (grace {} ms)", sig, c.shutdown_grace.count());
    server.shutdown([&](bool drained) {
      if (!drained) spdlog::warn("grace period over with requests still in flight; stopping");
      ioc.stop();
    });
  });

  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads; ++i) pool.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : pool) t.join();
  blocking.join();
  spdlog::info("stopped");
  flush_logs();
  return 0;
}

int migrate(const Config& c) {
  setup_logging(c.log_level);
  SystemClock clock;
  auto store = store::sqlite::open_sqlite_store(c.sqlite_path, clock);
  auto version = store->migrate();
  if (!version) {
    std::cerr << "migration failed: " << version.error().message << " " << version.error().detail << "\n";
    return 1;
  }
  std::cout << "schema version " << *version << "\n";
  return 0;
}

}  // namespace aas::app
