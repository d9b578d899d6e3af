#include "app/config.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <tuple>

#include "testing/temp_dir.hpp"

namespace aas::app {

namespace {
Lookup from(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

// The message a bad configuration stops with, or "no error".
std::string message_of(std::map<std::string, std::string> vars) {
  try {
    load_config(from(std::move(vars)));
  } catch (const ConfigError& e) {
    return std::string(e.what());
  }
  return std::string("no error");
}

std::filesystem::path temp_dir() {
  char tmpl[] = "/tmp/aas-config-XXXXXX";
  return std::filesystem::path(mkdtemp(tmpl));
}
}  // namespace

TEST(Config, DefaultsAreTheEmbeddedOnes) {
  const Config c = load_config(from({}));
  EXPECT_EQ(c.port, 4002);
  EXPECT_EQ(c.sqlite_path, "./data/ai-agent.db");
  EXPECT_EQ(c.default_model, "");
  EXPECT_TRUE(c.models.empty());
  EXPECT_EQ(c.jwt_algorithms, std::vector<std::string>{"HS256"});
  EXPECT_EQ(c.max_body_bytes, 1024u * 1024u);
  EXPECT_EQ(c.metrics_token, "");  // /metrics is open unless a token is configured
}

TEST(Config, ReadsTheEnvironment) {
  const Config c = load_config(from({{"PORT", "0"},
                                     {"DATABASE_URL", "sqlite:/tmp/x/ai.db"},
                                     {"CORS_ORIGINS", "http://a.test, http://b.test"},
                                     {"JWT_SECRET", "0123456789abcdef0123"},
                                     {"MAX_MESSAGE_CHARS", "100"},
                                     {"METRICS_TOKEN", "scrape-me"}}));
  EXPECT_EQ(c.port, 0);
  EXPECT_EQ(c.metrics_token, "scrape-me");
  EXPECT_EQ(c.sqlite_path, "/tmp/x/ai.db");
  EXPECT_EQ(c.cors_origins, (std::vector<std::string>{"http://a.test", "http://b.test"}));
  EXPECT_EQ(c.max_message_chars, 100u);
}

TEST(Config, BadValuesFailNamingTheKey) {
  EXPECT_NE(message_of({{"PORT", "99999"}}).find("PORT"), std::string::npos);
  EXPECT_NE(message_of({{"PORT", "abc"}}).find("PORT"), std::string::npos);
  EXPECT_NE(message_of({{"LOG_LEVEL", "loud"}}).find("LOG_LEVEL"), std::string::npos);
  EXPECT_NE(message_of({{"JWT_SECRET", "short"}}).find("JWT_SECRET"), std::string::npos);
  EXPECT_NE(message_of({{"JWT_ALGORITHMS", "none"}}).find("JWT_ALGORITHMS"), std::string::npos);
  EXPECT_NE(message_of({{"JWT_ALGORITHMS", "RS256"}}).find("JWT_PUBLIC_KEY"), std::string::npos);
  EXPECT_NE(message_of({{"DATABASE_URL", "mysql://u@h/db"}}).find("DATABASE_URL"), std::string::npos);
}

TEST(Config, APublicKeyMeansRs256AndEs256OnlyEvenWithASecret) {
  const Config keyed = load_config(from({{"JWT_PUBLIC_KEY", "pem"}, {"JWT_SECRET", "0123456789abcdef0123"}}));
  EXPECT_EQ(keyed.jwt_algorithms, (std::vector<std::string>{"RS256", "ES256"}));
  const Config both = load_config(
      from({{"JWT_PUBLIC_KEY", "pem"}, {"JWT_SECRET", "0123456789abcdef0123"}, {"JWT_ALGORITHMS", "RS256,HS256"}}));
  EXPECT_EQ(both.jwt_algorithms, (std::vector<std::string>{"RS256", "HS256"}));
}

TEST(Config, ConnectionCapsDefaultBelowTheDescriptorLimit) {
  EXPECT_EQ(connections_for_fd_limit(1024), 768u);
  EXPECT_EQ(connections_for_fd_limit(20000), 15000u);
  EXPECT_EQ(connections_for_fd_limit(300), 44u);
  EXPECT_EQ(connections_for_fd_limit(200), 16u) << "never below 16";
  EXPECT_EQ(connections_for_fd_limit(0), 16u);
  const Config c = load_config(from({}));
  EXPECT_GE(c.max_connections, 16u);
  EXPECT_EQ(c.max_connections_per_ip, 256u);
  const Config set = load_config(from({{"MAX_CONNECTIONS", "0"}, {"MAX_CONNECTIONS_PER_IP", "20"}}));
  EXPECT_EQ(set.max_connections, 0u) << "0: no cap";
  EXPECT_EQ(set.max_connections_per_ip, 20u);
  EXPECT_NE(message_of({{"MAX_CONNECTIONS_PER_IP", "-1"}}).find("MAX_CONNECTIONS_PER_IP"), std::string::npos);
  EXPECT_NE(message_of({{"MAX_CONNECTIONS", "lots"}}).find("MAX_CONNECTIONS"), std::string::npos);
}

TEST(Config, ProxyAndRedisSettingsAreReadAndChecked) {
  const Config lower = load_config(from({{"https_proxy", "http://p.corp:3128"}, {"no_proxy", "localhost,.corp"}}));
  EXPECT_EQ(lower.https_proxy, "http://p.corp:3128");
  EXPECT_EQ(lower.no_proxy, (std::vector<std::string>{"localhost", ".corp"}));
  const Config upper = load_config(from({{"https_proxy", "http://low:1"}, {"HTTPS_PROXY", "http://up:2"}}));
  EXPECT_EQ(upper.https_proxy, "http://up:2") << "the upper-case name wins";

  const Config redis = load_config(from({{"REDIS_URL", "redis://:pw@cache:6380/2"},
                                         {"REDIS_FAIL_MODE", "closed"},
                                         {"REDIS_TIMEOUT_MS", "250"},
                                         {"REDIS_KEY_PREFIX", "ai:"}}));
  EXPECT_EQ(redis.redis_url, "redis://:pw@cache:6380/2");
  EXPECT_FALSE(redis.redis_fail_open);
  EXPECT_EQ(redis.redis_timeout.count(), 250);
  EXPECT_EQ(redis.redis_key_prefix, "ai:");
  EXPECT_TRUE(load_config(from({})).redis_fail_open) << "open by default";

  const std::string proxy = message_of({{"HTTPS_PROXY", "https://user:secret@p.corp"}});
  EXPECT_NE(proxy.find("HTTPS_PROXY"), std::string::npos) << proxy;
  EXPECT_EQ(proxy.find("secret"), std::string::npos) << proxy;
  EXPECT_NE(message_of({{"REDIS_URL", "http://cache"}}).find("REDIS_URL"), std::string::npos);
  EXPECT_NE(message_of({{"REDIS_FAIL_MODE", "maybe"}}).find("REDIS_FAIL_MODE"), std::string::npos);
}

TEST(Config, DatabaseUrlPicksTheAdapterByScheme) {
  EXPECT_EQ(load_config(from({})).database_driver, "sqlite");
  for (const std::string url : {"postgresql://app:pw@db:5432/aas", "postgres://db/aas"}) {
    const Config c = load_config(from({{"DATABASE_URL", url}}));
    EXPECT_EQ(c.database_driver, "postgres") << url;
    EXPECT_EQ(c.database_url, url);
    EXPECT_EQ(c.sqlite_path, "") << url;
  }
  const Config plain = load_config(from({{"DATABASE_URL", "/var/lib/aas/ai.db"}}));
  EXPECT_EQ(plain.database_driver, "sqlite");
  EXPECT_EQ(plain.sqlite_path, "/var/lib/aas/ai.db");
}

TEST(Config, YamlFileIsReadAndTheEnvironmentWins) {
  const auto dir = temp_dir();
  const auto file = dir / "ai.yaml";
  std::ofstream(file) << "port: 5000\nlog_level: debug\ncors_origins:\n  - http://x.test\n  - http://y.test\n";
  const Config c = load_config(from({{"AI_CONFIG", file.string()}, {"PORT", "6000"}}));
  EXPECT_EQ(c.port, 6000);
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.cors_origins, (std::vector<std::string>{"http://x.test", "http://y.test"}));
  std::filesystem::remove_all(dir);
}

TEST(Config, DevelopmentSecretIsCreatedOnceAndReused) {
  const auto dir = temp_dir();
  Config a = load_config(from({{"DATABASE_URL", "sqlite:" + (dir / "db" / "ai.db").string()}}));
  ensure_jwt_secret(a);
  EXPECT_TRUE(a.jwt_secret_generated);
  EXPECT_EQ(a.jwt_secret.size(), 64u);
  EXPECT_EQ(std::filesystem::status(dir / "db" / "dev-jwt-secret").permissions() &
                std::filesystem::perms::others_read,
            std::filesystem::perms::none);
  Config b = load_config(from({{"DATABASE_URL", "sqlite:" + (dir / "db" / "ai.db").string()}}));
  ensure_jwt_secret(b);
  EXPECT_EQ(a.jwt_secret, b.jwt_secret);
  // Where it is, said by `token` and `serve` (absolute), and whether this call had to create it.
  EXPECT_TRUE(a.jwt_secret_created);
  EXPECT_FALSE(b.jwt_secret_created);
  EXPECT_EQ(b.jwt_secret_file, (dir / "db" / "dev-jwt-secret").string());
  std::filesystem::remove_all(dir);
}

TEST(Config, AnthropicBaseUrlSendsItsModelsThere) {
  const Config c = load_config(from({{"ANTHROPIC_API_KEY", "sk-local"},
                                     {"ANTHROPIC_BASE_URL", "http://127.0.0.1:8080/v1"},
                                     {"ANTHROPIC_MODELS", "claude-haiku"}}));
  ASSERT_EQ(c.models.size(), 1u);
  ASSERT_EQ(c.models[0].deployments.size(), 1u);
  EXPECT_EQ(c.models[0].deployments[0].provider, "anthropic");
  EXPECT_EQ(c.models[0].deployments[0].base_url, "http://127.0.0.1:8080/v1");
  // A local Messages-API server that needs no key is enough on its own, as with OPENAI_BASE_URL.
  const Config keyless = load_config(from({{"ANTHROPIC_BASE_URL", "http://127.0.0.1:8080/v1"}}));
  ASSERT_FALSE(keyless.models.empty());
  EXPECT_EQ(keyless.models[0].deployments[0].base_url, "http://127.0.0.1:8080/v1");
  EXPECT_TRUE(keyless.models[0].deployments[0].api_keys.empty());
}

}  // namespace aas::app

