#include "agent/mcp.hpp"

#include "agent/schema.hpp"
#include "http/client.hpp"
#include "llm/sse_parser.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>

namespace aas::agent {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

// The protocol revision this client speaks (the server may answer with another it supports).
constexpr std::string_view kProtocolVersion = "2025-06-18";

Result<json::value> from_message(const json::value& m, std::int64_t id, bool& matched) {
  matched = false;
  const json::object* o = m.if_object();
  if (!o) return make_error(errc::upstream_error, "the MCP server answered something that is not JSON-RPC");
  if (o->contains("method")) return json::value{};  // the server's own request or notification
  const json::value* got = o->if_contains("id");
  if (!got || !got->is_number() || got->to_number<std::int64_t>() != id) return json::value{};
  matched = true;
  if (const json::value* err = o->if_contains("error"); err && err->is_object()) {
    const json::object& e = err->get_object();
    std::string text = "JSON-RPC error";
    if (const auto* code = e.if_contains("code"); code && code->is_number()) text = std::to_string(code->to_number<std::int64_t>());
    if (const auto* msg = e.if_contains("message"); msg && msg->is_string()) text += ": " + std::string(msg->get_string());
    return make_error(errc::upstream_error, text);
  }
  if (const json::value* result = o->if_contains("result")) return *result;
  return make_error(errc::upstream_error, "the MCP server's response has neither result nor error");
}

// A message (or a batch of them) searched for the response `id`.
Result<json::value> find_response(const json::value& v, std::int64_t id, bool& matched) {
  if (const json::array* batch = v.if_array()) {
    for (const json::value& m : *batch) {
      auto r = find_response(m, id, matched);
      if (matched || !r) return r;
    }
    return json::value{};
  }
  return from_message(v, id, matched);
}

std::string lower_type(std::string_view content_type) {
  std::string type(content_type.substr(0, content_type.find(';')));
  std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  while (!type.empty() && type.back() == ' ') type.pop_back();
  return type;
}

}  // namespace

Result<json::value> read_rpc_response(std::string_view content_type, std::string_view body, std::int64_t id) {
  const std::string type = lower_type(content_type);
  bool matched = false;
  if (type == "text/event-stream") {
    // The server may send requests or notifications of its own before the response: skipped.
    llm::SseParser parser;
    std::optional<Result<json::value>> found;
    auto fed = parser.feed(body, [&](llm::SseEvent&& e) {
      if (found || e.data.empty()) return;
      boost::system::error_code ec;
      const json::value v = json::parse(e.data, ec);
      if (ec) return;
      bool m = false;
      auto r = find_response(v, id, m);
      if (m || !r) found = std::move(r);
    });
    if (!fed) return fed.error();
    if (!found) {
      // The last event may lack its blank line when the stream ended.
      (void)parser.feed("\n\n", [&](llm::SseEvent&& e) {
        boost::system::error_code ec;
        const json::value v = json::parse(e.data, ec);
        bool m = false;
        if (!ec) {
          auto r = find_response(v, id, m);
          if (m || !r) found = std::move(r);
        }
      });
    }
    if (!found) return make_error(errc::upstream_error, "the MCP server's event stream ended without the response");
    return std::move(*found);
  }
  boost::system::error_code ec;
  const json::value v = json::parse(body, ec);
  if (ec) return make_error(errc::upstream_error, "the MCP server's response is not JSON");
  auto r = find_response(v, id, matched);
  if (r && !matched) return make_error(errc::upstream_error, "the MCP server's response has another id");
  return r;
}

ToolOutput describe_call_result(const json::value& result) {
  const json::object* o = result.if_object();
  if (!o) return {"the MCP server's result is not an object", true};
  std::string text;
  if (const auto* content = o->if_contains("content"); content && content->is_array()) {
    for (const json::value& part : content->get_array()) {
      const json::object* p = part.if_object();
      if (!p) continue;
      const json::value* type = p->if_contains("type");
      const std::string_view t = type && type->is_string() ? std::string_view(type->get_string()) : "";
      std::string piece;
      const auto field = [&](const json::object& from, std::string_view key) -> std::string {
        const json::value* v = from.if_contains(key);
        return v && v->is_string() ? std::string(v->get_string()) : std::string();
      };
      if (t == "text") {
        piece = field(*p, "text");
      } else if (t == "image" || t == "audio") {
        // Bytes are never passed on: the model is told what there was.
        piece = "[" + std::string(t) + ": " + field(*p, "mimeType") + "]";
      } else if (t == "resource") {
        const json::value* r = p->if_contains("resource");
        if (r && r->is_object()) {
          const std::string body = field(r->get_object(), "text");
          piece = body.empty() ? "[resource: " + field(r->get_object(), "uri") + "]" : body;
        }
      } else if (t == "resource_link") {
        piece = "[resource: " + field(*p, "uri") + "]";
      }
      if (piece.empty()) continue;
      if (!text.empty()) text += "\n";
      text += piece;
    }
  }
  if (text.empty())
    if (const auto* structured = o->if_contains("structuredContent")) text = json::serialize(*structured);
  const auto* is_error = o->if_contains("isError");
  const bool error = is_error && is_error->is_bool() && is_error->get_bool();
  if (text.empty()) text = "(no content)";
  return {std::move(text), error};
}

