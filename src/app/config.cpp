#include "app/config.hpp"

#include "http/client.hpp"
#include "redis/client.hpp"
#include "store/postgres/postgres_store.hpp"

#include <boost/url/parse.hpp>
#include <openssl/rand.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace aas::app {

namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

YAML::Node load_yaml(const std::string& path) {
  try {
    YAML::Node root = YAML::LoadFile(path);
    if (root && !root.IsNull() && !root.IsMap())
      throw ConfigError("AI_CONFIG: '" + path + "' must be a mapping of keys to values");
    return root;
  } catch (const YAML::Exception& e) {
    throw ConfigError("AI_CONFIG: cannot read '" + path + "': " + e.what());
  }
}

// The YAML file's simple keys as a flat map of upper-case key -> text (sequences joined by
// commas); `models`, `limits`, `tools` and `mcp` are structured and read by their own readers.
std::map<std::string, std::string> flat_keys(const YAML::Node& root, const std::string& path) {
  std::map<std::string, std::string> out;
  if (!root || root.IsNull()) return out;
  for (const auto& kv : root) {
    const std::string key = upper(kv.first.as<std::string>());
    if (key == "MODELS" || key == "LIMITS" || key == "TOOLS" || key == "MCP") continue;
    if (kv.second.IsSequence()) {
      std::string joined;
      for (const auto& item : kv.second) joined += (joined.empty() ? "" : ",") + item.as<std::string>();
      out[key] = joined;
    } else if (kv.second.IsScalar()) {
      out[key] = kv.second.as<std::string>();
    } else if (!kv.second.IsNull()) {
      throw ConfigError(key + ": must be a value or a list (in " + path + ")");
    }
  }
  return out;
}

class Source {
 public:
  Source(const Lookup& env, std::map<std::string, std::string> file)
      : env_(env), file_(std::move(file)) {}

  std::optional<std::string> get(std::string_view key) const {
    if (auto v = env_(key)) return v;
    if (auto it = file_.find(std::string(key)); it != file_.end()) return it->second;
    return std::nullopt;
  }

  void text(std::string_view key, std::string& out) const {
    if (auto v = get(key)) out = *v;
  }

  template <class Int>
  void integer(std::string_view key, Int& out, long long min, long long max) const {
    auto v = get(key);
    if (!v) return;
    long long n = 0;
    const char* end = v->data() + v->size();
    auto [ptr, ec] = std::from_chars(v->data(), end, n);
    if (ec != std::errc() || ptr != end || n < min || n > max)
      throw ConfigError(std::string(key) + ": must be an integer from " + std::to_string(min) +
                        " to " + std::to_string(max) + ", got '" + *v + "'");
    out = static_cast<Int>(n);
  }

  void millis(std::string_view key, std::chrono::milliseconds& out, long long min, long long max) const {
    long long n = out.count();
    integer(key, n, min, max);
    out = std::chrono::milliseconds(n);
  }

  void list(std::string_view key, std::vector<std::string>& out) const {
    auto v = get(key);
    if (!v) return;
    out.clear();
    std::stringstream ss(*v);
    std::string item;
    while (std::getline(ss, item, ',')) {
      item.erase(0, item.find_first_not_of(" \t"));
      item.erase(item.find_last_not_of(" \t") + 1);
      if (!item.empty()) out.push_back(item);
    }
  }

 private:
  const Lookup& env_;
  std::map<std::string, std::string> file_;
};

std::string read_file(const std::string& key, const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(key + ": cannot read '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string sqlite_path_of(const std::string& url) {
  if (url.rfind("sqlite://", 0) == 0) return url.substr(9);
  if (url.rfind("sqlite:", 0) == 0) return url.substr(7);
  if (url.find("://") != std::string::npos)
    throw ConfigError("DATABASE_URL: must be sqlite:PATH (or a path), postgresql://... or "
                      "postgres://...; got a URL with another scheme");
  return url;
}

}  // namespace

Lookup environment() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (!v || !*v) return std::nullopt;
    return std::string(v);
  };
}