namespace aas::app {

TEST(Config, ProviderKeysInTheEnvironmentMakeOneModelPerName) {
  const Config c = load_config(from({{"OPENAI_API_KEY", "sk-test"},
                                     {"OPENAI_MODELS", "gpt-4o-mini, gpt-4.1"},
                                     {"ANTHROPIC_API_KEY", "sk-ant"},
                                     {"ANTHROPIC_MODELS", "claude-haiku"}}));
  ASSERT_EQ(c.models.size(), 4u);
  EXPECT_EQ(c.models[0].name, "gpt-4o-mini");
  EXPECT_EQ(c.models[1].name, "gpt-4.1");
  EXPECT_EQ(c.models[1].deployments.at(0).provider, "openai");
  EXPECT_EQ(c.models[1].deployments.at(0).api_keys, std::vector<std::string>{"sk-test"});
  EXPECT_EQ(c.models[2].deployments.at(0).provider, "anthropic");
  // The OpenAI-compatible upstream also gets the default embedding model.
  EXPECT_EQ(c.embedding_model, "text-embedding-3-small");
  EXPECT_EQ(c.models[3].name, "text-embedding-3-small");
  EXPECT_EQ(c.models[3].deployments.at(0).provider, "openai");
  EXPECT_TRUE(load_config(from({})).models.empty());
  EXPECT_TRUE(load_config(from({})).embedding_model.empty());
}

TEST(Config, EmbeddingModelCacheSharingAndImageSize) {
  const Config c = load_config(from({{"OPENAI_BASE_URL", "http://127.0.0.1:1/v1"},
                                     {"OPENAI_MODELS", "gpt-4o-mini,my-embedder"},
                                     {"EMBEDDING_MODEL", "my-embedder"},
                                     {"CACHE_SHARED", "true"},
                                     {"MAX_IMAGE_BYTES", "1048576"}}));
  EXPECT_EQ(c.models.size(), 2u);  // the embedding model is one of those listed: not added twice
  EXPECT_EQ(c.embedding_model, "my-embedder");
  EXPECT_TRUE(c.cache_shared);
  EXPECT_EQ(c.max_image_bytes, 1048576u);
  EXPECT_FALSE(load_config(from({})).cache_shared);
  EXPECT_EQ(load_config(from({})).max_image_bytes, 5u * 1024 * 1024);

  EXPECT_THROW(load_config(from({{"CACHE_SHARED", "yes"}})), ConfigError);
  EXPECT_THROW(load_config(from({{"MAX_IMAGE_BYTES", "12x"}})), ConfigError);
  // Without an OpenAI-compatible upstream nothing can embed: a named model must exist.
  try {
    load_config(from({{"ANTHROPIC_API_KEY", "k"}, {"EMBEDDING_MODEL", "text-embedding-3-small"}}));
    ADD_FAILURE() << "an unknown EMBEDDING_MODEL was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("EMBEDDING_MODEL"), std::string::npos) << e.what();
  }
}

TEST(Config, ModelsComeFromTheYamlFileWithDeploymentsFallbacksAndPrices) {
  char tmpl[] = "/tmp/aas-config-XXXXXX";
  const std::filesystem::path dir = mkdtemp(tmpl);
  const auto file = dir / "ai.yaml";
  std::ofstream(file) << R"(
port: 5000
models:
  - name: fast
    price: {input: 0.15, output: 0.6}
    fallbacks: [backup]
    deployments:
      - {provider: openai, model: gpt-4o-mini, api_keys: [k1, k2], weight: 3}
      - {provider: openai, model: gpt-4o-mini, base_url: "http://127.0.0.1:11434/v1"}
  - name: backup
    deployments:
      - {provider: anthropic, model: claude-haiku, api_key: k3, headers: {X-Mock-Status: "500"}}
)";
  const Config c = load_config(from({{"AI_CONFIG", file.string()}, {"OPENAI_API_KEY", "ignored"}}));
  EXPECT_EQ(c.port, 5000);
  ASSERT_EQ(c.models.size(), 2u);
  const ModelSpec& fast = c.models[0];
  EXPECT_EQ(fast.fallbacks, std::vector<std::string>{"backup"});
  ASSERT_TRUE(fast.price);
  EXPECT_DOUBLE_EQ(fast.price->input, 0.15);
  ASSERT_EQ(fast.deployments.size(), 2u);
  EXPECT_EQ(fast.deployments[0].weight, 3);
  EXPECT_EQ(fast.deployments[0].api_keys, (std::vector<std::string>{"k1", "k2"}));
  EXPECT_EQ(fast.deployments[1].base_url, "http://127.0.0.1:11434/v1");
  EXPECT_EQ(c.models[1].deployments[0].api_keys, std::vector<std::string>{"k3"});
  ASSERT_EQ(c.models[1].deployments[0].headers.size(), 1u);
  EXPECT_EQ(c.models[1].deployments[0].headers[0], (std::pair<std::string, std::string>{"x-mock-status", "500"}));

