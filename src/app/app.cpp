// Wiring: the only place that knows every concrete type.
#include "app/app.hpp"

#include "agent/agent_loop.hpp"
#include "agent/builtin_tools.hpp"
#include "agent/http_tool.hpp"
#include "agent/knowledge_tool.hpp"
#include "agent/mcp.hpp"
#include "agent/mcp_refresh.hpp"
#include "api/api.hpp"
#include "auth/backend.hpp"
#include "auth/token_cache.hpp"
#include "auth/jwt.hpp"
#include "chat/chat_service.hpp"
#include "chat/conversation_service.hpp"
#include "chat/gateway_service.hpp"
#include "chat/prompt_service.hpp"
#include "chat/response_history.hpp"
#include "chat/usage_service.hpp"
#include "ops/health.hpp"
#include "chat/redis_response_cache.hpp"
#include "chat/response_cache.hpp"
#include "limits/local_limiter.hpp"
#include "limits/redis_limiter.hpp"
#include "redis/client.hpp"
#include "core/log.hpp"
#include "core/memory_trim.hpp"
#include "http/dispatcher.hpp"
#include "http/server.hpp"
#include "llm/models.hpp"
#include "http/client.hpp"
#include "keys/key_authenticator.hpp"
#include "keys/key_service.hpp"
#include "keys/sql_key_store.hpp"
#include "llm/providers/anthropic.hpp"
#include "llm/providers/mock.hpp"
#include "llm/providers/openai.hpp"
#include "llm/router.hpp"
#include "metrics/metrics.hpp"
#include "realtime/event_bus.hpp"
#include "realtime/redis_event_bus.hpp"
#include "realtime/socketio/mount.hpp"
#include "realtime/socketio/redis_adapter.hpp"
#include "realtime/socketio/server.hpp"
#include "app/knowledge_embedder.hpp"
#include "app/knowledge_retriever.hpp"
#include "knowledge/service.hpp"
#include "store/postgres/knowledge_store.hpp"
#include "store/postgres/postgres_store.hpp"
#include "store/sqlite/knowledge_store.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "webhooks/budget_watch.hpp"
#include "webhooks/webhooks.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <csignal>
#include <functional>
#include <map>
#include <iostream>
#include <thread>
#include <unistd.h>
#include <set>
#include <fstream>
#include <filesystem>

