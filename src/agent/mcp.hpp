#pragma once
// Tools of MCP servers (Model Context Protocol, Streamable HTTP transport): each configured server
// (YAML `mcp:`: name, url, allow, headers) is asked for its tools at start (initialize,
// notifications/initialized, tools/list); those on its allowlist whose input schema is in the
// supported subset are offered to the model as `<server>__<tool>`, and each call is a tools/call.
// Responses may come as application/json or as a text/event-stream; the server's Mcp-Session-Id
// is sent back on every later request, and a session the server forgot (404) is opened again.
// A failing, refusing or unreachable server is a tool error the model sees. The configured
// headers (a server's API key, say) are sent, never logged.
#include "agent/settings.hpp"
#include "agent/tool.hpp"

#include <boost/json/value.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>

namespace aas::http {
class HttpClient;
struct ClientOptions;
}  // namespace aas::http

namespace aas::agent {

// A tool as a server lists it.
struct McpToolInfo {
  std::string name;
  std::string description;
  std::string input_schema;  // JSON text
};

// The JSON-RPC response with id `id` in an MCP POST's answer (a JSON object or array, or an SSE
// stream of them): its `result`, or its error as upstream_error "<code>: <message>".
Result<boost::json::value> read_rpc_response(std::string_view content_type, std::string_view body, std::int64_t id);

// A tools/call result as the model reads it: the text parts joined, other parts described,
// structuredContent when there is no content; isError makes it a tool error.
ToolOutput describe_call_result(const boost::json::value& result);

// A server's inputSchema as this service checks it: "$schema" dropped (an annotation), an
// object type required. nullopt (with why in `problem`) when it cannot be used.
std::optional<std::string> usable_schema(const boost::json::value& input_schema, std::string& problem);

// One MCP server's session: JSON-RPC over POST, opened on first use and again when the server
// forgot it. Shared by the server's tools; safe to use from several coroutines at once.
class McpSession {
 public:
  McpSession(McpServerSpec spec, std::shared_ptr<http::HttpClient> client);
  const McpServerSpec& spec() const { return spec_; }

  boost::asio::awaitable<Result<std::vector<McpToolInfo>>> list_tools();
  boost::asio::awaitable<ToolOutput> call_tool(std::string name, boost::json::object args);

 private:
  // The method's result; the session is opened first when needed, and once again when the
  // server answers 404 (it no longer knows the session).
  boost::asio::awaitable<Result<boost::json::value>> request(std::string method, boost::json::object params);
  boost::asio::awaitable<Result<void>> open();
  // One POST of a JSON-RPC message; `id` 0: a notification (no response expected).
  boost::asio::awaitable<Result<boost::json::value>> post(const std::string& method, const boost::json::object& params,
                                                          std::int64_t id, const std::string& session, int* status);
  std::string session() const;

  McpServerSpec spec_;
  std::shared_ptr<http::HttpClient> client_;
  mutable std::mutex mu_;
  std::optional<std::string> session_id_;  // set once initialized ("" : the server uses none)
  std::atomic<std::int64_t> next_id_{1};
};

class McpTool final : public Tool {
 public:
  // `definition.name` is "<server>__<tool>"; `parameters` the usable schema.
  McpTool(std::shared_ptr<McpSession> session, std::string remote_name, llm::ToolDefinition definition);
  const llm::ToolDefinition& definition() const override { return definition_; }
  boost::asio::awaitable<ToolOutput> call(const boost::json::object& args, const ToolContext& ctx) override;

 private:
  std::shared_ptr<McpSession> session_;
  std::string remote_name_;
  llm::ToolDefinition definition_;
};

// The tools a server offers from its listing: those on its allowlist whose input schema the subset
// takes, as "<server>__<tool>", calling through `session`. Each one skipped (not listed, schema
// refused) is named in `warnings`.
std::vector<std::unique_ptr<Tool>> offered_tools(const std::vector<McpToolInfo>& listed,
                                                 const std::shared_ptr<McpSession>& session,
                                                 std::vector<std::string>& warnings);

// One configured server at start: its session (on the service's client, shared by its tools and
// by the later listings of mcp_refresh.hpp) and the tools it offers (none when it was down).
struct McpServerTools {
  std::shared_ptr<McpSession> session;
  std::vector<std::unique_ptr<Tool>> tools;
  bool listed = false;
};

// Every configured server, listed at start on a private io_context (the service is not serving
// yet): a server is retried until `wait` has passed, then skipped with a warning (McpRefresher
// lists it again later); a listed tool whose schema the subset refuses is skipped with a warning
// naming it, as is an allowed tool the server does not list.
std::vector<McpServerTools> load_mcp_tools(const std::vector<McpServerSpec>& servers, const http::ClientOptions& options,
                                           std::shared_ptr<http::HttpClient> client, std::chrono::milliseconds wait);

}  // namespace aas::agent