  std::ofstream(file) << "models:\n  - name: a\n    fallbacks: [nope]\n    deployments:\n      - {provider: openai}\n";
  EXPECT_THROW(load_config(from({{"AI_CONFIG", file.string()}})), ConfigError);
  std::ofstream(file) << "models:\n  - name: a\n    deployments:\n      - {provider: azure}\n";
  EXPECT_THROW(load_config(from({{"AI_CONFIG", file.string()}})), ConfigError);
  std::ofstream(file) << "models:\n  - name: a\n";
  EXPECT_THROW(load_config(from({{"AI_CONFIG", file.string()}})), ConfigError);
  std::filesystem::remove_all(dir);
}

TEST(Config, ADeploymentsReservedSlotsAreReadAndMustLeaveOneSlotForOthers) {
  const auto dir = std::filesystem::path(mkdtemp(std::string("/tmp/aas-config-XXXXXX").data()));
  const auto file = dir / "ai.yaml";
  const auto models = [&](const std::string& deployment) {
    std::ofstream(file) << "models:\n  - name: a\n    deployments:\n      - {provider: openai, " << deployment << "}\n";
    return load_config(from({{"AI_CONFIG", file.string()}})).models.at(0).deployments.at(0);
  };
  EXPECT_EQ(models("max_concurrency: 8").reserved_slots, -1);  // the router's default: 8 / 16
  EXPECT_EQ(models("max_concurrency: 8, reserved_slots: 2").reserved_slots, 2);
  EXPECT_EQ(models("max_concurrency: 8, reserved_slots: 0").reserved_slots, 0);
  EXPECT_THROW(models("max_concurrency: 8, reserved_slots: 8"), ConfigError);
  EXPECT_THROW(models("max_concurrency: 8, reserved_slots: -1"), ConfigError);
  std::filesystem::remove_all(dir);
}

}  // namespace aas::app