namespace aas::app {

namespace asio = boost::asio;

namespace {

// The adapter DATABASE_URL's scheme names (load_config checked it). Throws on a database that
// cannot be opened or reached: a start-up error.
std::unique_ptr<store::Store> open_store(const Config& c, const Clock& clock) {
  if (c.database_driver == "postgres") {
    spdlog::info("database: PostgreSQL at {}", store::postgres::redact_url(c.database_url));
    return store::postgres::open_postgres_store(c.database_url, clock);
  }
  spdlog::info("database: SQLite file {}", c.sqlite_path);
  return store::sqlite::open_sqlite_store(c.sqlite_path, clock);
}

// The knowledge store on the same database as the main store.
std::unique_ptr<knowledge::KnowledgeStore> open_knowledge_store(const Config& c, const Clock& clock) {
  if (c.database_driver == "postgres") return store::postgres::open_postgres_knowledge_store(c.database_url, clock);
  return store::sqlite::open_sqlite_knowledge_store(c.sqlite_path, clock);
}

knowledge::KnowledgeOptions knowledge_options(const Config& c) {
  knowledge::KnowledgeOptions o;
  o.max_upload_bytes = c.max_upload_bytes;
  o.quota = {c.kb_max_documents, c.kb_max_bytes};
  o.workers = c.kb_ingest_workers;
  o.lease = c.kb_job_lease;
  o.chunking.max_tokens = c.chunk_tokens;
  o.chunking.overlap_tokens = c.chunk_overlap;
  o.parsing.max_input_bytes = c.max_upload_bytes;
  if (!c.kb_embedding_model.empty()) o.default_embedding_model = c.kb_embedding_model;
  o.embed_batch = c.kb_embed_batch;
  o.hybrid_vector_weight = c.kb_hybrid_vector_weight;
  o.hybrid_fusion = c.kb_hybrid_fusion_rrf ? knowledge::Fusion::rrf : knowledge::Fusion::convex;
  return o;
}

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
  o.max_connections = c.max_connections;
  o.max_connections_per_client = c.max_connections_per_ip;
  o.shutdown_grace = c.shutdown_grace;
  o.websocket.max_message_bytes = c.socketio_max_payload;
  // Document uploads (POST /api/ai/knowledge/:id/documents) carry up to 4 files of
  // MAX_UPLOAD_BYTES; a larger file in one fails on its own (api/knowledge.cpp).
  o.body_limit_for = [limit = std::max(c.max_body_bytes, c.max_upload_bytes * 4 + 64 * 1024)](
                         std::string_view method, std::string_view target) -> std::optional<std::size_t> {
    if (method != "POST" || !target.starts_with("/api/ai/knowledge/")) return std::nullopt;
    const std::string_view path = target.substr(0, target.find('?'));
    if (!path.ends_with("/documents")) return std::nullopt;
    return limit;
  };
  o.websocket.idle_timeout = c.socketio_ping_interval + c.socketio_ping_timeout;
  return o;
}

realtime::engineio::Options engine_options(const Config& c) {
  realtime::engineio::Options o;
  o.ping_interval = c.socketio_ping_interval;
  o.ping_timeout = c.socketio_ping_timeout;
  o.max_payload = c.socketio_max_payload;
  return o;
}

realtime::socketio::Options socketio_options(const Config& c) {
  realtime::socketio::Options o;
  o.connect_timeout = c.socketio_connect_timeout;
  o.events_per_second = c.socketio_events_per_second;
  o.event_burst = c.socketio_event_burst;
  return o;
}

// A model's price: its own `price:`, else the table's entry for its first deployment's upstream
// model, else for its name. None: its cost is null (never 0), and the log says so once.
const PriceEntry* price_of(const Config& c, const ModelSpec& m) {
  if (m.price) return &*m.price;
  if (!m.deployments.empty())
    if (const PriceEntry* e = c.prices.find(m.deployments.front().model)) return e;
  if (const PriceEntry* e = c.prices.find(m.name)) return e;
  spdlog::warn("model {} has no price (not in the price table, no price: in AI_CONFIG): its cost "
               "is reported as null", m.name);
  return nullptr;
}

std::shared_ptr<llm::LlmProvider> make_provider(const Config& c, const DeploymentSpec& d,
                                                const std::shared_ptr<http::HttpClient>& client) {
  if (d.provider == "mock") return std::make_shared<llm::MockProvider>(c.mock_latency);
  const auto fill = [&](llm::ProviderOptions& o, std::string_view default_base_url) {
    o.base_url = d.base_url.empty() ? std::string(default_base_url) : d.base_url;
    o.api_keys = d.api_keys;
    for (const auto& [name, value] : d.headers) o.extra_headers.push_back({name, value});
  };
  if (d.provider == "anthropic") {
    llm::AnthropicProvider::Options o;
    fill(o, llm::AnthropicProvider::default_base_url);
    return std::make_shared<llm::AnthropicProvider>(client, std::move(o));
  }
  llm::OpenAiProvider::Options o;
  fill(o, llm::OpenAiProvider::default_base_url);
  return std::make_shared<llm::OpenAiProvider>(client, std::move(o));
}

// Every configured model behind the resilience router, plus the offline mock model, which is
// the default when no provider is configured (and says so loudly).
std::vector<api::ProviderInfo> register_models(const Config& c, llm::ModelRegistry& models,
                                               const std::shared_ptr<http::HttpClient>& client,
                                               const Clock& clock, metrics::Metrics& metrics) {
  llm::RetryPolicy retry;
  retry.max_attempts = c.retry_max_attempts;
  retry.base_delay = c.retry_base_delay;
  retry.max_delay = c.retry_max_delay;
  retry.deadline = c.retry_deadline;
  llm::BreakerPolicy breaker;
  breaker.consecutive_failures = c.breaker_failures;
  breaker.open_for = c.breaker_open;
  llm::RouterHooks hooks;
  hooks.on_retry = [&metrics](const std::string& deployment, const Error& e, int attempt) {
    spdlog::warn("upstream {} attempt {} failed, retrying: {}", deployment, attempt,
                 e.detail.empty() ? e.message : e.detail);
    metrics.retry(deployment);
  };
  hooks.on_fallback = [&metrics](const std::string& from, const std::string& to) {
    spdlog::warn("model {} exhausted, falling back to {}", from, to);
    metrics.fallback(from, to);
  };
  hooks.on_breaker = [&metrics](const std::string& deployment, llm::BreakerState state) {
    static constexpr const char* names[] = {"closed", "open", "half-open"};
    spdlog::warn("circuit breaker of {} is now {}", deployment, names[static_cast<int>(state)]);
    metrics.breaker_state(deployment, static_cast<int>(state));
  };
  hooks.on_upstream_error = [&metrics](const std::string& deployment, const Error& e) {
    metrics.upstream_error(deployment, code_name(e.code));
  };
  hooks.on_load = [&metrics](const std::string& deployment, int in_flight, int queued) {
    metrics.deployment_load(deployment, in_flight, queued);
  };

  std::map<std::string, std::shared_ptr<llm::RoutedModel>> routed;
  bool openai = false, anthropic = false;
  for (const ModelSpec& m : c.models) {
    std::vector<llm::Deployment> deployments;
    int i = 0;
    for (const DeploymentSpec& d : m.deployments) {
      openai = openai || d.provider == "openai";
      anthropic = anthropic || d.provider == "anthropic";
      // Unique across models (each model has its own breakers): "<model>/<provider>/<upstream>#<n>".
      deployments.push_back({m.name + "/" + d.provider + "/" + d.model + "#" + std::to_string(++i), d.model,
                             make_provider(c, d, client), d.weight, d.max_concurrency, d.max_queue,
                             d.reserved_slots});
      metrics.breaker_state(deployments.back().name, 0);  // every breaker starts closed
      metrics.deployment_load(deployments.back().name, 0, 0);
    }
    auto model = std::make_shared<llm::RoutedModel>(m.name, std::move(deployments), retry, breaker, clock, hooks);
    routed[m.name] = model;
    llm::Model entry{m.name, m.name, model, std::nullopt, std::nullopt, std::nullopt};
    entry.embedding = m.name == c.embedding_model ||
                      std::any_of(m.deployments.begin(), m.deployments.end(),
                                  [](const DeploymentSpec& d) { return d.model.find("embed") != std::string::npos; });
    if (const PriceEntry* price = price_of(c, m)) {
      entry.pricing = to_pricing(*price);
      entry.context_window = price->context_window;
      entry.max_output_tokens = price->max_output;
    }
    models.add(std::move(entry));
  }
  for (const ModelSpec& m : c.models) {
    std::vector<std::shared_ptr<llm::RoutedModel>> chain;
    for (const std::string& f : m.fallbacks) chain.push_back(routed.at(f));
    routed.at(m.name)->set_fallbacks(std::move(chain));
  }

  models.add({"mock", "mock", std::make_shared<llm::MockProvider>(c.mock_latency), llm::Pricing{},
              128'000, std::nullopt});
  if (!c.default_model.empty()) models.set_default(c.default_model);
  if (c.models.empty())
    spdlog::warn("no LLM provider configured (OPENAI_API_KEY, ANTHROPIC_API_KEY, OPENAI_BASE_URL, ANTHROPIC_BASE_URL or "
                 "models in AI_CONFIG): answering with the OFFLINE MOCK MODEL");
  return {{"openai", openai, openai}, {"anthropic", anthropic, anthropic}, {"mock", true, true}};
}

// The Redis client of production mode (REDIS_URL), or null. Not reaching Redis at start is no
// reason to stop: the fail mode decides what happens until it answers.
std::unique_ptr<redis::Client> open_redis(const Config& c, metrics::Metrics& metrics) {
  if (c.redis_url.empty()) return nullptr;
  redis::Options o = redis::parse_url(c.redis_url).value();  // validated with the configuration
  o.connect_timeout = c.redis_timeout;
  o.command_timeout = c.redis_timeout;
  auto client = std::make_unique<redis::Client>(o);
  client->on_availability([&metrics](bool up) { metrics.redis_up(up); });
  if (auto ping = client->ping())
    spdlog::info("redis at {}:{} (db {}): limits and the response cache are shared by all replicas", o.host,
                 o.port, o.database);
  else
    spdlog::error("redis at {}:{} does not answer ({}); until it does, limits fail {}", o.host, o.port,
                  ping.error().detail, c.redis_fail_open ? "open" : "closed");
  return client;
}

webhooks::Options webhook_options(const Config& c) {
  webhooks::Options o;
  o.urls = c.webhook_urls;
  o.secret = c.webhook_secret;
  o.max_attempts = c.webhook_max_attempts;
  o.timeout = c.webhook_timeout;
  o.retry_base = c.webhook_retry_base;
  o.retry_max = c.webhook_retry_max;
  return o;
}

// Every recorded model call, into the metrics (model names come from the registry: bounded).
void record_call(metrics::Metrics& m, const chat::CallOutcome& call) {
  const std::string_view model = call.model ? std::string_view(call.model->name) : "unknown";
  m.chat_request(model, call.status, call.total_seconds);
  if (call.cached) m.cache_hit(model);
  m.tokens(model, "input", call.usage.input_tokens);
  m.tokens(model, "output", call.usage.output_tokens);
  m.tokens(model, "cached_input", call.usage.cached_input_tokens);
  m.tokens(model, "cache_write", call.usage.cache_write_tokens);
  m.tokens(model, "reasoning", call.usage.reasoning_tokens);
  if (call.cost_micros) m.cost_micros(model, *call.cost_micros);
  if (call.ttft_ms) m.time_to_first_token(model, static_cast<double>(*call.ttft_ms) / 1000.0);
  m.gateway_overhead(model, call.overhead_seconds);
}

// Whether any configured upstream is (or may be) reached over https: then the TLS context is
// built in the background after start rather than on an I/O thread by the first request.
bool may_use_tls(const Config& c) {
  const auto https = [](std::string_view url) { return url.starts_with("https:"); };
  for (const ModelSpec& m : c.models)
    for (const DeploymentSpec& d : m.deployments)
      if (d.provider != "mock" && (d.base_url.empty() || https(d.base_url))) return true;
  for (const agent::HttpToolSpec& t : c.agent.tools)
    if (https(t.path)) return true;
  return https(c.main_backend_url) || std::any_of(c.webhook_urls.begin(), c.webhook_urls.end(), https);
}

http::ClientOptions upstream_client_options(const Config& c) {
  http::ClientOptions o;
  o.connect_timeout = c.upstream_connect_timeout;
  o.first_byte_timeout = c.upstream_first_byte_timeout;
  o.idle_timeout = c.upstream_idle_timeout;
  o.extra_ca_file = c.upstream_ca_file;
  o.https_proxy = c.https_proxy;
  o.no_proxy = c.no_proxy;
  return o;
}

}  // namespace

int serve(Config c) {
  setup_logging(c.log_level);
  ensure_jwt_secret(c);
  if (c.jwt_secret_generated)
    spdlog::warn("JWT_SECRET not set: using the development secret at {} (`token` run from the same "
                 "directory signs with it); set JWT_SECRET to the monolith's secret to accept its tokens",
                 c.jwt_secret_file);

  SystemClock clock;
  std::unique_ptr<store::Store> store = open_store(c, clock);
  auto version = store->migrate();
  if (!version) {
    spdlog::critical("migrations failed: {} {}", version.error().message, version.error().detail);
    return 1;
  }

  // Answers that were streaming when the process last stopped can no longer finish.
  if (auto leftovers = store->interrupt_streaming_messages(); leftovers && *leftovers > 0)
    spdlog::warn("marked {} answer(s) left streaming by the previous run as interrupted", *leftovers);

  const unsigned threads = c.threads ? c.threads : std::max(1u, std::thread::hardware_concurrency());
  asio::io_context ioc(static_cast<int>(threads));
  // Socket.IO: its polling requests go through the router, its upgrades to the server. Made
  // before the event bus, so it outlives the bus's subscriber thread, which broadcasts through it.
  realtime::socketio::Server socketio(ioc.get_executor(), engine_options(c), socketio_options(c));

  http::ClientOptions client_options = upstream_client_options(c);
  client_options.sweep_idle_connections = true;  // serve() stops its io_context itself
  if (!c.https_proxy.empty())
    spdlog::info("https upstreams go through the proxy of HTTPS_PROXY ({} host(s) in NO_PROXY go direct)",
                 c.no_proxy.size());
  auto client = std::make_shared<http::HttpClient>(ioc.get_executor(), client_options);

  metrics::Metrics metrics;
  llm::ModelRegistry models;
  api::ServiceInfo info{AAS_VERSION, register_models(c, models, client, clock, metrics),
                        c.database_driver,
                        std::chrono::steady_clock::now()};

  // Store work (SQLite, libpq) waits on locks, disk and the network; more threads than cores keeps
  // the I/O threads free. Writes wait for their group commit (store/detail/group_commit.hpp): a
  // batch of waited-for writes holds only the writes of threads waiting, so more threads make
  // larger batches (a chat turn's and a gateway call's writes on SQLite are enqueued instead and
  // hold no thread: session 11) — and every idle one makes each hand-off dearer (a post wakes a sleeping thread: futex calls and
  // context switches, which this VM charges heavily). PostgreSQL, whose batches wait on the
  // server's round trip and WAL flush, gets 16 per I/O thread (32 gave 1.4x the turns/s of 16);
  // SQLite, whose commit is a WAL append, 4 (16 in all cost the gateway 0.75x the landed binary's
  // throughput at 2.3x its futex calls per call, and chat p99 2.2x; 8 in all: docs/benchmarks.md,
  // "Session 9").
  const unsigned per_thread = c.database_driver == "postgres" ? 16u : 4u;
  const unsigned blocking_threads = std::max(2 * per_thread, threads * per_thread);
  asio::thread_pool blocking(blocking_threads);

  chat::ChatOptions chat_options;
  chat_options.max_message_chars = c.max_message_chars;
  chat_options.max_image_bytes = c.max_image_bytes;
  chat_options.context_messages = c.context_messages;
  chat_options.default_context_window = c.default_context_window;
  chat_options.default_system_prompt = c.default_system_prompt;
  chat_options.background_model = c.summary_model;
  chat_options.summarize_after_messages = c.summarize_after_messages;
  chat_options.checkpoint_every = c.stream_checkpoint;
  chat_options.checkpoint_every_tokens = c.stream_checkpoint_tokens;
  // The offline mock model cannot write a title worth having.
  chat_options.generate_titles = c.generate_titles && !c.models.empty();
  // Production mode: limits and the response cache shared with the other replicas through Redis.
  std::unique_ptr<redis::Client> redis = open_redis(c, metrics);
  // Limits: budgets start from what the ledger says was spent in the period.
  limits::Policies policies(c.limit_defaults, c.limit_roles, c.limit_users);
  limits::SpentLoader spent = [&store](std::string_view user, std::string_view from_day) {
    return store->spent_micros(user, from_day);
  };
  auto on_refusal = [&metrics](limits::Limit refused) { metrics.limit_rejection(limits::label(refused)); };
  std::unique_ptr<limits::Limiter> limiter;
  if (redis) {
    limits::RedisLimiterOptions o;
    o.prefix = c.redis_key_prefix;
    o.fail_open = c.redis_fail_open;
    // Longer than any request lasts: a grant still held after that is taken for lost (its
    // replica stopped) and charged in full.
    o.lease = std::max<std::chrono::milliseconds>(std::chrono::hours(1), c.request_timeout * 2);
    limiter = std::make_unique<limits::RedisLimiter>(*redis, clock, spent, o, on_refusal);
  } else {
    limiter = std::make_unique<limits::LocalLimiter>(clock, spent, on_refusal);
  }
  chat::AccountingOptions accounting_options;
  accounting_options.max_output_tokens = c.max_output_tokens;
  accounting_options.limits.max_answer_bytes = c.max_answer_bytes;
  // A non-streamed call ends a tenth (at most 5 s) before the request timeout would abandon its
  // handler: time to record the failure and answer 504 rather than lose the turn.
  accounting_options.limits.timeout =
      c.request_timeout - std::min<std::chrono::milliseconds>(std::chrono::seconds(5), c.request_timeout / 10);
  accounting_options.limits.stream_max_duration = c.stream_max_duration;
  accounting_options.limits.stream_idle_timeout = c.stream_idle_timeout;
  // budget.threshold webhooks: set once the webhooks exist (below); calls are recorded only later.
  std::function<void(const chat::CallOutcome&)> watch_budget;
  chat::Accounting accounting(*store, *limiter, policies, accounting_options,
                              [&metrics, &watch_budget](const chat::CallOutcome& call) {
                                record_call(metrics, call);
                                if (watch_budget) watch_budget(call);
                              });
  // Events between replicas (stop requests) and to the monolith (recorded answers): Redis
  // pub/sub on <prefix>events, or in-process.
  std::unique_ptr<realtime::EventBus> bus;
  if (redis) bus = std::make_unique<realtime::RedisEventBus>(*redis, c.redis_key_prefix + "events");
  else bus = std::make_unique<realtime::LocalEventBus>();
  // Admission keeps the users' limit overrides in memory: a change on any replica is forgotten by all.
  accounting.set_override_announcer([&bus](std::string_view user) {
    realtime::Event e;
    e.type = std::string(limits::kOverrideChangedEvent);
    e.user_id = std::string(user);
    bus->publish(e);
  });
  bus->subscribe([&accounting](const realtime::Event& e) {
    if (e.type == limits::kOverrideChangedEvent) accounting.forget_override(e.user_id);
  });
  // Socket.IO rooms shared with the other replicas and the monolith's Socket.IO servers through
  // the Redis adapter's channels (<SOCKETIO_REDIS_KEY>#/#…); without Redis, rooms are in-process.
  std::unique_ptr<realtime::socketio::RedisAdapter> socketio_adapter;
  if (redis) {
    socketio_adapter = std::make_unique<realtime::socketio::RedisAdapter>(socketio, *redis, c.socketio_redis_key,
                                                                          blocking.get_executor());
    socketio.set_relay(socketio_adapter.get());
  }
  // Recorded answers also go to the user's sockets (ai-message), and to the webhooks' endpoints
  // (queued in the store by the replica that recorded them).
  api::AnnouncingEventBus announcing(*bus, socketio);
  std::unique_ptr<webhooks::DeliveryStore> delivery_store =
      c.database_driver == "postgres" ? webhooks::open_postgres_delivery_store(c.database_url, clock)
                                      : webhooks::open_sqlite_delivery_store(c.sqlite_path, clock);
  std::unique_ptr<webhooks::EndpointStore> endpoint_store =
      c.database_driver == "postgres" ? webhooks::open_postgres_endpoint_store(c.database_url, clock)
                                      : webhooks::open_sqlite_endpoint_store(c.sqlite_path, clock);
  webhooks::Webhooks hooks(*delivery_store, endpoint_store.get(), client, blocking, clock, webhook_options(c));
  hooks.refresh_endpoints();
  webhooks::WebhookEventTap events(announcing, hooks);
  // The caller's policy with its roles (a role may raise a budget): the thresholds are those of
  // the budget the caller actually has.
  webhooks::BudgetWatch budget_watch(
      hooks,
      [&accounting](const std::string& user, const std::vector<std::string>& roles) -> Result<limits::Status> {
        auto policy = accounting.policy_for(user, roles);
        if (!policy) return policy.error();
        return accounting.limiter().status(user, *policy);
      },
      clock);
  // Always wired: admins may add endpoints at any time; each hook does nothing while no endpoint
  // would receive its event.
  watch_budget = [&budget_watch](const chat::CallOutcome& call) {
    // The service's own calls (titles, summaries) do not know the user's roles: the user's next
    // call judges the budget they have.
    if (call.kind == "title" || call.kind == "summary") return;
    budget_watch.recorded(call.user_id, call.roles, call.cost_micros.value_or(0));
  };
  // Every model call is recorded by one Recorder: the answer, its ledger row, the grant settled,
  // the answer announced — on the I/O thread after the write while none of that can wait on I/O.
  chat::Recorder recorder(*store, blocking, accounting, events,
                          [&hooks, shared = redis != nullptr] { return shared || hooks.enabled(); });
  chat::ChatService chat(*store, blocking, models, accounting, recorder, events, chat_options);
  // The agent (issue 15): the configured HTTP tools (calling MAIN_BACKEND_URL with the user's own
  // token) and the built-ins, offered to the model in every chat turn; the loop runs them.
  agent::Toolbox toolbox;
  for (const agent::HttpToolSpec& spec : c.agent.tools) {
    if (auto added = toolbox.add(std::make_unique<agent::HttpTool>(spec, c.main_backend_url, client)); !added)
      throw ConfigError(added.error().message);
  }
  if (c.agent.builtin_current_time) (void)toolbox.add(std::make_unique<agent::CurrentTimeTool>(clock));
  // MCP servers' allowed tools, listed now (a server down is skipped with a warning), then again
  // every MCP_REFRESH_MS while the service runs.
  agent::McpRefresher mcp_refresher(toolbox, c.agent.mcp_refresh);
  mcp_refresher.install(agent::load_mcp_tools(c.agent.mcp, client_options, client, c.agent.mcp_start_timeout));
  const bool agent_on = !c.agent.tools.empty() || !c.agent.mcp.empty();
  agent::Approvals approvals(events, *store, blocking, toolbox, c.agent.confirm_timeout);
  agent::AgentLoop agent_loop(*store, blocking, accounting, recorder, toolbox, approvals, c.agent);
  if (agent_on) {
    chat.set_agent(&agent_loop);
    spdlog::info("agent: {} HTTP tool(s) and {} MCP server(s) from the configuration, at most {} model calls a turn",
                 c.agent.tools.size(), c.agent.mcp.size(), c.agent.max_steps);
  }
  chat::ConversationLimits conversation_limits;
  conversation_limits.max_image_bytes = c.max_image_bytes;
  chat::ConversationService conversations(*store, blocking, models, conversation_limits);
  // Repeated deterministic gateway requests are answered from the cache: Redis's, shared by the
  // replicas, or an in-process LRU.
  std::unique_ptr<chat::ResponseCache> response_cache;
  if (c.response_cache_ttl.count() > 0 && redis)
    response_cache = std::make_unique<chat::RedisResponseCache>(*redis, c.redis_key_prefix, c.response_cache_ttl);
  else if (c.response_cache_ttl.count() > 0 && c.response_cache_entries > 0)
    response_cache = std::make_unique<chat::LruResponseCache>(clock, c.response_cache_entries, c.response_cache_ttl);
  chat::GatewayService gateway(blocking, models, accounting, recorder, response_cache.get(),
                               chat::GatewayOptions{c.cache_shared, c.max_image_bytes, c.embedding_model});
  chat::PromptService prompts(*store, blocking);
  chat::ResponseHistory response_history(blocking, *store);  // the Responses API's previous_response_id
  chat::UsageService usage(*store, blocking, accounting);
  ops::HealthService health(*store, redis.get(), blocking);
  auto knowledge_store = open_knowledge_store(c, clock);
  knowledge::KnowledgeOptions kb_options = knowledge_options(c);
  kb_options.on_indexed = [&hooks](const std::string& user, const std::string& kb,
                                                        const std::string& doc, std::int64_t chunks) {
    hooks.document_indexed(user, kb, doc, chunks);
  };
  // Knowledge bases' vectors come through the gateway's embeddings path (limits, ledger rows).
  // That gateway does its blocking steps on a pool of its own: the ingestion workers and searches
  // wait for it from the shared blocking pool, which must not be where it waits in turn.
  asio::thread_pool embed_pool(2);
  chat::Recorder embed_recorder(*store, embed_pool, accounting, events);
  chat::GatewayService embed_gateway(embed_pool, models, accounting, embed_recorder, nullptr,
                                     chat::GatewayOptions{c.cache_shared, c.max_image_bytes, c.embedding_model});
  GatewayEmbedder embedder(embed_gateway, models, ioc.get_executor());
  // A base's vectors changed here: the other replicas drop their in-process index of it.
  kb_options.on_vectors_changed = [&bus](const std::string& user, const std::string& kb) {
    realtime::Event e;
    e.type = std::string(knowledge::kVectorsChangedEvent);
    e.user_id = user;
    e.knowledge_base_id = kb;
    bus->publish(e);
  };
  knowledge::KnowledgeService knowledge(*knowledge_store, blocking, std::move(kb_options));
  knowledge.set_embedder(&embedder);
  bus->subscribe([&knowledge](const realtime::Event& e) {
    if (e.type == knowledge::kVectorsChangedEvent && !e.knowledge_base_id.empty()) knowledge.vectors_changed(e.knowledge_base_id);
  });
  std::unique_ptr<keys::KeyStore> key_store = c.database_driver == "postgres"
                                                  ? keys::open_postgres_key_store(c.database_url, clock)
                                                  : keys::open_sqlite_key_store(c.sqlite_path, clock);
  keys::KeyService key_service(*key_store, *store, blocking, *bus);
  api::Services services{chat,    conversations,   gateway,
                         usage,   prompts,         health,
                         models,  metrics,         info,
                         c.metrics_token, redis && !c.redis_fail_open, &socketio, c.socketio_path};
  services.response_history = &response_history;
  if (agent_on) services.approvals = &approvals;  // null: no tools, so no tool calls
  services.agent_answer_within = accounting_options.limits.timeout;  // as a non-streamed model call

  services.knowledge = &knowledge;
  KnowledgeRetriever retriever(knowledge);
  chat.set_retriever(&retriever);
  // knowledge_search: offered by the agent in the turns that answer from knowledge bases.
  (void)toolbox.add(std::make_unique<agent::KnowledgeSearchTool>(retriever, blocking, knowledge.options().max_k));
  conversations.set_retriever(&retriever);
  services.keys = &key_service;
  services.webhooks = &hooks;

  // The chat page's development sign-in: on the development secret only, where `ai-agent-service
  // token --user` already mints any user's token for whoever can read ./data. Never with a real
  // secret, key or main backend: then the route does not exist.
  if (c.jwt_secret_generated && c.main_backend_url.empty()) {
    services.dev_token = [&c](const std::string& user) {
      const auth::TokenClaims claims{user, {}, std::chrono::hours(12), c.jwt_issuer, c.jwt_audience};
      return auth::issue_hs256_token(claims, c.jwt_secret, std::chrono::system_clock::now());
    };
    spdlog::warn("development sign-in is open (POST /api/ai/dev/token): anyone who reaches this port can "
                 "chat as any user; set JWT_SECRET to close it");
  }

  auth::JwtVerifier verifier = make_verifier(c, clock);
  if (!c.jwt_secret.empty() && !c.jwt_public_key_pem.empty() &&
      std::find(c.jwt_algorithms.begin(), c.jwt_algorithms.end(), "HS256") == c.jwt_algorithms.end())
    spdlog::warn("JWT_SECRET is set but HS256 is not in JWT_ALGORITHMS: tokens signed with it are refused");
  std::unique_ptr<auth::BackendAuthenticator> backend_check;
  if (!c.main_backend_url.empty()) {
    backend_check = std::make_unique<auth::BackendAuthenticator>(
        verifier, client,
        auth::BackendOptions{c.main_backend_url, c.main_backend_timeout, c.main_backend_cache,
                             c.main_backend_negative_cache},
        jwt_options(c), clock);
    spdlog::info("tokens the local check refuses are verified at {}/api/auth/verify",
                 c.main_backend_url);
  }
  // A token is verified once, then remembered until it expires (auth/token_cache.hpp).
  const auth::VerifiedTokenCache token_cache(
      backend_check ? static_cast<const auth::Authenticator&>(*backend_check) : verifier, clock);
  // Service keys ("aas_sk_…") are looked up in their store before any JWT check; a revoked or
  // rotated key is forgotten by every replica through the event bus.
  const keys::KeyAuthenticator authenticator(token_cache, *key_store, blocking, clock);
  bus->subscribe([&authenticator](const realtime::Event& e) {
    if (e.type == keys::kRevokedEvent && e.user_id.starts_with("key:"))
      authenticator.forget(std::string_view(e.user_id).substr(4));
  });
  key_service.set_local_forget([&authenticator](std::string_view key_id) { authenticator.forget(key_id); });
  http::DispatcherOptions dispatcher_options{c.cors_origins, c.request_timeout};
  dispatcher_options.observer = [&metrics](std::string_view method, std::string_view route,
                                           int status, double seconds) {
    metrics.http_request(method, route, status, seconds);
  };
  http::Dispatcher dispatcher(api::make_router(services), authenticator,
                              std::move(dispatcher_options));

  const auto socket_turns = api::add_socketio_handlers(socketio, services, authenticator, ioc.get_executor());

  http::Server server(ioc, server_options(c), dispatcher,
                      realtime::engineio::upgrade_handler(socketio.engine(), c.socketio_path));
  // Before the listener opens and "listening" is logged: a supervisor (or a test) may signal as
  // soon as it reads that line, and a SIGTERM before the set exists kills the process outright.
  // A signal caught now is handled once the loop runs, after the rest of the start.
  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: draining (grace {} ms)", sig, c.shutdown_grace.count());
    hooks.stop();
    // Socket.IO clients see their transport close and reconnect (to another replica, or to this
    // one once it is back); pending polls answer at once instead of holding the drain up.
    socketio.engine().close_all();
    // Ingestion stops after the step each worker is in; an unfinished job resumes at the next start.
    knowledge.stop();
    mcp_refresher.stop();
    const auto grace_over = std::chrono::steady_clock::now() + c.shutdown_grace;
    server.shutdown([&, grace_over](bool drained) {
      if (!drained) spdlog::warn("grace period over with requests still in flight; stopping");
      // Turns asked over Socket.IO are no requests of the server: their sockets are closed, so
      // each is recording its answer as interrupted now. Stopping under them would lose it.
      asio::co_spawn(
          ioc,
          [&, grace_over]() -> asio::awaitable<void> {
            asio::steady_timer tick(co_await asio::this_coro::executor);
            while (socket_turns() > 0 && std::chrono::steady_clock::now() < grace_over) {
              tick.expires_after(std::chrono::milliseconds(10));
              co_await tick.async_wait(asio::as_tuple(asio::use_awaitable));
            }
            if (socket_turns() > 0) spdlog::warn("grace period over with {} Socket.IO turns running; stopping", socket_turns());
            ioc.stop();
          },
          asio::detached);
    });
  });