// models:
//   - name: gpt-4o-mini
//     price: {input: 0.15, output: 0.60}        # USD per million tokens
//     fallbacks: [claude-haiku]
//     deployments:
//       - {provider: openai, model: gpt-4o-mini, api_keys: [sk-1, sk-2], weight: 2}
//       - {provider: openai, model: gpt-4o-mini, base_url: http://localhost:11434/v1}
std::vector<ModelSpec> read_models(const YAML::Node& list) {
  std::vector<ModelSpec> out;
  if (!list) return out;
  if (!list.IsSequence()) throw ConfigError("models: must be a list");
  try {
    for (const auto& m : list) {
      ModelSpec spec;
      spec.name = m["name"].as<std::string>("");
      const std::string where = "models[" + (spec.name.empty() ? std::to_string(out.size()) : spec.name) + "]";
      if (spec.name.empty()) throw ConfigError(where + ".name: required");
      if (m["fallbacks"]) spec.fallbacks = m["fallbacks"].as<std::vector<std::string>>();
      if (const auto price = m["price"]) spec.price = parse_price_entry(price, where + ".price");
      if (!m["deployments"] || !m["deployments"].IsSequence() || m["deployments"].size() == 0)
        throw ConfigError(where + ".deployments: at least one is required");
      for (const auto& d : m["deployments"]) {
        DeploymentSpec dep;
        dep.provider = d["provider"].as<std::string>("");
        if (dep.provider != "openai" && dep.provider != "anthropic" && dep.provider != "mock")
          throw ConfigError(where + ".deployments.provider: one of openai, anthropic, mock");
        dep.model = d["model"].as<std::string>(spec.name);
        dep.base_url = d["base_url"].as<std::string>("");
        if (d["api_keys"]) dep.api_keys = d["api_keys"].as<std::vector<std::string>>();
        if (d["api_key"]) dep.api_keys.push_back(d["api_key"].as<std::string>());
        if (d["headers"]) {
          for (const auto& h : d["headers"]) {
            std::string name = h.first.as<std::string>();
            std::transform(name.begin(), name.end(), name.begin(),
                           [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
            dep.headers.emplace_back(std::move(name), h.second.as<std::string>());
          }
        }
        // as<int>(fallback) would also return the fallback for a value that is not a number
        // (`weight: heavy` ran as weight 1): only a missing key takes the default.
        const auto count = [&d](const char* key, int fallback) { return d[key] ? d[key].as<int>() : fallback; };
        dep.weight = count("weight", 1);
        dep.max_concurrency = count("max_concurrency", 64);
        dep.max_queue = count("max_queue", 256);
        if (dep.weight < 1 || dep.max_concurrency < 1 || dep.max_queue < 0)
          throw ConfigError(where + ".deployments: weight and max_concurrency must be >= 1");
        if (d["reserved_slots"]) {
          dep.reserved_slots = d["reserved_slots"].as<int>();
          if (dep.reserved_slots < 0 || dep.reserved_slots >= dep.max_concurrency)
            throw ConfigError(where + ".deployments.reserved_slots: from 0 to max_concurrency - 1");
        }
        spec.deployments.push_back(std::move(dep));
      }
      out.push_back(std::move(spec));
    }
  } catch (const YAML::Exception& e) {
    throw ConfigError(std::string("models: ") + e.what());
  }
  return out;
}

// ---- agent (issue 15) ----------------------------------------------------------------------
// tools:
//   - name: create_todo
//     description: Add a todo for the user
//     method: POST
//     path: /api/todos                 # under MAIN_BACKEND_URL
//     parameters: {type: object, properties: {title: {type: string}}, required: [title]}
//     body: [title]                    # optional; query: [...] alike
//     confirm: false
//     roles: []                        # empty: every user
// `parameters` may also be JSON text. The tools are checked (validate_tools) once
// MAIN_BACKEND_URL is known.
// A YAML node as JSON (a schema written as YAML): plain scalars that read as numbers, booleans or
// null become those; quoted ones stay strings.
boost::json::value yaml_to_json(const YAML::Node& n) {
  if (n.IsMap()) {
    boost::json::object out;
    for (const auto& kv : n) out[kv.first.as<std::string>()] = yaml_to_json(kv.second);
    return out;
  }
  if (n.IsSequence()) {
    boost::json::array out;
    for (const auto& item : n) out.push_back(yaml_to_json(item));
    return out;
  }
  if (!n.IsScalar()) return nullptr;
  const std::string& v = n.Scalar();
  if (n.Tag() != "!") {
    if (v == "true" || v == "false") return v == "true";
    if (v == "null" || v == "~") return nullptr;
    std::int64_t i = 0;
    if (auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), i); ec == std::errc() && p == v.data() + v.size())
      return i;
    double d = 0;
    if (auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), d); ec == std::errc() && p == v.data() + v.size())
      return d;
  }
  return boost::json::string(v);
}