namespace aas::app {

// The agent's tools (issue 15): YAML schemas become JSON Schema text, the loop's bounds come from
// the environment, and a tool outside MAIN_BACKEND_URL stops the start naming it.
TEST(Config, ReadsAgentToolsAndRefusesOnesLeavingTheMonolith) {
  const auto dir = std::filesystem::path(mkdtemp(std::string("/tmp/aas-config-XXXXXX").data()));
  const auto file = dir / "tools.yaml";
  std::ofstream(file) << R"(tools:
  - name: complete_todo
    description: Mark a todo as done
    method: patch
    path: /api/todos/{id}
    fixed: {done: true}
    confirm: true
    roles: [user]
    parameters:
      type: object
      properties:
        id: {type: string, minLength: 1}
        due: {type: [string, "null"]}
        n: {type: integer, maximum: 2.5}
      required: [id]
)";
  const Config c = load_config(from({{"AI_CONFIG", file.string()}, {"MAIN_BACKEND_URL", "http://todo:3000"},
                                     {"AGENT_MAX_STEPS", "4"}, {"TOOL_TIMEOUT_MS", "250"}}));
  ASSERT_EQ(c.agent.tools.size(), 1u);
  const agent::HttpToolSpec& t = c.agent.tools[0];
  EXPECT_EQ(t.method, "PATCH");
  EXPECT_EQ(t.fixed, R"({"done":true})");
  EXPECT_TRUE(t.confirm);
  EXPECT_EQ(t.roles, std::vector<std::string>{"user"});
  EXPECT_EQ(t.parameters,
            R"({"type":"object","properties":{"id":{"type":"string","minLength":1},"due":{"type":["string","null"]},)"
            R"("n":{"type":"integer","maximum":2.5E0}},"required":["id"]})");
  EXPECT_EQ(c.agent.max_steps, 4);
  EXPECT_EQ(c.agent.tool_timeout, std::chrono::milliseconds(250));

  std::ofstream(file) << "tools:\n  - {name: leak, method: GET, path: \"http://evil.example/x\"}\n";
  EXPECT_EQ(message_of({{"AI_CONFIG", file.string()}, {"MAIN_BACKEND_URL", "http://todo:3000"}}),
            "tools[leak].path: outside MAIN_BACKEND_URL (http://todo:3000): tools call the monolith only");
  std::ofstream(file) << "tools:\n  - {name: t, path: /x, parameters: {type: object, oneOf: []}}\n";
  EXPECT_EQ(message_of({{"AI_CONFIG", file.string()}, {"MAIN_BACKEND_URL", "http://todo:3000"}}),
            "tools[t].parameters: oneOf: keyword not supported (see docs/agent.md for the subset)");
  std::ofstream(file) << "tools:\n  - {name: t, path: /x, colour: red}\n";
  EXPECT_EQ(message_of({{"AI_CONFIG", file.string()}, {"MAIN_BACKEND_URL", "http://todo:3000"}}), "tools[t].colour: unknown key");
  EXPECT_EQ(message_of({{"AGENT_MAX_STEPS", "0"}}), "AGENT_MAX_STEPS: must be an integer from 1 to 100, got '0'");
  std::filesystem::remove_all(dir);
}

}  // namespace aas::app

namespace aas::app {

// The YAML `limits:` section (issue 18, point 9: documented, never exercised by a unit test):
// defaults, per-role and per-user patches in USD, and every malformed shape stops the start
// naming the key.
TEST(Config, LimitsSectionSetsDefaultsRolesAndUsersAndNamesBadKeys) {
  const auto dir = std::filesystem::path(mkdtemp(std::string("/tmp/aas-config-XXXXXX").data()));
  const auto file = dir / "ai.yaml";
  std::ofstream(file) << R"(limits:
  default: {requests_per_minute: 10, tokens_per_minute: 5000, concurrent_streams: 2,
            daily_budget_usd: 1.5, monthly_budget_usd: 20}
  roles:
    admin: {requests_per_minute: 0, monthly_budget_usd: 100}
  users:
    alice: {concurrent_streams: 7}
)";
  const Config c = load_config(from({{"AI_CONFIG", file.string()}}));
  EXPECT_EQ(c.limit_defaults.requests_per_minute, 10);
  EXPECT_EQ(c.limit_defaults.tokens_per_minute, 5000);
  EXPECT_EQ(c.limit_defaults.concurrent_streams, 2);
  EXPECT_EQ(c.limit_defaults.daily_budget_micros, 1'500'000);
  EXPECT_EQ(c.limit_defaults.monthly_budget_micros, 20'000'000);
  ASSERT_EQ(c.limit_roles.count("admin"), 1u);
  EXPECT_EQ(c.limit_roles.at("admin").requests_per_minute, 0);
  EXPECT_EQ(c.limit_roles.at("admin").monthly_budget_micros, 100'000'000);
  EXPECT_FALSE(c.limit_roles.at("admin").concurrent_streams) << "a patch changes only what it names";
  ASSERT_EQ(c.limit_users.count("alice"), 1u);
  EXPECT_EQ(c.limit_users.at("alice").concurrent_streams, 7);

  // A default naming only some limits keeps the built-in others.
  std::ofstream(file) << "limits:\n  default: {tokens_per_minute: 9}\n";
  const Config partial = load_config(from({{"AI_CONFIG", file.string()}}));
  EXPECT_EQ(partial.limit_defaults.tokens_per_minute, 9);
  EXPECT_EQ(partial.limit_defaults.requests_per_minute, Config{}.limit_defaults.requests_per_minute);