  server.start();
  if (may_use_tls(c)) asio::post(blocking, [client] { client->prepare_tls(); });
  // What ended connections freed goes back to the system once their number has dropped.
  // Every thread's malloc cache goes back before a trim (core/memory_trim.hpp, release_thread_cache).
  MemoryTrimOptions trim_options;
  trim_options.io_threads = threads;
  trim_options.blocking_threads = blocking_threads;
  MemoryTrimmer trimmer(ioc.get_executor(), blocking.get_executor(), [&server] { return server.connection_count(); },
                        trim_options);
  trimmer.start();
  // Ingestion: jobs left mid-way by a process that died are taken over when their lease runs out.
  knowledge.start(ioc.get_executor());
  mcp_refresher.start(ioc.get_executor());
  if (hooks.active()) {
    asio::co_spawn(ioc, hooks.run(), asio::detached);
    spdlog::info("webhooks: {} global endpoint(s) receive message.completed, knowledge.document.indexed and "
                 "budget.threshold events; per-tenant endpoints at /api/ai/admin/webhooks", c.webhook_urls.size());
  }
  const auto cap = [](std::size_t n) { return n == 0 ? std::string("no cap") : std::to_string(n); };
  spdlog::info("connections: {} in all, {} per client address (MAX_CONNECTIONS, MAX_CONNECTIONS_PER_IP)",
               cap(c.max_connections), cap(c.max_connections_per_ip));
  spdlog::info("ai-agent-service {} listening on http://{}:{} (schema v{}, {} threads)", AAS_VERSION,
               c.host, server.port(), *version, threads);
  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads; ++i) pool.emplace_back([&] { ioc.run(); });
  ioc.run();
  // The exit is under way: a signal from now on (a supervisor repeating its SIGTERM) must not kill
  // the process mid-teardown, which would turn a clean stop into death by signal. Clearing the
  // set restores the default action, so the ignore comes after it.
  signals.clear();
  std::signal(SIGINT, SIG_IGN);
  std::signal(SIGTERM, SIG_IGN);
  for (auto& t : pool) t.join();
  blocking.join();
  spdlog::info("stopped");
  flush_logs();
  return 0;
}