std::vector<agent::HttpToolSpec> read_tools(const YAML::Node& list) {
  std::vector<agent::HttpToolSpec> out;
  if (!list) return out;
  if (!list.IsSequence()) throw ConfigError("tools: must be a list");
  for (const auto& t : list) {
    agent::HttpToolSpec spec;
    const std::string where = "tools[" + (t["name"] ? t["name"].as<std::string>("") : std::to_string(out.size())) + "]";
    try {
      for (const auto& kv : t) {
        static const std::set<std::string> known{"name", "description", "parameters", "method", "path",
                                                 "query", "body", "fixed", "confirm", "roles"};
        if (!known.count(kv.first.as<std::string>()))
          throw ConfigError(where + "." + kv.first.as<std::string>() + ": unknown key");
      }
      spec.name = t["name"].as<std::string>("");
      spec.description = t["description"].as<std::string>("");
      if (const auto p = t["parameters"]) spec.parameters = p.IsScalar() ? p.as<std::string>() : boost::json::serialize(yaml_to_json(p));
      spec.method = upper(t["method"].as<std::string>("GET"));
      spec.path = t["path"].as<std::string>("");
      if (t["query"]) spec.query = t["query"].as<std::vector<std::string>>();
      if (t["body"]) spec.body = t["body"].as<std::vector<std::string>>();
      if (const auto f = t["fixed"]) spec.fixed = boost::json::serialize(yaml_to_json(f));
      // as<bool>(false) would also read a value that is not a boolean (`confirm: maybe`) as false,
      // running a tool meant to be confirmed without asking: only a missing key is false.
      spec.confirm = t["confirm"] && t["confirm"].as<bool>();
      if (t["roles"]) spec.roles = t["roles"].as<std::vector<std::string>>();
    } catch (const YAML::Exception& e) {
      throw ConfigError(where + ": " + e.what());
    }
    out.push_back(std::move(spec));
  }
  return out;
}

// `mcp:` servers. Header values may be secrets: no error message repeats one.
std::vector<agent::McpServerSpec> read_mcp(const YAML::Node& list) {
  std::vector<agent::McpServerSpec> out;
  if (!list) return out;
  if (!list.IsSequence()) throw ConfigError("mcp: must be a list");
  for (const auto& m : list) {
    agent::McpServerSpec spec;
    const std::string where = "mcp[" + (m["name"] ? m["name"].as<std::string>("") : std::to_string(out.size())) + "]";
    try {
      for (const auto& kv : m) {
        static const std::set<std::string> known{"name", "url", "allow", "headers"};
        if (!known.count(kv.first.as<std::string>()))
          throw ConfigError(where + "." + kv.first.as<std::string>() + ": unknown key");
      }
      spec.name = m["name"].as<std::string>("");
      spec.url = m["url"].as<std::string>("");
      if (m["allow"]) spec.allow = m["allow"].as<std::vector<std::string>>();
      if (const auto h = m["headers"]) {
        if (!h.IsMap()) throw ConfigError(where + ".headers: must be a map of header names to values");
        for (const auto& kv : h) spec.headers.emplace_back(kv.first.as<std::string>(), kv.second.as<std::string>(""));
      }
    } catch (const YAML::Exception&) {
      throw ConfigError(where + ": name and url are text, allow a list of tool names, headers a map of text");
    }
    out.push_back(std::move(spec));
  }
  return out;
}