std::optional<std::string> usable_schema(const json::value& input_schema, std::string& problem) {
  const json::object* o = input_schema.if_object();
  if (!o) {
    problem = "inputSchema is not an object";
    return std::nullopt;
  }
  json::object schema = *o;
  schema.erase("$schema");
  const json::value* type = schema.if_contains("type");
  if (!type || *type != "object") {
    problem = "inputSchema must be {\"type\": \"object\", ...}";
    return std::nullopt;
  }
  std::string text = json::serialize(schema);
  auto compiled = ArgumentSchema::compile(text);
  if (!compiled) {
    problem = compiled.error().message;
    return std::nullopt;
  }
  return text;
}

McpSession::McpSession(McpServerSpec spec, std::shared_ptr<http::HttpClient> client)
    : spec_(std::move(spec)), client_(std::move(client)) {}

std::string McpSession::session() const {
  std::lock_guard lock(mu_);
  return session_id_.value_or("");
}

asio::awaitable<Result<json::value>> McpSession::post(const std::string& method, const json::object& params,
                                                      std::int64_t id, const std::string& session, int* status) {
  json::object message{{"jsonrpc", "2.0"}, {"method", method}};
  if (!params.empty() || id != 0) message["params"] = params;
  if (id != 0) message["id"] = id;
  http::ClientRequest req;
  req.method = "POST";
  req.url = spec_.url;
  req.body = json::serialize(message);
  req.headers.push_back({"content-type", "application/json"});
  req.headers.push_back({"accept", "application/json, text/event-stream"});
  if (!session.empty()) req.headers.push_back({"mcp-session-id", session});
  if (method != "initialize") req.headers.push_back({"mcp-protocol-version", std::string(kProtocolVersion)});
  for (const auto& [name, value] : spec_.headers) req.headers.push_back({name, value});
  auto res = co_await client_->request(std::move(req));
  if (!res) co_return res.error();
  *status = res->status;
  if (res->status < 200 || res->status >= 300)
    co_return make_error(errc::upstream_error, "the MCP server answered HTTP " + std::to_string(res->status));
  if (method == "initialize") {
    std::lock_guard lock(mu_);
    session_id_ = std::string(res->header("mcp-session-id").value_or(""));
  }
  if (id == 0) co_return json::value{};
  co_return read_rpc_response(res->header("content-type").value_or(""), res->body, id);
}

asio::awaitable<Result<void>> McpSession::open() {
  json::object params{{"protocolVersion", kProtocolVersion},
                      {"capabilities", json::object{}},
                      {"clientInfo", json::object{{"name", "ai-agent-service"}, {"version", "1"}}}};
  // Named locals, never temporaries, as a coroutine's reference arguments (g++ 12, architecture.md).
  int status = 0;
  const std::string initialize = "initialize", initialized = "notifications/initialized", none;
  const json::object no_params;
  auto init = co_await post(initialize, params, next_id_++, none, &status);
  if (!init) co_return init.error();
  const std::string sid = session();
  auto done = co_await post(initialized, no_params, 0, sid, &status);
  if (!done) co_return done.error();
  co_return Result<void>{};
}

asio::awaitable<Result<json::value>> McpSession::request(std::string method, json::object params) {
  for (int attempt = 0;; ++attempt) {
    bool opened = false;
    {
      std::lock_guard lock(mu_);
      opened = session_id_.has_value();
    }
    if (!opened)
      if (auto o = co_await open(); !o) co_return o.error();
    const std::string sid = session();
    int status = 0;
    auto r = co_await post(method, params, next_id_++, sid, &status);
    // 404 on a session: the server forgot it (it restarted, say): opened once more.
    if (!r && status == 404 && !sid.empty() && attempt == 0) {
      std::lock_guard lock(mu_);
      if (session_id_ == sid) session_id_.reset();
      continue;
    }
    co_return r;
  }
}

asio::awaitable<Result<std::vector<McpToolInfo>>> McpSession::list_tools() {
  std::vector<McpToolInfo> out;
  std::optional<std::string> cursor;
  for (int page = 0; page < 100; ++page) {
    json::object params;
    if (cursor) params["cursor"] = *cursor;
    std::string method = "tools/list";
    auto r = co_await request(std::move(method), std::move(params));
    if (!r) co_return r.error();
    const json::object* o = r->if_object();
    const json::value* tools = o ? o->if_contains("tools") : nullptr;
    if (!tools || !tools->is_array()) co_return make_error(errc::upstream_error, "tools/list: no tools array");
    for (const json::value& t : tools->get_array()) {
      const json::object* to = t.if_object();
      const json::value* name = to ? to->if_contains("name") : nullptr;
      if (!name || !name->is_string()) continue;
      McpToolInfo info;
      info.name = std::string(name->get_string());
      if (const auto* d = to->if_contains("description"); d && d->is_string()) info.description = std::string(d->get_string());
      if (const auto* s = to->if_contains("inputSchema")) info.input_schema = json::serialize(*s);
      out.push_back(std::move(info));
    }
    const json::value* next = o->if_contains("nextCursor");
    if (!next || !next->is_string() || next->get_string().empty()) break;
    cursor = std::string(next->get_string());
  }
  co_return out;
}