int migrate(const Config& c) {
  setup_logging(c.log_level);
  SystemClock clock;
  auto store = open_store(c, clock);
  auto version = store->migrate();
  if (!version) {
    std::cerr << "migration failed: " << version.error().message << " " << version.error().detail << "\n";
    return 1;
  }
  std::cout << "schema version " << *version << "\n";
  return 0;
}

namespace {

// Every regular file named, or under a directory named, in a stable order.
std::vector<std::filesystem::path> files_of(const std::vector<std::string>& paths) {
  std::vector<std::filesystem::path> out;
  for (const std::string& p : paths) {
    if (std::filesystem::is_directory(p)) {
      std::vector<std::filesystem::path> found;
      for (const auto& e : std::filesystem::recursive_directory_iterator(p))
        if (e.is_regular_file()) found.push_back(e.path());
      std::sort(found.begin(), found.end());
      out.insert(out.end(), found.begin(), found.end());
    } else {
      out.emplace_back(p);
    }
  }
  return out;
}

// The `ingest` command's embedder: the server's embeddings path (the model router with its
// retries and fallbacks, the user's limits and budget, an `embedding` ledger row per call) on an
// io_context of the command's own, run by one thread while the command lasts. Limits are this
// process's (in-process; budgets start from the ledger like the server's).
class CliEmbedding {
 public:
  CliEmbedding(const Config& c, store::Store& store, const Clock& clock)
      : client_(std::make_shared<http::HttpClient>(ioc_.get_executor(), upstream_client_options(c))),
        policies_(c.limit_defaults, c.limit_roles, c.limit_users),
        limiter_(clock, [&store](std::string_view user, std::string_view from_day) { return store.spent_micros(user, from_day); }),
        accounting_(store, limiter_, policies_, accounting_options(c)),
        recorder_(store, pool_, accounting_, bus_),
        gateway_(pool_, models_, accounting_, recorder_, nullptr,
                 chat::GatewayOptions{c.cache_shared, c.max_image_bytes, c.embedding_model}),
        embedder_(gateway_, models_, ioc_.get_executor()) {
    register_models(c, models_, client_, clock, metrics_);
    runner_ = std::thread([this] { ioc_.run(); });
  }
  ~CliEmbedding() {
    work_.reset();
    runner_.join();
    pool_.join();
  }
  knowledge::Embedder& embedder() { return embedder_; }

