#pragma once
// The agent's configuration: the HTTP tools declared under `tools:` in the YAML file (AI_CONFIG)
// and the loop's bounds (AGENT_MAX_STEPS, TOOL_TIMEOUT_MS, ...). Plain data, read by app/config and
// checked by validate_tools() before the service starts.
#include "core/error.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aas::agent {

// A tool that calls the monolith's API as the user (docs/agent.md, "Declaring a tool").
struct HttpToolSpec {
  std::string name;
  std::string description;
  std::string parameters = R"({"type":"object","properties":{}})";  // JSON Schema, as JSON text
  std::string method = "GET";
  // A path under MAIN_BACKEND_URL with {argument} placeholders ("/api/todos/{id}"), or a whole URL
  // that starts with MAIN_BACKEND_URL. Hosts come from here only, never from the model.
  std::string path;
  std::vector<std::string> query;  // arguments sent as query parameters
  // Arguments sent as the JSON body. Empty: every argument not in the path or the query, for
  // POST, PUT and PATCH (GET and DELETE send no body).
  std::vector<std::string> body;
  // Body fields always sent as they are, whatever the model says (complete_todo: {"done": true}).
  std::string fixed = "{}";  // a JSON object, as JSON text
  bool confirm = false;             // the user approves each call first (tool_confirmation)
  std::vector<std::string> roles;   // empty: every user; else users with one of these roles
};

// An MCP server whose tools the model may call (docs/agent.md, "MCP servers").
struct McpServerSpec {
  std::string name;  // the tools' prefix: "<name>__<tool>"
  std::string url;   // its Streamable HTTP endpoint (http:// or https://)
  std::vector<std::string> allow;  // the tools offered; any other the server lists is not
  // Sent with every request (an API key, say): never logged, never shown to the model.
  std::vector<std::pair<std::string, std::string>> headers;
};

struct AgentSettings {
  std::vector<HttpToolSpec> tools;
  std::vector<McpServerSpec> mcp;
  // How long the start waits for an MCP server to list its tools (MCP_START_TIMEOUT_MS).
  std::chrono::milliseconds mcp_start_timeout{5000};
  // How often every MCP server's tools are listed again while the service runs (MCP_REFRESH_MS;
  // 0: never): tools a server adds, drops or changes, and a server that was down at start.
  std::chrono::milliseconds mcp_refresh{60000};
  // Model calls in one turn, at most; the last allowed one is asked to answer without tools and
  // the turn's finish reason is then "max_steps".
  int max_steps = 6;
  int max_parallel_tools = 4;  // tool calls of one step run at most this many at a time
  std::chrono::milliseconds tool_timeout{10000};
  std::int64_t tool_result_max_tokens = 2000;  // a longer result is cut, with a marker
  std::chrono::milliseconds confirm_timeout{120000};  // an unanswered confirmation expires
  bool builtin_current_time = true;
};

// Every declared tool is usable: a unique name the providers accept ([A-Za-z0-9_-]{1,64}), a
// schema in the supported subset with an object at its top, a method, a path that stays under
// `backend_url` (no "..", no other host) whose placeholders are declared arguments. The error
// names the tool: "tools[create_todo].path: ...".
Result<void> validate_tools(const std::vector<HttpToolSpec>& tools, std::string_view backend_url);

// Every MCP server is usable: a unique name of letters, digits, _ and - (no "__", the
// separator), an http(s) URL, a non-empty allowlist whose "<server>__<tool>" names fit 64
// characters, header names that are HTTP tokens and not the transport's own. The error names the
// server: "mcp[notes].url: ...".
Result<void> validate_mcp(const std::vector<McpServerSpec>& servers, const std::vector<HttpToolSpec>& tools);

// The URL of a declared path: `backend_url` joined with a relative path, or the whole URL as it is.
std::string tool_base_url(std::string_view backend_url, std::string_view path);

}  // namespace aas::agent