  const auto error_of = [&](const std::string& yaml) {
    std::ofstream(file) << yaml;
    return message_of({{"AI_CONFIG", file.string()}});
  };
  EXPECT_NE(error_of("limits: [1, 2]\n").find("limits: must be a map"), std::string::npos);
  EXPECT_NE(error_of("limits:\n  groups: {}\n").find("limits.groups: unknown key"), std::string::npos);
  EXPECT_NE(error_of("limits:\n  roles: [a]\n").find("limits.roles: must map names"), std::string::npos);
  EXPECT_NE(error_of("limits:\n  default: 5\n").find("limits.default: must be a map"), std::string::npos);
  EXPECT_NE(error_of("limits:\n  users:\n    bob: {requests_per_minute: -1}\n")
                .find("limits.users.bob.requests_per_minute: must be 0"),
            std::string::npos);
  EXPECT_NE(error_of("limits:\n  default: {daily_budget_usd: -0.5}\n").find("limits.default.daily_budget_usd"),
            std::string::npos);
  EXPECT_NE(error_of("limits:\n  default: {tokens_per_minute: lots}\n")
                .find("limits.default.tokens_per_minute: must be a number"),
            std::string::npos);
  EXPECT_NE(error_of("limits:\n  default: {rpm: 5}\n").find("limits.default.rpm: unknown key"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace aas::app


namespace aas::app {

// Every setting the start refuses stops it with a message naming the setting and what it wants
// (issue 18: config.cpp's rejected inputs were the largest uncovered part of app/). The messages
// are what an operator reads in the log of a container that will not start, so they are pinned.
TEST(Config, EachRefusedSettingStopsTheStartWithItsOwnMessage) {
  const std::vector<std::pair<std::map<std::string, std::string>, std::string>> cases{
      {{{"SOCKETIO_PATH", "socket.io"}}, "SOCKETIO_PATH: must be a path such as /api/ai/socket.io"},
      {{{"SOCKETIO_PATH", "/a b"}}, "SOCKETIO_PATH: must be a path such as /api/ai/socket.io"},
      {{{"SOCKETIO_PATH", "///"}}, "SOCKETIO_PATH: must be a path such as /api/ai/socket.io"},
      {{{"DATABASE_URL", "sqlite:"}}, "DATABASE_URL: the SQLite path is empty"},
      {{{"JWT_USER_CLAIMS", " , "}}, "JWT_USER_CLAIMS: must name at least one claim"},
      {{{"MAIN_BACKEND_URL", "todo:3000"}}, "MAIN_BACKEND_URL: must start with http:// or https://"},
      {{{"BUDGET_DAILY_USD", "ten"}}, "BUDGET_DAILY_USD: must be an amount of USD, 0 or more, got 'ten'"},
      {{{"BUDGET_MONTHLY_USD", "-1"}}, "BUDGET_MONTHLY_USD: must be an amount of USD, 0 or more, got '-1'"},
      {{{"BUDGET_MONTHLY_USD", "nan"}}, "BUDGET_MONTHLY_USD: must be an amount of USD, 0 or more, got 'nan'"},
      {{{"EMBEDDING_MODEL", "nowhere"}}, "EMBEDDING_MODEL: unknown model 'nowhere'"},
      {{{"WEBHOOK_URLS", "ftp://hooks.test/x"}, {"WEBHOOK_SECRET", "0123456789abcdef"}},
       "WEBHOOK_URLS: each entry must be an http:// or https:// URL"},
      {{{"WEBHOOK_URLS", "http:///x"}, {"WEBHOOK_SECRET", "0123456789abcdef"}},
       "WEBHOOK_URLS: each entry must be an http:// or https:// URL"},
      {{{"WEBHOOK_URLS", "https://hooks.test/x"}, {"WEBHOOK_SECRET", "short"}},
       "WEBHOOK_SECRET: must be set (16 characters or more) when WEBHOOK_URLS is: receivers verify every "
       "event's signature with it"},
      {{{"SUMMARY_MODEL", "gpt-9"}}, "SUMMARY_MODEL: unknown model 'gpt-9'"},
      {{{"KB_HYBRID_VECTOR_WEIGHT", "11"}}, "KB_HYBRID_VECTOR_WEIGHT: must be a number from 0 to 10, got '11'"},
      {{{"KB_HYBRID_VECTOR_WEIGHT", "0.5x"}}, "KB_HYBRID_VECTOR_WEIGHT: must be a number from 0 to 10, got '0.5x'"},
      {{{"KB_HYBRID_FUSION", "max"}}, "KB_HYBRID_FUSION: must be convex or rrf, got 'max'"},
      {{{"GENERATE_TITLES", "1"}}, "GENERATE_TITLES: must be true or false"},
      {{{"JWT_PUBLIC_KEY_FILE", "/nonexistent/aas/key.pem"}}, "JWT_PUBLIC_KEY_FILE: cannot read '/nonexistent/aas/key.pem'"},
      {{{"PRICES_FILE", "/nonexistent/aas/prices.yaml"}}, "PRICES_FILE: cannot read '/nonexistent/aas/prices.yaml'"},
      {{{"CHUNK_TOKENS", "8193"}}, "CHUNK_TOKENS: must be an integer from 32 to 8192, got '8193'"},
      {{{"SOCKETIO_REDIS_KEY", ""}}, "SOCKETIO_REDIS_KEY: must not be empty"},
      {{{"LOG_LEVEL", "loud"}}, "LOG_LEVEL: must be one of trace, debug, info, warn, error, off"},
      {{{"DATABASE_URL", "mysql://u@h/db"}},
       "DATABASE_URL: must be sqlite:PATH (or a path), postgresql://... or postgres://...; got a URL with another scheme"},
      {{{"JWT_ALGORITHMS", "HS512"}}, "JWT_ALGORITHMS: 'HS512' is not one of HS256, RS256, ES256"},
      {{{"JWT_ALGORITHMS", "HS256,ES256"}}, "JWT_ALGORITHMS: ES256 needs JWT_PUBLIC_KEY or JWT_PUBLIC_KEY_FILE"},
      {{{"JWT_SECRET", "fifteen-chars.."}}, "JWT_SECRET: must be at least 16 characters"},
      {{{"BUDGET_DAILY_USD", ""}}, "BUDGET_DAILY_USD: must be an amount of USD, 0 or more, got ''"},
      {{{"BUDGET_DAILY_USD", "1e10"}}, "BUDGET_DAILY_USD: must be an amount of USD, 0 or more, got '1e10'"},
      {{{"WEBHOOK_URLS", "not a url"}, {"WEBHOOK_SECRET", "0123456789abcdef"}},
       "WEBHOOK_URLS: each entry must be an http:// or https:// URL"},
      {{{"CACHE_SHARED", "yes"}}, "CACHE_SHARED: must be true or false"},
      {{{"KB_HYBRID_VECTOR_WEIGHT", ""}}, "KB_HYBRID_VECTOR_WEIGHT: must be a number from 0 to 10, got ''"},
      {{{"KB_HYBRID_VECTOR_WEIGHT", "-1"}}, "KB_HYBRID_VECTOR_WEIGHT: must be a number from 0 to 10, got '-1'"},
      {{{"KB_HYBRID_VECTOR_WEIGHT", "nan"}}, "KB_HYBRID_VECTOR_WEIGHT: must be a number from 0 to 10, got 'nan'"},
      {{{"REDIS_FAIL_MODE", "maybe"}}, "REDIS_FAIL_MODE: must be open or closed"},
  };
  for (const auto& [vars, expected] : cases) EXPECT_EQ(message_of(vars), expected) << vars.begin()->first;
}

TEST(Config, SettingsThatAreAcceptedTakeEffect) {
  const Config c = load_config(from({{"SOCKETIO_PATH", "/rt/io//"},
                                     {"BUDGET_DAILY_USD", "2.5"},
                                     {"KB_HYBRID_VECTOR_WEIGHT", "0.25"},
                                     {"KB_HYBRID_FUSION", "rrf"},
                                     {"GENERATE_TITLES", "false"},
                                     {"WEBHOOK_URLS", "https://hooks.test/a, http://hooks.test:8080/b"},
                                     {"WEBHOOK_SECRET", "0123456789abcdef"},
                                     {"SUMMARY_MODEL", "mock"}}));
  EXPECT_EQ(c.socketio_path, "/rt/io") << "trailing slashes are dropped";
  EXPECT_EQ(c.limit_defaults.daily_budget_micros, 2'500'000);
  EXPECT_DOUBLE_EQ(c.kb_hybrid_vector_weight, 0.25);
  EXPECT_TRUE(c.kb_hybrid_fusion_rrf);
  EXPECT_FALSE(c.generate_titles);
  EXPECT_EQ(c.webhook_urls, (std::vector<std::string>{"https://hooks.test/a", "http://hooks.test:8080/b"}));
  EXPECT_EQ(c.summary_model, "mock");
}

// The YAML file's own shape, and the structured sections' malformed entries.
TEST(Config, AMalformedConfigFileStopsTheStartNamingWhatIsWrong) {
  const aas::testing::TempDir dir("aas-config");
  const auto file = dir / "ai.yaml";
  const auto error_of = [&](const std::string& yaml) {
    std::ofstream(file, std::ios::trunc) << yaml;
    return message_of({{"AI_CONFIG", file.string()}});
  };
  EXPECT_EQ(error_of("- port\n- 4000\n"), "AI_CONFIG: '" + file.string() + "' must be a mapping of keys to values");
  EXPECT_EQ(error_of("port: [unclosed\n").rfind("AI_CONFIG: cannot read '" + file.string() + "': ", 0), 0u)
      << error_of("port: [unclosed\n");
  EXPECT_EQ(message_of({{"AI_CONFIG", (dir / "missing.yaml").string()}})
                .rfind("AI_CONFIG: cannot read '" + (dir / "missing.yaml").string() + "'", 0),
            0u);
  EXPECT_EQ(error_of("cors_origins: {a: b}\n"), "CORS_ORIGINS: must be a value or a list (in " + file.string() + ")");
  EXPECT_EQ(error_of("models: {name: a}\n"), "models: must be a list");
  EXPECT_EQ(error_of("models:\n  - deployments: [{provider: openai}]\n"), "models[0].name: required");
  EXPECT_EQ(error_of("models:\n  - {name: a, deployments: []}\n"), "models[a].deployments: at least one is required");
  EXPECT_EQ(error_of("models:\n  - {name: a, deployments: [{provider: openai, weight: 0}]}\n"),
            "models[a].deployments: weight and max_concurrency must be >= 1");
  EXPECT_EQ(error_of("models:\n  - {name: a, deployments: [{provider: openai, max_queue: -1}]}\n"),
            "models[a].deployments: weight and max_concurrency must be >= 1");
  // Found by this test: `weight: heavy` ran as weight 1 (yaml-cpp's as<int>(1) falls back on a bad value).
  for (const char* key : {"weight", "max_concurrency", "max_queue"}) {
    const std::string message =
        error_of(std::string("models:\n  - {name: a, deployments: [{provider: openai, ") + key + ": heavy}]}\n");
    EXPECT_EQ(message.rfind("models: ", 0), 0u) << message;
    EXPECT_NE(message.find("bad conversion"), std::string::npos) << message;
  }
  EXPECT_EQ(error_of("models:\n  - {name: a, fallbacks: [b], deployments: [{provider: openai}]}\n"),
            "models[a].fallbacks: unknown model 'b'");
  EXPECT_EQ(error_of("tools: {name: t}\n"), "tools: must be a list");
  EXPECT_EQ(error_of("tools:\n  - {name: t, path: /x, query: {a: b}}\n").rfind("tools[t]: ", 0), 0u);
  EXPECT_EQ(error_of("mcp: {name: m}\n"), "mcp: must be a list");
  EXPECT_EQ(error_of("mcp:\n  - {name: m, url: \"http://127.0.0.1:1/mcp\", token: x}\n"), "mcp[m].token: unknown key");
  EXPECT_EQ(error_of("mcp:\n  - {name: m, url: \"http://127.0.0.1:1/mcp\", headers: [a]}\n"),
            "mcp[m].headers: must be a map of header names to values");
  EXPECT_EQ(error_of("mcp:\n  - {name: m, url: \"http://127.0.0.1:1/mcp\", allow: {a: b}}\n"),
            "mcp[m]: name and url are text, allow a list of tool names, headers a map of text");
}

// MCP servers from the file: name, URL, the allow-list and headers (whose values are secrets).
TEST(Config, McpServersAreReadFromTheFile) {
  const aas::testing::TempDir dir("aas-config");
  const auto file = dir / "ai.yaml";
  std::ofstream(file) << "mcp:\n  - name: files\n    url: http://127.0.0.1:7000/mcp\n    allow: [read, list]\n"
                         "    headers: {Authorization: Bearer s3cret}\n";
  const Config c = load_config(from({{"AI_CONFIG", file.string()}}));
  ASSERT_EQ(c.agent.mcp.size(), 1u);
  EXPECT_EQ(c.agent.mcp[0].name, "files");
  EXPECT_EQ(c.agent.mcp[0].url, "http://127.0.0.1:7000/mcp");
  EXPECT_EQ(c.agent.mcp[0].allow, (std::vector<std::string>{"read", "list"}));
  ASSERT_EQ(c.agent.mcp[0].headers.size(), 1u);
  EXPECT_EQ(c.agent.mcp[0].headers[0], (std::pair<std::string, std::string>{"Authorization", "Bearer s3cret"}));
}

// Without JWT_SECRET, a development secret is written beside the database; a place that cannot
// hold it stops the start (rather than a secret that changes at every restart).
TEST(Config, ADevelopmentSecretThatCannotBeWrittenStopsTheStart) {
  const aas::testing::TempDir dir("aas-config");
  std::filesystem::create_directories(dir / "db" / "dev-jwt-secret");  // a directory where the file goes
  Config c = load_config(from({{"DATABASE_URL", "sqlite:" + (dir / "db" / "ai.db").string()}}));
  try {
    ensure_jwt_secret(c);
    ADD_FAILURE() << "the start went on without a secret it could keep";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "JWT_SECRET: not set, and cannot write a development secret to " +
                                         (dir / "db" / "dev-jwt-secret").string());
  }
}

}  // namespace aas::app

namespace aas::app {

// Every integer setting is read through one parser per integer type: each type refuses a word,
// trailing characters, and both ends of its range, naming the key and the range.
TEST(Config, EachIntegerTypeRefusesWordsTrailingCharactersAndBothEndsOfItsRange) {
  for (const auto& [key, low, high] : {std::tuple{"PORT", "-1", "65536"},                  // std::uint16_t
                                       std::tuple{"THREADS", "-1", "257"},                 // unsigned
                                       std::tuple{"MAX_BODY_BYTES", "1023", "67108865"},    // std::size_t
                                       std::tuple{"MAX_OUTPUT_TOKENS", "0", "1000001"},     // int
                                       std::tuple{"LIMIT_RPM", "-1", "1000000001"},         // std::int64_t
                                       std::tuple{"JWT_LEEWAY_SECONDS", "-1", "3601"},      // long long
                                       std::tuple{"IDLE_TIMEOUT_MS", "99", "3600001"}}) {   // milliseconds
    for (const std::string& value : {std::string("many"), std::string("12x"), std::string(low), std::string(high)}) {
      const std::string message = message_of({{key, value}});
      EXPECT_EQ(message.rfind(std::string(key) + ": must be an integer from ", 0), 0u) << message;
      EXPECT_NE(message.find(", got '" + value + "'"), std::string::npos) << message;
    }
  }
}

TEST(Config, KeyAndPriceFilesAreReadAndOtherAcceptedFormsTakeEffect) {
  const aas::testing::TempDir dir("aas-config");
  std::ofstream(dir / "key.pem") << "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n";
  std::ofstream(dir / "prices.yaml") << "models:\n  house-model: {input: 1, output: 2}\n";
  const Config c = load_config(from({{"JWT_PUBLIC_KEY_FILE", (dir / "key.pem").string()},
                                     {"PRICES_FILE", (dir / "prices.yaml").string()},
                                     {"DATABASE_URL", "sqlite://" + (dir / "ai.db").string()},
                                     {"MAIN_BACKEND_URL", "https://todo.example"},
                                     {"KB_HYBRID_FUSION", "convex"},
                                     {"CACHE_SHARED", "false"},
                                     {"GENERATE_TITLES", "true"},
                                     {"REDIS_FAIL_MODE", "open"},
                                     {"JWT_ISSUER", "todo"},
                                     {"JWT_AUDIENCE", "ai"},
                                     {"OPENAI_BASE_URL", "http://127.0.0.1:1/v1"},
                                     {"OPENAI_MODELS", " a ,, b "}}));
  EXPECT_EQ(c.jwt_public_key_pem, "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n");
  EXPECT_EQ(c.jwt_algorithms, (std::vector<std::string>{"RS256", "ES256"}));
  ASSERT_NE(c.prices.find("house-model"), nullptr);
  EXPECT_DOUBLE_EQ(c.prices.find("house-model")->output, 2);
  EXPECT_EQ(c.sqlite_path, (dir / "ai.db").string());
  EXPECT_EQ(c.main_backend_url, "https://todo.example");
  EXPECT_FALSE(c.kb_hybrid_fusion_rrf);
  EXPECT_FALSE(c.cache_shared);
  EXPECT_TRUE(c.generate_titles);
  EXPECT_TRUE(c.redis_fail_open);
  EXPECT_EQ(c.jwt_issuer, "todo");
  EXPECT_EQ(c.jwt_audience, "ai");
  // Empty names in a model list are skipped; a keyless local upstream gets no keys, also for the
  // embedding model added beside the listed ones.
  ASSERT_EQ(c.models.size(), 3u);
  EXPECT_EQ(c.models[0].name, "a");
  EXPECT_EQ(c.models[1].name, "b");
  EXPECT_EQ(c.models[2].name, "text-embedding-3-small");
  for (const ModelSpec& m : c.models) EXPECT_TRUE(m.deployments.at(0).api_keys.empty()) << m.name;
}

TEST(Config, AnEmptyFileOrEmptyKeysChangeNothing) {
  const aas::testing::TempDir dir("aas-config");
  const auto file = dir / "ai.yaml";
  std::ofstream(file) << "";
  EXPECT_EQ(load_config(from({{"AI_CONFIG", file.string()}})).port, 4002);
  std::ofstream(file, std::ios::trunc) << "port:\nlog_level: warn\n";
  const Config c = load_config(from({{"AI_CONFIG", file.string()}}));
  EXPECT_EQ(c.port, 4002) << "a key without a value keeps the default";
  EXPECT_EQ(c.log_level, "warn");
}

TEST(Config, DeploymentsToolsAndMcpServersInTheirOtherForms) {
  const aas::testing::TempDir dir("aas-config");
  const auto file = dir / "ai.yaml";
  const std::string yaml = R"(models:
  - name: local
    deployments:
      - {provider: mock, max_concurrency: 2, max_queue: 0}
tools:
  - name: find
    path: /api/todos
    query: [q]
    body: [note]
    parameters: '{"type":"object","properties":{"q":{"type":"string"},"note":{"type":"string"}}}'
  - name: ping
    method: post
    path: /api/ping
    fixed: {a: ~, b: null, c: 'true', d: "7", e: 1.5, f: [x, false]}
)";
  std::ofstream(file) << yaml << "mcp:\n  - url: \"http://127.0.0.1:1/mcp\"\n";
  try {
    load_config(from({{"AI_CONFIG", file.string()}, {"MAIN_BACKEND_URL", "http://todo:3000"}}));
    ADD_FAILURE() << "an MCP server without a name was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("mcp"), std::string::npos) << e.what();
  }
  std::ofstream(file, std::ios::trunc) << yaml;
  const Config c = load_config(from({{"AI_CONFIG", file.string()}, {"MAIN_BACKEND_URL", "http://todo:3000"}}));
  ASSERT_EQ(c.models.size(), 1u);
  EXPECT_EQ(c.models[0].deployments[0].provider, "mock");
  EXPECT_EQ(c.models[0].deployments[0].max_concurrency, 2);
  EXPECT_EQ(c.models[0].deployments[0].max_queue, 0);
  ASSERT_EQ(c.agent.tools.size(), 2u);
  EXPECT_EQ(c.agent.tools[0].method, "GET");
  EXPECT_EQ(c.agent.tools[0].query, std::vector<std::string>{"q"});
  EXPECT_EQ(c.agent.tools[0].body, std::vector<std::string>{"note"});
  EXPECT_EQ(c.agent.tools[0].parameters, R"({"type":"object","properties":{"q":{"type":"string"},"note":{"type":"string"}}})")
      << "JSON text is kept as written";
  // Plain scalars are typed as YAML reads them; quoted ones stay text.
  EXPECT_EQ(c.agent.tools[1].fixed, R"({"a":null,"b":null,"c":"true","d":"7","e":1.5E0,"f":["x",false]})");

  const auto error_of = [&](const std::string& yaml) {
    std::ofstream(file, std::ios::trunc) << yaml;
    return message_of({{"AI_CONFIG", file.string()}, {"MAIN_BACKEND_URL", "http://todo:3000"}});
  };
  EXPECT_EQ(error_of("models:\n  - {name: a, deployments: {provider: openai}}\n"),
            "models[a].deployments: at least one is required");
  EXPECT_EQ(error_of("models:\n  - {name: a, deployments: [{provider: openai, max_concurrency: 0}]}\n"),
            "models[a].deployments: weight and max_concurrency must be >= 1");
  EXPECT_EQ(error_of("tools:\n  - {path: /x, verb: GET}\n"), "tools[0].verb: unknown key");
  // Found by this test: `confirm: maybe` ran the tool unconfirmed (yaml-cpp's as<bool>(false)
  // falls back on a value it cannot read); now the start stops.
  const std::string confirm = error_of("tools:\n  - {name: t, path: /x, confirm: maybe}\n");
  EXPECT_EQ(confirm.rfind("tools[t]: ", 0), 0u) << confirm;
  EXPECT_NE(confirm.find("bad conversion"), std::string::npos) << confirm;
  EXPECT_EQ(error_of("mcp:\n  - {url: \"http://127.0.0.1:1/mcp\", token: x}\n"), "mcp[0].token: unknown key");
}

TEST(Config, TheDevelopmentSecretFileIsPlacedByTheDatabaseAndRenewedWhenTooShort) {
  // A public key (or a secret) needs no development secret.
  Config keyed = load_config(from({{"JWT_PUBLIC_KEY", "pem"}}));
  ensure_jwt_secret(keyed);
  EXPECT_FALSE(keyed.jwt_secret_generated);
  EXPECT_TRUE(keyed.jwt_secret.empty());

  // A secret file too short to be safe (an edited or truncated one) is replaced.
  const aas::testing::TempDir dir("aas-config");
  std::ofstream(dir / "dev-jwt-secret") << "short\n";
  Config c = load_config(from({{"DATABASE_URL", (dir / "ai.db").string()}}));
  ensure_jwt_secret(c);
  EXPECT_TRUE(c.jwt_secret_created);
  EXPECT_EQ(c.jwt_secret.size(), 64u);
  std::string stored;
  std::getline(std::ifstream(dir / "dev-jwt-secret"), stored);
  EXPECT_EQ(stored, c.jwt_secret);

  // A database path without a folder puts it in the working directory; PostgreSQL in ./data.
  const auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir.path());
  Config bare = load_config(from({{"DATABASE_URL", "ai.db"}}));
  ensure_jwt_secret(bare);
  EXPECT_EQ(bare.jwt_secret_file, (dir / "dev-jwt-secret").string());
  EXPECT_EQ(bare.jwt_secret, c.jwt_secret) << "the same file as above";
  Config pg = load_config(from({{"DATABASE_URL", "postgresql://db/aas"}}));
  ensure_jwt_secret(pg);
  EXPECT_EQ(pg.jwt_secret_file, (dir / "data" / "dev-jwt-secret").string());
  EXPECT_TRUE(std::filesystem::exists(dir / "data" / "dev-jwt-secret"));
  std::filesystem::current_path(cwd);
}

}  // namespace aas::app
