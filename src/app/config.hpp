#pragma once
// Typed configuration, read once at start from the environment and an optional YAML file
// (AI_CONFIG), validated before anything starts. A bad value fails fast naming its key.
#include "agent/settings.hpp"
#include "app/prices.hpp"
#include "limits/policies.hpp"
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aas::app {

// One upstream that can serve a model.
struct DeploymentSpec {
  std::string provider;        // openai | anthropic | mock
  std::string model;           // the upstream's model name
  std::string base_url;        // empty: the vendor's public API
  std::vector<std::string> api_keys;
  // Extra request headers (e.g. OpenAI-Organization, a gateway's routing header).
  std::vector<std::pair<std::string, std::string>> headers;
  int weight = 1;
  int max_concurrency = 64;
  int max_queue = 256;
  int reserved_slots = -1;  // for users holding none of the slots; -1: max_concurrency / 16
};

// A model clients may name, with its deployments, fallbacks and price.
struct ModelSpec {
  std::string name;
  std::vector<DeploymentSpec> deployments;
  std::vector<std::string> fallbacks;  // other model names, tried in order
  std::optional<PriceEntry> price;  // else the price table's entry for it
};

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Config {
  // server
  std::string host = "0.0.0.0";
  std::uint16_t port = 4002;
  unsigned threads = 0;  // 0: one per core
  std::size_t max_body_bytes = 1024 * 1024;
  std::size_t max_header_bytes = 16 * 1024;
  // Connection caps (MAX_CONNECTIONS, MAX_CONNECTIONS_PER_IP; 0: none). The total defaults to what
  // the descriptor limit leaves after a reserve: connections_for_fd_limit().
  std::size_t max_connections = 0;
  std::size_t max_connections_per_ip = 256;
  std::chrono::milliseconds idle_timeout{60000};
  std::chrono::milliseconds read_timeout{30000};
  std::chrono::milliseconds request_timeout{120000};
  std::chrono::milliseconds shutdown_grace{10000};
  std::vector<std::string> cors_origins;
  std::string log_level = "info";

  // realtime: Socket.IO (Engine.IO 4) at socketio_path
  std::string socketio_path = "/api/ai/socket.io";
  std::chrono::milliseconds socketio_ping_interval{25000};
  std::chrono::milliseconds socketio_ping_timeout{20000};
  std::chrono::milliseconds socketio_connect_timeout{45000};
  std::size_t socketio_max_payload = 1'000'000;
  unsigned socketio_events_per_second = 10;  // per socket; 0: no limit
  unsigned socketio_event_burst = 20;
  std::string socketio_redis_key = "socket.io";  // the Redis adapter's key (its `key` option)

  // storage
  std::string database_url = "sqlite:./data/ai-agent.db";
  std::string database_driver;  // "sqlite" or "postgres", from database_url's scheme
  std::string sqlite_path;      // derived from database_url (sqlite only)
  // Redis (production mode): limits, the response cache and events shared by every replica.
  std::string redis_url;               // empty: all of it in-process
  bool redis_fail_open = true;         // REDIS_FAIL_MODE=open|closed: limits when Redis is down
  std::chrono::milliseconds redis_timeout{500};  // connect and per-command
  std::string redis_key_prefix = "aas:";  // so a Redis shared with the monolith stays tidy

  // auth
  std::string jwt_secret;
  bool jwt_secret_generated = false;  // a development secret kept beside the database
  std::string jwt_secret_file;        // where that secret is (absolute), when generated
  bool jwt_secret_created = false;    // ensure_jwt_secret wrote a new one (none was there)
  std::string jwt_public_key_pem;
  std::vector<std::string> jwt_algorithms;
  std::optional<std::string> jwt_issuer;
  std::optional<std::string> jwt_audience;
  std::chrono::seconds jwt_leeway{30};
  std::vector<std::string> jwt_user_claims{"sub", "id", "userId"};
  std::vector<std::string> jwt_role_claims{"role", "roles"};
  std::string admin_role = "admin";
  // Token check against the monolith for tokens the local check refuses (empty: off).
  std::string main_backend_url;
  std::chrono::milliseconds main_backend_timeout{3000};
  std::chrono::milliseconds main_backend_cache{60000};           // accepted tokens
  std::chrono::milliseconds main_backend_negative_cache{10000};  // refused tokens

  // limits (per user; 0 = none) and the answer length cap they reserve for
  limits::Policy limit_defaults{60, 200'000, 5, std::nullopt, std::nullopt};
  std::map<std::string, limits::PolicyPatch> limit_roles;  // YAML limits.roles
  std::map<std::string, limits::PolicyPatch> limit_users;  // YAML limits.users
  int max_output_tokens = 4096;
  // What comes back from a model, whatever it claims (issue 18): an answer's text is cut at
  // max_answer_bytes (and at its output cap); a stream ends interrupted after stream_max_duration
  // or after stream_idle_timeout without a word. A streamed answer is saved as it grows, every
  // stream_checkpoint_tokens (estimated) or stream_checkpoint, whichever comes first.
  std::size_t max_answer_bytes = 1024 * 1024;
  std::chrono::milliseconds stream_max_duration{600000};
  std::chrono::milliseconds stream_idle_timeout{60000};
  std::chrono::milliseconds stream_checkpoint{1000};
  int stream_checkpoint_tokens = 64;
  std::int64_t default_context_window = 32768;  // for models the price table does not describe

  // models
  PriceTable prices = PriceTable::shipped();  // PRICES_FILE merged in
  std::string openai_api_key;
  std::string openai_base_url;
  std::string anthropic_api_key;
  std::string anthropic_base_url;  // ANTHROPIC_BASE_URL: a proxy or local upstream (empty: Anthropic's)
  std::string default_model;  // empty: the first configured model (mock without providers)
  std::chrono::milliseconds mock_latency{0};
  // From the YAML file's `models:` list, or else built from OPENAI_* / ANTHROPIC_* variables.
  std::vector<ModelSpec> models;
  // Resilience (RETRY_MAX_ATTEMPTS, ..., and the HTTP client's timeouts).
  int retry_max_attempts = 3;
  std::chrono::milliseconds retry_base_delay{250};
  std::chrono::milliseconds retry_max_delay{8000};
  std::chrono::milliseconds retry_deadline{120000};
  int breaker_failures = 5;
  std::chrono::milliseconds breaker_open{15000};
  std::chrono::milliseconds upstream_connect_timeout{5000};
  std::chrono::milliseconds upstream_first_byte_timeout{60000};
  std::chrono::milliseconds upstream_idle_timeout{60000};
  std::string upstream_ca_file;
  // HTTPS_PROXY / NO_PROXY (also lower-case, as curl reads them): https upstreams through a
  // CONNECT tunnel, except the hosts listed.
  std::string https_proxy;
  std::vector<std::string> no_proxy;

  // observability
  std::string metrics_token;  // when set, GET /metrics needs it as a Bearer token

  // webhooks (src/webhooks): signed events POSTed to these endpoints; empty: off
  std::vector<std::string> webhook_urls;
  std::string webhook_secret;  // required with webhook_urls
  int webhook_max_attempts = 8;
  std::chrono::milliseconds webhook_timeout{5000};
  std::chrono::milliseconds webhook_retry_base{1000};
  std::chrono::milliseconds webhook_retry_max{15 * 60'000};

  // chat
  std::size_t max_message_chars = 32000;
  int context_messages = 50;
  std::string default_system_prompt = "You are a helpful AI assistant for the Todo app.";
  std::string summary_model;    // writes titles and summaries (empty: the default model)
  bool generate_titles = true;  // after a first exchange, when a real provider is configured
  int summarize_after_messages = 0;  // 0: summarize only turns that no longer fit
  std::chrono::milliseconds response_cache_ttl{600000};  // 0: no response cache
  std::size_t response_cache_entries = 1000;
  // One user's cached answer may answer another user's identical request (else: per user).
  bool cache_shared = false;

  // gateway
  std::size_t max_image_bytes = 5 * 1024 * 1024;  // an image part's decoded size (data URLs)
  // The model POST /v1/embeddings uses when a request names none. With models from the
  // environment and an OpenAI-compatible upstream, text-embedding-3-small by default, and added
  // to the models; with a models file it must name one of its models.
  std::string embedding_model;

  // agent (issue 15): the tools of YAML `tools:` and the loop's bounds (AGENT_MAX_STEPS,
  // AGENT_MAX_PARALLEL_TOOLS, TOOL_TIMEOUT_MS, TOOL_RESULT_MAX_TOKENS, TOOL_CONFIRM_TIMEOUT_MS);
  // checked by agent::validate_tools at start.
  agent::AgentSettings agent;
  // knowledge bases
  std::size_t max_upload_bytes = 10 * 1024 * 1024;  // one document's source (an upload request: 4x)
  std::int64_t kb_max_documents = 1000;              // per user, over all bases (0: no quota)
  std::int64_t kb_max_bytes = 100LL * 1024 * 1024;   // per user, the documents' sources (0: no quota)
  int kb_ingest_workers = 2;                         // ingestion jobs run at once by one process
  // EMBEDDING_MODEL as set (not the OpenAI default): new knowledge bases get it, so they are
  // searched hybrid; unset, they are lexical unless created with an embeddingModel.
  std::string kb_embedding_model;
  int kb_embed_batch = 64;                           // KB_EMBED_BATCH: chunks per embeddings call
  double kb_hybrid_vector_weight = 0.05;             // KB_HYBRID_VECTOR_WEIGHT: the vector list's weight in fusion
  bool kb_hybrid_fusion_rrf = false;                 // KB_HYBRID_FUSION: convex (default) or rrf
  std::chrono::milliseconds kb_job_lease{30000};     // a job whose worker went quiet this long is taken over
  int chunk_tokens = 512;                            // CHUNK_TOKENS
  int chunk_overlap = 64;                            // CHUNK_OVERLAP
};

// Reads a variable by name (the environment in production, a map in tests).
using Lookup = std::function<std::optional<std::string>(std::string_view name)>;
Lookup environment();

// Values from `env` win over those of the YAML file named by AI_CONFIG (flat keys, the same names
// as the variables, any case). Throws ConfigError naming the key on a bad value.
Config load_config(const Lookup& env);

// The default MAX_CONNECTIONS for a soft RLIMIT_NOFILE of `fd_limit`: a quarter of the
// descriptors (at least 256) stays for the store, Redis, upstream calls (one per turn in flight)
// and files; never below 16.
std::size_t connections_for_fd_limit(std::uint64_t fd_limit);

// Without JWT_SECRET or a public key, a random development secret is created once and kept at
// <database dir>/dev-jwt-secret (mode 0600), so `make run` and `ai-agent-service token` agree.
void ensure_jwt_secret(Config& config);

}  // namespace aas::app