void read_agent(const Source& src, const YAML::Node& root, Config& c) {
  if (root) c.agent.tools = read_tools(root["tools"]);
  if (root) c.agent.mcp = read_mcp(root["mcp"]);
  src.millis("MCP_START_TIMEOUT_MS", c.agent.mcp_start_timeout, 0, 600'000);
  src.millis("MCP_REFRESH_MS", c.agent.mcp_refresh, 0, 86'400'000);
  if (auto valid = agent::validate_mcp(c.agent.mcp, c.agent.tools); !valid) throw ConfigError(valid.error().message);
  src.integer("AGENT_MAX_STEPS", c.agent.max_steps, 1, 100);
  src.integer("AGENT_MAX_PARALLEL_TOOLS", c.agent.max_parallel_tools, 1, 64);
  src.millis("TOOL_TIMEOUT_MS", c.agent.tool_timeout, 10, 600'000);
  src.integer("TOOL_RESULT_MAX_TOKENS", c.agent.tool_result_max_tokens, 16, 1'000'000);
  src.millis("TOOL_CONFIRM_TIMEOUT_MS", c.agent.confirm_timeout, 10, 24LL * 3600 * 1000);
  if (auto valid = agent::validate_tools(c.agent.tools, c.main_backend_url); !valid)
    throw ConfigError(valid.error().message);
}
// ---- end agent ------------------------------------------------------------------------------

// The simple case without a file: one model list per provider key, all on one deployment.
std::vector<ModelSpec> models_from_env(const Config& c, const Source& src) {
  std::vector<ModelSpec> out;
  const auto add = [&](const std::string& provider, const std::string& list_key, const std::string& defaults,
                       const std::string& base_url, const std::string& key) {
    std::vector<std::string> names;
    std::stringstream ss(src.get(list_key).value_or(defaults));
    for (std::string n; std::getline(ss, n, ',');) {
      n.erase(0, n.find_first_not_of(" \t"));
      n.erase(n.find_last_not_of(" \t") + 1);
      if (!n.empty()) names.push_back(n);
    }
    for (const std::string& n : names) {
      ModelSpec spec;
      spec.name = n;
      DeploymentSpec dep;
      dep.provider = provider;
      dep.model = n;
      dep.base_url = base_url;
      if (!key.empty()) dep.api_keys = {key};
      spec.deployments.push_back(std::move(dep));
      out.push_back(std::move(spec));
    }
  };
  if (!c.openai_api_key.empty() || !c.openai_base_url.empty())
    add("openai", "OPENAI_MODELS", "gpt-4o-mini,gpt-4o", c.openai_base_url, c.openai_api_key);
  // ANTHROPIC_BASE_URL alone (a local upstream that needs no key) serves the models as
  // OPENAI_BASE_URL does; before it was read, a key meant for a local upstream went to the vendor.
  if (!c.anthropic_api_key.empty() || !c.anthropic_base_url.empty())
    add("anthropic", "ANTHROPIC_MODELS", "claude-3-5-haiku-latest,claude-sonnet-4-5", c.anthropic_base_url,
        c.anthropic_api_key);
  return out;
}

namespace {

// USD (as written in config) to integer micro-dollars.
std::int64_t usd_micros(double usd) { return static_cast<std::int64_t>(std::llround(usd * 1e6)); }

// One entry of the YAML `limits:` section: {requests_per_minute, tokens_per_minute,
// concurrent_streams, daily_budget_usd, monthly_budget_usd}, each optional.
limits::PolicyPatch read_limit_patch(const YAML::Node& n, const std::string& where) {
  if (!n.IsMap()) throw ConfigError(where + ": must be a map");
  limits::PolicyPatch p;
  for (const auto& kv : n) {
    const std::string key = kv.first.as<std::string>();
    const std::string at = where + "." + key;
    try {
      if (key == "requests_per_minute" || key == "tokens_per_minute" || key == "concurrent_streams") {
        const long long v = kv.second.as<long long>();
        if (v < 0) throw ConfigError(at + ": must be 0 (no limit) or more");
        (key == "requests_per_minute" ? p.requests_per_minute
         : key == "tokens_per_minute" ? p.tokens_per_minute
                                      : p.concurrent_streams) = v;
      } else if (key == "daily_budget_usd" || key == "monthly_budget_usd") {
        const double v = kv.second.as<double>();
        if (!(v >= 0)) throw ConfigError(at + ": must be 0 or more (USD)");
        (key == "daily_budget_usd" ? p.daily_budget_micros : p.monthly_budget_micros) = usd_micros(v);
      } else {
        throw ConfigError(at + ": unknown key (requests_per_minute, tokens_per_minute, "
                          "concurrent_streams, daily_budget_usd, monthly_budget_usd)");
      }
    } catch (const YAML::Exception&) {
      throw ConfigError(at + ": must be a number");
    }
  }
  return p;
}

void read_limits(const YAML::Node& n, Config& c) {
  if (!n) return;
  if (!n.IsMap()) throw ConfigError("limits: must be a map with default, roles and users");
  for (const auto& kv : n) {
    const std::string key = kv.first.as<std::string>();
    if (key == "default") {
      const limits::PolicyPatch d = read_limit_patch(kv.second, "limits.default");
      if (d.requests_per_minute) c.limit_defaults.requests_per_minute = *d.requests_per_minute;
      if (d.tokens_per_minute) c.limit_defaults.tokens_per_minute = *d.tokens_per_minute;
      if (d.concurrent_streams) c.limit_defaults.concurrent_streams = *d.concurrent_streams;
      if (d.daily_budget_micros) c.limit_defaults.daily_budget_micros = d.daily_budget_micros;
      if (d.monthly_budget_micros) c.limit_defaults.monthly_budget_micros = d.monthly_budget_micros;
    } else if (key == "roles" || key == "users") {
      if (!kv.second.IsMap()) throw ConfigError("limits." + key + ": must map names to limits");
      auto& target = key == "roles" ? c.limit_roles : c.limit_users;
      for (const auto& e : kv.second) {
        const std::string name = e.first.as<std::string>();
        target[name] = read_limit_patch(e.second, "limits." + key + "." + name);
      }
    } else {
      throw ConfigError("limits." + key + ": unknown key (default, roles, users)");
    }
  }
}

}  // namespace

Config load_config(const Lookup& env) {
  YAML::Node root;
  std::string path;
  if (auto p = env("AI_CONFIG")) root = load_yaml(path = *p);
  const Source src(env, flat_keys(root, path));

  Config c;
  src.text("HOST", c.host);
  src.integer("PORT", c.port, 0, 65535);
  src.integer("THREADS", c.threads, 0, 256);
  src.integer("MAX_BODY_BYTES", c.max_body_bytes, 1024, 64LL * 1024 * 1024);
  src.integer("MAX_HEADER_BYTES", c.max_header_bytes, 1024, 1024 * 1024);
  rlimit files{};
  c.max_connections = connections_for_fd_limit(
      getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY ? files.rlim_cur : 1'048'576);
  src.integer("MAX_CONNECTIONS", c.max_connections, 0, 10'000'000);
  src.integer("MAX_CONNECTIONS_PER_IP", c.max_connections_per_ip, 0, 10'000'000);
  src.millis("IDLE_TIMEOUT_MS", c.idle_timeout, 100, 3'600'000);
  src.millis("READ_TIMEOUT_MS", c.read_timeout, 100, 3'600'000);
  src.millis("REQUEST_TIMEOUT_MS", c.request_timeout, 100, 3'600'000);
  src.millis("SHUTDOWN_GRACE_MS", c.shutdown_grace, 0, 3'600'000);
  src.list("CORS_ORIGINS", c.cors_origins);
  src.text("SOCKETIO_PATH", c.socketio_path);
  while (c.socketio_path.size() > 1 && c.socketio_path.back() == '/') c.socketio_path.pop_back();
  if (c.socketio_path.size() < 2 || c.socketio_path.front() != '/' ||
      c.socketio_path.find_first_of("?#% ") != std::string::npos)
    throw ConfigError("SOCKETIO_PATH: must be a path such as /api/ai/socket.io");
  src.millis("SOCKETIO_PING_INTERVAL_MS", c.socketio_ping_interval, 100, 3'600'000);
  src.millis("SOCKETIO_PING_TIMEOUT_MS", c.socketio_ping_timeout, 100, 3'600'000);
  src.millis("SOCKETIO_CONNECT_TIMEOUT_MS", c.socketio_connect_timeout, 100, 3'600'000);
  src.integer("SOCKETIO_MAX_PAYLOAD_BYTES", c.socketio_max_payload, 1024, 64LL * 1024 * 1024);
  src.integer("SOCKETIO_EVENTS_PER_SECOND", c.socketio_events_per_second, 0, 100'000);
  src.integer("SOCKETIO_EVENT_BURST", c.socketio_event_burst, 1, 100'000);
  src.text("SOCKETIO_REDIS_KEY", c.socketio_redis_key);
  if (c.socketio_redis_key.empty()) throw ConfigError("SOCKETIO_REDIS_KEY: must not be empty");
  src.text("LOG_LEVEL", c.log_level);
  static const std::vector<std::string> levels{"trace", "debug", "info", "warn", "error", "off"};
  if (std::find(levels.begin(), levels.end(), c.log_level) == levels.end())
    throw ConfigError("LOG_LEVEL: must be one of trace, debug, info, warn, error, off");

  src.text("DATABASE_URL", c.database_url);
  if (store::postgres::is_postgres_url(c.database_url)) {
    c.database_driver = "postgres";
  } else {
    c.database_driver = "sqlite";
    c.sqlite_path = sqlite_path_of(c.database_url);
    if (c.sqlite_path.empty()) throw ConfigError("DATABASE_URL: the SQLite path is empty");
  }
  src.text("REDIS_URL", c.redis_url);
  if (!c.redis_url.empty()) {
    if (auto parsed = redis::parse_url(c.redis_url); !parsed) throw ConfigError(parsed.error().message);
  }
  if (auto v = src.get("REDIS_FAIL_MODE")) {
    if (*v != "open" && *v != "closed") throw ConfigError("REDIS_FAIL_MODE: must be open or closed");
    c.redis_fail_open = *v == "open";
  }
  src.millis("REDIS_TIMEOUT_MS", c.redis_timeout, 10, 60'000);
  src.text("REDIS_KEY_PREFIX", c.redis_key_prefix);

  src.text("JWT_SECRET", c.jwt_secret);
  src.text("JWT_PUBLIC_KEY", c.jwt_public_key_pem);
  if (auto path = src.get("JWT_PUBLIC_KEY_FILE")) c.jwt_public_key_pem = read_file("JWT_PUBLIC_KEY_FILE", *path);
  src.list("JWT_ALGORITHMS", c.jwt_algorithms);
  // With a public key, only the asymmetric algorithms unless JWT_ALGORITHMS also names HS256: a
  // JWT_SECRET left over (or set for the `token` command) must not open a second way in.
  if (c.jwt_algorithms.empty())
    c.jwt_algorithms = c.jwt_public_key_pem.empty() ? std::vector<std::string>{"HS256"}
                                                    : std::vector<std::string>{"RS256", "ES256"};
  for (const std::string& alg : c.jwt_algorithms) {
    if (alg != "HS256" && alg != "RS256" && alg != "ES256")
      throw ConfigError("JWT_ALGORITHMS: '" + alg + "' is not one of HS256, RS256, ES256");
    if (alg != "HS256" && c.jwt_public_key_pem.empty())
      throw ConfigError("JWT_ALGORITHMS: " + alg + " needs JWT_PUBLIC_KEY or JWT_PUBLIC_KEY_FILE");
  }
  if (!c.jwt_secret.empty() && c.jwt_secret.size() < 16)
    throw ConfigError("JWT_SECRET: must be at least 16 characters");
  if (auto v = src.get("JWT_ISSUER")) c.jwt_issuer = *v;
  if (auto v = src.get("JWT_AUDIENCE")) c.jwt_audience = *v;
  long long leeway = c.jwt_leeway.count();
  src.integer("JWT_LEEWAY_SECONDS", leeway, 0, 3600);
  c.jwt_leeway = std::chrono::seconds(leeway);
  src.list("JWT_USER_CLAIMS", c.jwt_user_claims);
  if (c.jwt_user_claims.empty()) throw ConfigError("JWT_USER_CLAIMS: must name at least one claim");
  src.list("JWT_ROLE_CLAIMS", c.jwt_role_claims);
  src.text("ADMIN_ROLE", c.admin_role);
  src.text("MAIN_BACKEND_URL", c.main_backend_url);
  if (!c.main_backend_url.empty() && c.main_backend_url.rfind("http://", 0) != 0 &&
      c.main_backend_url.rfind("https://", 0) != 0)
    throw ConfigError("MAIN_BACKEND_URL: must start with http:// or https://");
  src.millis("MAIN_BACKEND_TIMEOUT_MS", c.main_backend_timeout, 100, 60'000);
  src.millis("MAIN_BACKEND_CACHE_MS", c.main_backend_cache, 0, 3'600'000);
  src.millis("MAIN_BACKEND_NEGATIVE_CACHE_MS", c.main_backend_negative_cache, 0, 3'600'000);

  if (auto path = src.get("PRICES_FILE")) c.prices.merge_yaml(read_file("PRICES_FILE", *path), "PRICES_FILE");
  src.text("OPENAI_API_KEY", c.openai_api_key);
  src.text("OPENAI_BASE_URL", c.openai_base_url);
  src.text("ANTHROPIC_API_KEY", c.anthropic_api_key);
  src.text("ANTHROPIC_BASE_URL", c.anthropic_base_url);
  src.text("DEFAULT_MODEL", c.default_model);
  src.millis("MOCK_LATENCY_MS", c.mock_latency, 0, 600'000);
  c.models = root ? read_models(root["models"]) : std::vector<ModelSpec>{};
  if (root) read_limits(root["limits"], c);
  // The environment wins over the file, as for every other setting.
  src.integer("LIMIT_RPM", c.limit_defaults.requests_per_minute, 0, 1'000'000'000);
  src.integer("LIMIT_TPM", c.limit_defaults.tokens_per_minute, 0, 1'000'000'000'000);
  src.integer("LIMIT_CONCURRENT_STREAMS", c.limit_defaults.concurrent_streams, 0, 1'000'000);
  for (const auto& [key, budget] : {std::pair{"BUDGET_DAILY_USD", &c.limit_defaults.daily_budget_micros},
                                    std::pair{"BUDGET_MONTHLY_USD", &c.limit_defaults.monthly_budget_micros}}) {
    if (auto v = src.get(key)) {
      char* end = nullptr;
      const double usd = std::strtod(v->c_str(), &end);
      if (v->empty() || end != v->c_str() + v->size() || !(usd >= 0) || usd > 1e9)
        throw ConfigError(std::string(key) + ": must be an amount of USD, 0 or more, got '" + *v + "'");
      *budget = usd_micros(usd);
    }
  }
  src.integer("MAX_OUTPUT_TOKENS", c.max_output_tokens, 1, 1'000'000);
  src.integer("MAX_ANSWER_BYTES", c.max_answer_bytes, 1024, 64LL * 1024 * 1024);
  src.millis("STREAM_MAX_DURATION_MS", c.stream_max_duration, 100, 24LL * 3'600'000);
  src.millis("STREAM_IDLE_TIMEOUT_MS", c.stream_idle_timeout, 100, 3'600'000);
  src.millis("STREAM_CHECKPOINT_MS", c.stream_checkpoint, 10, 3'600'000);
  src.integer("STREAM_CHECKPOINT_TOKENS", c.stream_checkpoint_tokens, 1, 1'000'000);
  src.integer("DEFAULT_CONTEXT_WINDOW", c.default_context_window, 256, 100'000'000);
  src.text("EMBEDDING_MODEL", c.embedding_model);
  c.kb_embedding_model = c.embedding_model;
  if (c.models.empty()) {
    c.models = models_from_env(c, src);
    const bool openai = !c.openai_api_key.empty() || !c.openai_base_url.empty();
    if (openai && c.embedding_model.empty()) c.embedding_model = "text-embedding-3-small";
    if (openai && std::none_of(c.models.begin(), c.models.end(),
                               [&](const ModelSpec& m) { return m.name == c.embedding_model; })) {
      ModelSpec spec;
      spec.name = c.embedding_model;
      DeploymentSpec dep;
      dep.provider = "openai";
      dep.model = c.embedding_model;
      dep.base_url = c.openai_base_url;
      if (!c.openai_api_key.empty()) dep.api_keys = {c.openai_api_key};
      spec.deployments.push_back(std::move(dep));
      c.models.push_back(std::move(spec));
    }
  }
  if (!c.embedding_model.empty() &&
      std::none_of(c.models.begin(), c.models.end(), [&](const ModelSpec& m) { return m.name == c.embedding_model; }))
    throw ConfigError("EMBEDDING_MODEL: unknown model '" + c.embedding_model + "'");
  for (const ModelSpec& m : c.models)
    for (const std::string& f : m.fallbacks)
      if (std::none_of(c.models.begin(), c.models.end(), [&](const ModelSpec& o) { return o.name == f; }))
        throw ConfigError("models[" + m.name + "].fallbacks: unknown model '" + f + "'");
  src.integer("RETRY_MAX_ATTEMPTS", c.retry_max_attempts, 1, 20);
  src.millis("RETRY_BASE_DELAY_MS", c.retry_base_delay, 1, 60'000);
  src.millis("RETRY_MAX_DELAY_MS", c.retry_max_delay, 1, 600'000);
  src.millis("RETRY_DEADLINE_MS", c.retry_deadline, 100, 3'600'000);
  src.integer("BREAKER_FAILURES", c.breaker_failures, 1, 1000);
  src.millis("BREAKER_OPEN_MS", c.breaker_open, 100, 3'600'000);
  src.millis("UPSTREAM_CONNECT_TIMEOUT_MS", c.upstream_connect_timeout, 100, 600'000);
  src.millis("UPSTREAM_FIRST_BYTE_TIMEOUT_MS", c.upstream_first_byte_timeout, 100, 3'600'000);
  src.millis("UPSTREAM_IDLE_TIMEOUT_MS", c.upstream_idle_timeout, 100, 3'600'000);
  src.text("UPSTREAM_CA_FILE", c.upstream_ca_file);
  // The upper-case name wins, as the OpenAI SDKs' HTTP stacks have it.
  src.text("https_proxy", c.https_proxy);
  src.text("HTTPS_PROXY", c.https_proxy);
  if (!c.https_proxy.empty()) {
    if (auto valid = http::validate_proxy_url(c.https_proxy); !valid) throw ConfigError(valid.error().message);
  }
  src.list("no_proxy", c.no_proxy);
  src.list("NO_PROXY", c.no_proxy);
  src.text("METRICS_TOKEN", c.metrics_token);

  src.list("WEBHOOK_URLS", c.webhook_urls);
  for (const std::string& url : c.webhook_urls) {
    auto u = boost::urls::parse_uri(url);
    if (!u || (u->scheme() != "http" && u->scheme() != "https") || u->encoded_host().empty())
      throw ConfigError("WEBHOOK_URLS: each entry must be an http:// or https:// URL");
  }
  src.text("WEBHOOK_SECRET", c.webhook_secret);
  if (!c.webhook_urls.empty() && c.webhook_secret.size() < 16)
    throw ConfigError("WEBHOOK_SECRET: must be set (16 characters or more) when WEBHOOK_URLS is: receivers verify "
                      "every event's signature with it");
  src.integer("WEBHOOK_MAX_ATTEMPTS", c.webhook_max_attempts, 1, 100);
  src.millis("WEBHOOK_TIMEOUT_MS", c.webhook_timeout, 100, 600'000);
  src.millis("WEBHOOK_RETRY_BASE_MS", c.webhook_retry_base, 10, 3'600'000);
  src.millis("WEBHOOK_RETRY_MAX_MS", c.webhook_retry_max, 10, 24LL * 3'600'000);

  src.integer("MAX_MESSAGE_CHARS", c.max_message_chars, 1, 1'000'000);
  src.integer("CONTEXT_MESSAGES", c.context_messages, 1, 10'000);
  src.text("DEFAULT_SYSTEM_PROMPT", c.default_system_prompt);
  src.text("SUMMARY_MODEL", c.summary_model);
  if (!c.summary_model.empty() && c.summary_model != "mock" &&
      std::none_of(c.models.begin(), c.models.end(), [&](const ModelSpec& m) { return m.name == c.summary_model; }))
    throw ConfigError("SUMMARY_MODEL: unknown model '" + c.summary_model + "'");
  src.integer("SUMMARIZE_AFTER_MESSAGES", c.summarize_after_messages, 0, 10'000);
  src.millis("RESPONSE_CACHE_TTL_MS", c.response_cache_ttl, 0, 7LL * 24 * 3600 * 1000);
  src.integer("RESPONSE_CACHE_ENTRIES", c.response_cache_entries, 0, 10'000'000);
  if (auto v = src.get("CACHE_SHARED")) {
    if (*v != "true" && *v != "false") throw ConfigError("CACHE_SHARED: must be true or false");
    c.cache_shared = *v == "true";
  }
  src.integer("MAX_IMAGE_BYTES", c.max_image_bytes, 1024, 64LL * 1024 * 1024);
  src.integer("MAX_UPLOAD_BYTES", c.max_upload_bytes, 1024, 1024LL * 1024 * 1024);
  src.integer("KB_MAX_DOCUMENTS", c.kb_max_documents, 0, 100'000'000);
  src.integer("KB_MAX_BYTES", c.kb_max_bytes, 0, 1LL << 50);
  src.integer("KB_INGEST_WORKERS", c.kb_ingest_workers, 0, 64);
  src.millis("KB_JOB_LEASE_MS", c.kb_job_lease, 100, 3'600'000);
  src.integer("KB_EMBED_BATCH", c.kb_embed_batch, 1, 2048);
  if (auto v = src.get("KB_HYBRID_VECTOR_WEIGHT")) {
    char* end = nullptr;
    const double w = std::strtod(v->c_str(), &end);
    if (v->empty() || end != v->c_str() + v->size() || !(w >= 0) || w > 10)
      throw ConfigError("KB_HYBRID_VECTOR_WEIGHT: must be a number from 0 to 10, got '" + *v + "'");
    c.kb_hybrid_vector_weight = w;
  }
  if (auto v = src.get("KB_HYBRID_FUSION")) {
    if (*v != "convex" && *v != "rrf") throw ConfigError("KB_HYBRID_FUSION: must be convex or rrf, got '" + *v + "'");
    c.kb_hybrid_fusion_rrf = *v == "rrf";
  }
  src.integer("CHUNK_TOKENS", c.chunk_tokens, 32, 8192);
  src.integer("CHUNK_OVERLAP", c.chunk_overlap, 0, 4096);
  if (auto v = src.get("GENERATE_TITLES")) {
    if (*v != "true" && *v != "false") throw ConfigError("GENERATE_TITLES: must be true or false");
    c.generate_titles = *v == "true";
  }
  read_agent(src, root, c);
  return c;
}

std::size_t connections_for_fd_limit(std::uint64_t fd_limit) {
  const std::uint64_t reserve = std::max<std::uint64_t>(256, fd_limit / 4);
  return static_cast<std::size_t>(fd_limit > reserve + 16 ? fd_limit - reserve : 16);
}

void ensure_jwt_secret(Config& c) {
  if (!c.jwt_secret.empty() || !c.jwt_public_key_pem.empty()) return;
  namespace fs = std::filesystem;
  // Beside the SQLite file; with PostgreSQL, in ./data as in the embedded default.
  const fs::path dir = c.sqlite_path.empty() ? fs::path("data") : fs::path(c.sqlite_path).parent_path();
  const fs::path file = (dir.empty() ? fs::path(".") : dir) / "dev-jwt-secret";
  if (std::ifstream in(file); in) {
    std::getline(in, c.jwt_secret);
  }
  c.jwt_secret_file = fs::absolute(file).lexically_normal().string();
  if (c.jwt_secret.size() < 32) {
    c.jwt_secret_created = true;
    unsigned char raw[32];
    if (RAND_bytes(raw, sizeof raw) != 1) throw ConfigError("JWT_SECRET: cannot generate a development secret");
    static constexpr char hex[] = "0123456789abcdef";
    c.jwt_secret.clear();
    for (unsigned char b : raw) {
      c.jwt_secret.push_back(hex[b >> 4]);
      c.jwt_secret.push_back(hex[b & 15]);
    }
    if (!dir.empty()) fs::create_directories(dir);
    const mode_t old = ::umask(077);
    std::ofstream out(file, std::ios::trunc);
    ::umask(old);
    if (!out) throw ConfigError("JWT_SECRET: not set, and cannot write a development secret to " + file.string());
    out << c.jwt_secret << '\n';
  }
  c.jwt_secret_generated = true;
}

}  // namespace aas::app