asio::awaitable<ToolOutput> McpSession::call_tool(std::string name, json::object args) {
  json::object params{{"name", name}, {"arguments", std::move(args)}};
  std::string method = "tools/call";
  auto r = co_await request(std::move(method), std::move(params));
  if (!r) {
    // The model learns what kind of failure, not our network's details.
    if (r.error().code == errc::upstream_timeout) co_return ToolOutput{"the MCP server " + spec_.name + " did not answer in time", true};
    if (r.error().code == errc::unavailable) co_return ToolOutput{"the MCP server " + spec_.name + " could not be reached", true};
    co_return ToolOutput{"the MCP server " + spec_.name + " refused the call: " + r.error().message, true};
  }
  co_return describe_call_result(*r);
}

McpTool::McpTool(std::shared_ptr<McpSession> session, std::string remote_name, llm::ToolDefinition definition)
    : session_(std::move(session)), remote_name_(std::move(remote_name)), definition_(std::move(definition)) {}

asio::awaitable<ToolOutput> McpTool::call(const json::object& args, const ToolContext&) {
  // The user's token never goes to an MCP server: it is not the monolith.
  co_return co_await session_->call_tool(remote_name_, args);
}

std::vector<std::unique_ptr<Tool>> offered_tools(const std::vector<McpToolInfo>& listed,
                                                 const std::shared_ptr<McpSession>& session,
                                                 std::vector<std::string>& warnings) {
  const McpServerSpec& spec = session->spec();
  std::vector<std::unique_ptr<Tool>> out;
  for (const std::string& allowed : spec.allow) {
    auto it = std::find_if(listed.begin(), listed.end(), [&](const McpToolInfo& t) { return t.name == allowed; });
    if (it == listed.end()) {
      warnings.push_back("mcp[" + spec.name + "]: allowed tool '" + allowed + "' is not one the server lists: skipped");
      continue;
    }
    boost::system::error_code ec;
    const json::value schema = it->input_schema.empty() ? json::value(json::object{{"type", "object"}})
                                                        : json::parse(it->input_schema, ec);
    std::string problem;
    auto usable = ec ? std::nullopt : usable_schema(schema, problem);
    if (!usable) {
      warnings.push_back("mcp[" + spec.name + "]: tool '" + it->name +
                         "' skipped: its input schema is outside the supported subset (" + (ec ? "not JSON" : problem) + ")");
      continue;
    }
    llm::ToolDefinition def;
    def.name = spec.name + "__" + it->name;
    def.description = it->description;
    def.parameters = std::move(*usable);
    out.push_back(std::make_unique<McpTool>(session, it->name, std::move(def)));
  }
  return out;
}

std::vector<McpServerTools> load_mcp_tools(const std::vector<McpServerSpec>& servers, const http::ClientOptions& options,
                                           std::shared_ptr<http::HttpClient> client, std::chrono::milliseconds wait) {
  std::vector<McpServerTools> out;
  if (servers.empty()) return out;
  asio::io_context ioc;
  auto lister = std::make_shared<http::HttpClient>(ioc.get_executor(), options);
  for (const McpServerSpec& spec : servers) {
    McpServerTools server;
    server.session = std::make_shared<McpSession>(spec, client);
    // A session of its own for the listing, on this private io_context; the tools open theirs on first use.
    auto listing = std::make_shared<McpSession>(spec, lister);
    auto attempt = [listing, wait]() -> asio::awaitable<Result<std::vector<McpToolInfo>>> {
      const auto deadline = std::chrono::steady_clock::now() + wait;
      for (;;) {
        auto r = co_await listing->list_tools();
        if (r || std::chrono::steady_clock::now() + std::chrono::milliseconds(500) >= deadline) co_return r;
        asio::steady_timer pause(co_await asio::this_coro::executor, std::chrono::milliseconds(500));
        co_await pause.async_wait(asio::use_awaitable);
      }
    };
    auto future = asio::co_spawn(ioc, attempt(), asio::use_future);
    // Until this listing is done (an idle pooled connection leaves nothing pending, but a
    // straggling timer must not hold the start).
    ioc.restart();
    while (future.wait_for(std::chrono::seconds(0)) != std::future_status::ready && ioc.run_one() > 0) {
    }
    auto listed = future.get();
    if (!listed) {
      spdlog::warn("mcp[{}]: its tools could not be listed ({}): none of them is offered until a later listing "
                   "(MCP_REFRESH_MS) reaches it",
                   spec.name, listed.error().message);
      out.push_back(std::move(server));
      continue;
    }
    std::vector<std::string> warnings;
    server.tools = offered_tools(*listed, server.session, warnings);
    server.listed = true;
    for (const std::string& w : warnings) spdlog::warn("{}", w);
    spdlog::info("mcp[{}]: {} tool(s) offered of {} listed", spec.name, server.tools.size(), listed->size());
    out.push_back(std::move(server));
  }
  return out;
}

}  // namespace aas::agent