 private:
  static chat::AccountingOptions accounting_options(const Config& c) {
    chat::AccountingOptions o;
    o.max_output_tokens = c.max_output_tokens;
    o.limits.timeout = c.request_timeout;
    return o;
  }

  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{ioc_.get_executor()};
  std::shared_ptr<http::HttpClient> client_;
  metrics::Metrics metrics_;
  llm::ModelRegistry models_;
  limits::Policies policies_;
  limits::LocalLimiter limiter_;
  chat::Accounting accounting_;
  realtime::LocalEventBus bus_;
  asio::thread_pool pool_{2};
  chat::Recorder recorder_;
  chat::GatewayService gateway_;
  GatewayEmbedder embedder_;
  std::thread runner_;
};

}  // namespace

int ingest(const Config& c, const std::string& user, const std::string& kb_name, const std::vector<std::string>& paths) {
  setup_logging(c.log_level);
  SystemClock clock;
  auto store = open_store(c, clock);
  if (auto v = store->migrate(); !v) {
    std::cerr << "migration failed: " << v.error().message << "\n";
    return 1;
  }
  auto kstore = open_knowledge_store(c, clock);
  asio::thread_pool blocking(1);
  knowledge::KnowledgeService knowledge(*kstore, blocking, knowledge_options(c));
  // With an embedding model configured, documents of bases with one are embedded here (else their
  // jobs wait at the embedding stage for a server that has one).
  std::unique_ptr<CliEmbedding> embedding;
  if (!c.embedding_model.empty()) {
    embedding = std::make_unique<CliEmbedding>(c, *store, clock);
    knowledge.set_embedder(&embedding->embedder());
  }
  const auto fail = [](const std::string& what, const Error& e) {
    std::cerr << what << ": " << e.message << "\n";
    return 1;
  };

  // The user's base of that name, or a new one.
  std::optional<knowledge::KnowledgeBase> kb;
  knowledge::PageRequest page{100, std::nullopt};
  do {
    auto bases = kstore->list_bases(user, page);
    if (!bases) return fail("cannot list knowledge bases", bases.error());
    for (auto& b : bases->items)
      if (b.name == kb_name) kb = std::move(b);
    page.cursor = bases->next_cursor;
  } while (!kb && page.cursor);
  if (!kb) {
    // EMBEDDING_MODEL set explicitly: the new base has it (hybrid search), as through the API.
    std::optional<std::string> model;
    if (!c.kb_embedding_model.empty()) model = c.kb_embedding_model;
    auto made = kstore->create_base({user, kb_name, std::nullopt, model});
    if (!made) return fail("cannot create knowledge base", made.error());
    kb = std::move(*made);
    std::cout << "created knowledge base " << kb_name << " (" << kb->id << ")\n";
  }

  std::set<std::string> mine;  // the jobs this run queued, for its progress
  int failed = 0, skipped = 0;
  for (const auto& path : files_of(paths)) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      std::cerr << path.string() << ": cannot read\n";
      ++failed;
      continue;
    }
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto added = knowledge.add_document_now(user, kb->id, {path.filename().string(), std::move(bytes)});
    if (!added) {
      std::cerr << path.string() << ": " << added.error().message << "\n";
      ++failed;
    } else if (added->existing) {
      ++skipped;  // the same bytes are in the base already
    } else {
      mine.insert(added->document.job.id);
    }
  }

  const bool tty = isatty(STDOUT_FILENO) != 0;
  std::size_t finished = 0, indexed = 0;
  knowledge.drain([&](const knowledge::Job& job) {
    if (!mine.count(job.id)) return;
    const bool done = knowledge::is_terminal(job.stage);
    if (done) ++finished;
    if (job.stage == knowledge::Stage::failed) ++failed;
    if (job.stage == knowledge::Stage::indexed) ++indexed;
    if (tty) {
      constexpr std::size_t kWidth = 30;
      const std::size_t filled = mine.empty() ? kWidth : finished * kWidth / mine.size();
      std::cout << "\r[" << std::string(filled, '#') << std::string(kWidth - filled, '.') << "] " << finished << "/"
                << mine.size() << " " << knowledge::to_string(job.stage) << "        " << std::flush;
    } else if (done) {
      std::cout << job.document_id << " " << knowledge::to_string(job.stage)
                << (job.error ? ": " + *job.error : std::string()) << "\n";
    }
  });
  if (tty) std::cout << "\n";
  std::cout << indexed << " indexed, " << skipped
            << " already there, " << failed << " failed\n";
  blocking.join();
  return failed == 0 ? 0 : 1;
}

}  // namespace aas::app
