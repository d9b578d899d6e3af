// Export and import: GET /api/ai/conversations/:id/export?format=json|markdown (one
// conversation, as a download), POST /api/ai/conversations/import (that JSON back, as a new
// conversation), and GET /api/ai/conversations/export (all of the caller's conversations as NDJSON,
// one conversation with its messages per line, streamed: conversations and messages are read a
// page at a time, so memory holds one conversation at most whatever the account's size).
#include "api/api.hpp"
#include "api/content_json.hpp"
#include "api/json_io.hpp"
#include "chat/conversation_service.hpp"

#include <boost/asio/thread_pool.hpp>
#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include <memory>

namespace aas::api {

namespace {

using Reply = boost::asio::awaitable<Result<http::Response>>;
constexpr int kPage = 100;

json::object export_json(const domain::Conversation& c, const std::vector<domain::Message>& messages) {
  json::array items;
  items.reserve(messages.size());
  for (const domain::Message& m : messages) items.push_back(to_json(m));
  return json::object{{"conversation", to_json(c)}, {"messages", std::move(items)}};
}

std::string markdown(const domain::Conversation& c, const std::vector<domain::Message>& messages) {
  std::string out = "# " + c.title.value_or("Conversation") + "\n\n";
  out += "- Conversation: " + c.id + "\n";
  out += "- Created: " + format_rfc3339(c.created_at) + "\n";
  if (c.model) out += "- Model: " + *c.model + "\n";
  if (c.system_prompt) out += "- System prompt: " + *c.system_prompt + "\n";
  for (const domain::Message& m : messages) {
    std::string who = m.role == domain::Role::user        ? "User"
                      : m.role == domain::Role::assistant ? "Assistant"
                      : m.role == domain::Role::tool      ? "Tool result"
                                                         : "System";
    if (m.role == domain::Role::assistant && m.model) who += " (" + *m.model + ")";
    if (m.tool_call_id) who += " (call " + *m.tool_call_id + ")";
    out += "\n## " + who + " — " + format_rfc3339(m.created_at) + "\n\n";
    if (m.status != domain::MessageStatus::complete)
      out += "_[" + std::string(domain::to_string(m.status)) + "]_\n\n";
    // An agent's step: the tools it called, with their arguments as the model wrote them.
    for (const domain::ToolCall& call : m.tool_calls)
      out += "- calls `" + call.name + "` (" + call.id + "): `" + call.arguments + "`\n";
    if (!m.content.empty() || m.tool_calls.empty()) out += m.content + "\n";
  }
  return out;
}

Reply export_one(Services& s, http::Context& ctx) {
  const std::string format = ctx.request.query("format").value_or("json");
  if (format != "json" && format != "markdown")
    co_return make_error(errc::invalid_request, "format must be json or markdown");
  const std::string id(ctx.param("id"));
  const std::string user = ctx.user().user_id;
  auto whole = co_await s.conversations.read_whole(user, id);
  if (!whole) co_return whole.error();
  http::Response res;
  if (format == "markdown") {
    res.content_type = "text/markdown; charset=utf-8";
    res.body = markdown(whole->conversation, whole->messages.items);
    res.headers.push_back({"content-disposition", "attachment; filename=\"conversation-" + id + ".md\""});
  } else {
    res.body = json::serialize(export_json(whole->conversation, whole->messages.items));
    res.headers.push_back({"content-disposition", "attachment; filename=\"conversation-" + id + ".json\""});
  }
  co_return res;
}

// The stream of GET /api/ai/conversations/export. A failure part way ends the body early; the
// client sees a truncated download (the last line is incomplete or missing) and the log says why.
boost::asio::awaitable<void> stream_all(Services& s, std::string user, http::BodyWriter& out) {
  domain::PageRequest page{kPage, std::nullopt};
  for (;;) {
    domain::ConversationFilter everything;
    everything.archived.reset();  // archived ones too: an export is the whole account
    auto conversations = co_await s.conversations.list(user, page, everything);
    if (!conversations) {
      spdlog::error("export of user conversations failed: {}", conversations.error().detail);
      co_return;
    }
    for (const domain::Conversation& c : conversations->items) {
      auto whole = co_await s.conversations.read_whole(user, c.id);
      if (!whole) {
        if (whole.error().code == errc::not_found) continue;  // deleted meanwhile
        spdlog::error("export of conversation {} failed: {}", c.id, whole.error().detail);
        co_return;
      }
      std::string line = json::serialize(export_json(whole->conversation, whole->messages.items));
      line.push_back('\n');
      if (!co_await out.write(line)) co_return;  // the client left
    }
    if (!conversations->next_cursor) co_return;
    page.cursor = std::move(conversations->next_cursor);
  }
}

Reply export_all(Services& s, http::Context& ctx) {
  http::Response res;
  res.content_type = "application/x-ndjson";
  res.headers.push_back({"content-disposition", "attachment; filename=\"conversations.ndjson\""});
  res.stream = [&s, user = ctx.user().user_id](http::BodyWriter& out) { return stream_all(s, user, out); };
  co_return res;
}

constexpr std::size_t kMaxImportedMessages = 10'000;

// One message of an export: role and content required; status and model kept; usage, cost and
// times are not (an import is not a model call, and the store dates what it writes).
Result<domain::NewMessage> imported_message(const json::value& v, std::size_t index) {
  const std::string where = "messages[" + std::to_string(index) + "]";
  const json::object* o = v.if_object();
  if (!o) return make_error(errc::invalid_request, where + " must be an object");
  domain::NewMessage m;
  auto role = optional_string(*o, "role");
  if (!role || !*role) return make_error(errc::invalid_request, where + ".role is required");
  auto parsed_role = domain::role_from_string(**role);
  if (!parsed_role)
    return make_error(errc::invalid_request, where + ".role must be user, assistant, system or tool");
  m.role = *parsed_role;
  auto content = optional_string(*o, "content");
  if (!content || !*content) return make_error(errc::invalid_request, where + ".content is required");
  m.content = std::move(**content);
  // Structured content, as exported (images, an answer's tool calls, a tool result's call id).
  if (const json::value* parts = o->if_contains("parts"); parts && !parts->is_null()) {
    llm::ChatMessage read;
    if (!parts->is_array()) return make_error(errc::invalid_request, where + ".parts must be an array");
    if (auto r = read_content(*parts, where + ".parts", read); !r) return r.error();
    m.parts = std::move(read.parts);
  }
  if (const json::value* calls = o->if_contains("toolCalls"); calls && !calls->is_null()) {
    auto read = read_tool_calls(*calls, where + ".toolCalls");
    if (!read) return read.error();
    m.tool_calls = std::move(*read);
  }
  auto tool_call_id = optional_string(*o, "toolCallId");
  if (!tool_call_id) return tool_call_id.error();
  m.tool_call_id = std::move(*tool_call_id);
  auto status = optional_string(*o, "status");
  if (!status) return status.error();
  if (*status) {
    auto s = domain::message_status_from_string(**status);
    if (!s || *s == domain::MessageStatus::streaming)
      return make_error(errc::invalid_request, where + ".status must be complete, interrupted or error");
    m.status = *s;
  }
  auto model = optional_string(*o, "model");
  if (!model) return model.error();
  m.model = std::move(*model);
  return m;
}

// POST /api/ai/conversations/import: the JSON of GET .../export, as a new conversation.
Reply import_one(Services& s, http::Context& ctx) {
  auto body = parse_object(ctx.request);
  if (!body) co_return body.error();
  if (auto r = allow_only(*body, {"conversation", "messages"}); !r) co_return r.error();
  const json::object* conv = body->contains("conversation") ? (*body)["conversation"].if_object() : nullptr;
  const json::array* messages = body->contains("messages") ? (*body)["messages"].if_array() : nullptr;
  if (!conv || !messages)
    co_return make_error(errc::invalid_request, "expected {conversation: {...}, messages: [...]} as exported");
  if (messages->size() > kMaxImportedMessages)
    co_return make_error(errc::invalid_request, "at most 10000 messages can be imported at once");
  domain::NewConversation nc;
  nc.user_id = ctx.user().user_id;
  auto title = optional_string(*conv, "title");
  auto system_prompt = optional_string(*conv, "systemPrompt");
  auto model = optional_string(*conv, "model");
  if (!title) co_return title.error();
  if (!system_prompt) co_return system_prompt.error();
  if (!model) co_return model.error();
  nc.title = std::move(*title);
  nc.system_prompt = std::move(*system_prompt);
  nc.model = std::move(*model);
  if (const json::value* md = conv->if_contains("metadata"); md && !md->is_null()) {
    if (!md->is_object()) co_return make_error(errc::invalid_request, "conversation.metadata must be an object");
    nc.metadata = json::serialize(*md);
  }
  std::vector<domain::NewMessage> parsed;
  parsed.reserve(messages->size());
  for (std::size_t i = 0; i < messages->size(); ++i) {
    auto m = imported_message((*messages)[i], i);
    if (!m) co_return m.error();
    parsed.push_back(std::move(*m));
  }
  auto created = co_await s.conversations.import(nc, parsed);
  if (!created) co_return created.error();
  co_return ok(to_json(*created), 201);
}

}  // namespace

void add_export_routes(http::Router& router, Services& s) {
  router.add({"GET", "/api/ai/conversations/export", http::Access::user,
              [&s](http::Context& ctx) { return export_all(s, ctx); }});
  router.add({"GET", "/api/ai/conversations/:id/export", http::Access::user,
              [&s](http::Context& ctx) { return export_one(s, ctx); }});
  router.add({"POST", "/api/ai/conversations/import", http::Access::user,
              [&s](http::Context& ctx) { return import_one(s, ctx); }});
}

}  // namespace aas::api
