#include "api/json_io.hpp"

#include "api/content_json.hpp"

#include "core/json_numbers.hpp"
#include "http/error_response.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <charconv>

namespace aas::api {

namespace {
Error bad(std::string message) { return make_error(errc::invalid_request, std::move(message)); }
}  // namespace

Result<json::object> parse_object(const http::Request& req) {
  if (req.body.empty()) return bad("request body must be a JSON object");
  boost::system::error_code ec;
  // Depth is bounded by the parser (default 32) and size by the server's body limit.
  json::value v = json::parse(req.body, ec);
  if (ec) return bad("request body is not valid JSON");
  if (!v.is_object()) return bad("request body must be a JSON object");
  if (auto clean = refuse_nul_text(v); !clean) return clean.error();
  if (has_non_finite_number(v)) return bad("request body holds a number out of range (not a finite double)");
  return std::move(v.as_object());
}

namespace {
bool has_nul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

// Depth-first; `path` is where `v` sits. The parser's depth limit bounds the recursion.
bool find_nul(const json::value& v, std::string& path) {
  if (v.is_string()) return has_nul(v.get_string());
  if (v.is_array()) {
    const json::array& a = v.get_array();
    for (std::size_t i = 0; i < a.size(); ++i) {
      const std::size_t mark = path.size();
      path += "[" + std::to_string(i) + "]";
      if (find_nul(a[i], path)) return true;
      path.resize(mark);
    }
  } else if (v.is_object()) {
    for (const auto& field : v.get_object()) {
      const std::size_t mark = path.size();
      if (!path.empty()) path += '.';
      if (has_nul(field.key())) {
        path += "<a field name>";
        return true;
      }
      path.append(field.key().substr(0, 64));
      if (find_nul(field.value(), path)) return true;
      path.resize(mark);
    }
  }
  return false;
}
}  // namespace

Result<void> refuse_nul_text(const json::value& v) {
  std::string path;
  if (!find_nul(v, path)) return {};
  return bad("'" + (path.empty() ? std::string("the value") : path) + "' contains a NUL character (U+0000)");
}

Result<void> allow_only(const json::object& body, std::initializer_list<std::string_view> known) {
  for (const auto& field : body) {
    bool found = false;
    for (std::string_view k : known) found = found || field.key() == k;
    if (!found) return bad("unknown field '" + std::string(field.key().substr(0, 64)) + "'");
  }
  return {};
}

const json::value* member(const json::object& body, std::string_view key) {
  const json::value* v = body.if_contains(key);
  return v && !v->is_null() ? v : nullptr;
}

Result<std::optional<std::int64_t>> optional_int(const json::object& body, std::string_view key, std::int64_t lo,
                                                 std::int64_t hi, std::string_view what) {
  const json::value* v = member(body, key);
  if (!v) return std::optional<std::int64_t>{};
  if (!v->is_int64() || v->get_int64() < lo || v->get_int64() > hi)
    return bad("'" + std::string(key) + "' " + std::string(what));
  return std::optional<std::int64_t>{v->get_int64()};
}

Result<std::optional<std::string>> optional_string(const json::object& body, std::string_view key) {
  const json::value* v = member(body, key);
  if (!v) return std::optional<std::string>{};
  if (!v->is_string()) return bad("'" + std::string(key) + "' must be a string");
  return std::optional<std::string>{std::string(v->as_string())};
}

Result<std::optional<std::vector<std::string>>> optional_string_array(const json::object& body, std::string_view key) {
  const json::value* v = member(body, key);
  if (!v) return std::optional<std::vector<std::string>>();
  const auto bad = [&] { return make_error(errc::invalid_request, "'" + std::string(key) + "' must be an array of strings"); };
  if (!v->is_array()) return bad();
  std::vector<std::string> out;
  for (const json::value& e : v->as_array()) {
    if (!e.is_string()) return bad();
    out.emplace_back(e.as_string());
  }
  return std::optional<std::vector<std::string>>(std::move(out));
}

Result<std::optional<bool>> optional_bool(const json::object& body, std::string_view key) {
  const json::value* v = member(body, key);
  if (!v) return std::optional<bool>{};
  if (!v->is_bool()) return bad("'" + std::string(key) + "' must be a boolean");
  return std::optional<bool>{v->as_bool()};
}

Result<NullableString> nullable_string(const json::object& body, std::string_view key) {
  const json::value* v = body.if_contains(key);
  if (!v) return NullableString{};
  if (v->is_null()) return NullableString{true, std::nullopt};
  if (!v->is_string()) return bad("'" + std::string(key) + "' must be a string or null");
  return NullableString{true, std::string(v->as_string())};
}

Result<std::optional<std::string>> optional_object_text(const json::object& body, std::string_view key) {
  const json::value* v = body.if_contains(key);
  if (!v) return std::optional<std::string>{};
  if (!v->is_object()) return bad("'" + std::string(key) + "' must be an object");
  return std::optional<std::string>{json::serialize(*v)};
}

Result<domain::PageRequest> page_request(const http::Request& req, int default_limit) {
  domain::PageRequest page;
  page.limit = default_limit;
  if (auto limit = req.query("limit")) {
    int n = 0;
    const char* end = limit->data() + limit->size();
    auto [ptr, ec] = std::from_chars(limit->data(), end, n);
    if (ec != std::errc() || ptr != end || n < 1 || n > 100)
      return bad("limit must be an integer from 1 to 100");
    page.limit = n;
  }
  if (auto cursor = req.query("cursor"); cursor && !cursor->empty()) page.cursor = std::move(*cursor);
  return page;
}

namespace {
json::value text_or_null(const std::optional<std::string>& s) {
  return s ? json::value(*s) : json::value(nullptr);
}
json::value int_or_null(const std::optional<std::int64_t>& n) {
  return n ? json::value(*n) : json::value(nullptr);
}
// Stored metadata is always an object we serialized ourselves; a damaged row still renders.
json::value metadata_json(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return json::object{};
  return v;
}
}  // namespace

json::value cost_to_json(const std::optional<std::int64_t>& cost_micros) {
  if (!cost_micros) return nullptr;
  // Whole dollars (zero included) as integers: Boost.JSON would write 0.0 as "0E0".
  if (*cost_micros % 1'000'000 == 0) return *cost_micros / 1'000'000;
  return static_cast<double>(*cost_micros) / 1e6;
}

json::value to_json(const domain::Conversation& c) {
  json::object o;
  o["id"] = c.id;
  o["title"] = text_or_null(c.title);
  o["systemPrompt"] = text_or_null(c.system_prompt);
  o["model"] = text_or_null(c.model);
  o["metadata"] = metadata_json(c.metadata);
  json::array kbs;
  for (const std::string& id : c.knowledge_base_ids) kbs.emplace_back(id);
  o["knowledgeBaseIds"] = std::move(kbs);
  o["messageCount"] = c.message_count;
  o["createdAt"] = format_rfc3339(c.created_at);
  o["updatedAt"] = format_rfc3339(c.updated_at);
  o["pinned"] = c.pinned;
  o["archived"] = c.archived;
  json::array tags;
  for (const std::string& t : c.tags) tags.emplace_back(t);
  o["tags"] = std::move(tags);
  o["promptId"] = text_or_null(c.prompt_id);
  o["summary"] = text_or_null(c.summary);
  return o;
}

json::value to_json(const domain::Message& m) {
  json::object o;
  o["id"] = m.id;
  o["conversationId"] = m.conversation_id;
  o["role"] = domain::to_string(m.role);
  o["content"] = m.content;
  o["status"] = domain::to_string(m.status);
  o["model"] = text_or_null(m.model);
  if (m.input_tokens || m.output_tokens) {
    o["usage"] = json::object{{"inputTokens", m.input_tokens.value_or(0)},
                              {"outputTokens", m.output_tokens.value_or(0)}};
  } else {
    o["usage"] = nullptr;
  }
  o["cost"] = cost_to_json(m.cost_micros);
  o["latencyMs"] = int_or_null(m.latency_ms);
  o["metadata"] = metadata_json(m.metadata);
  // Structured content only where there is some, so plain text messages read as they always did.
  if (!m.parts.empty()) o["parts"] = parts_json(m.parts);
  if (!m.tool_calls.empty()) o["toolCalls"] = tool_calls_json(m.tool_calls);
  if (m.tool_call_id) o["toolCallId"] = *m.tool_call_id;
  o["createdAt"] = format_rfc3339(m.created_at);
  o["parentId"] = text_or_null(m.parent_id);
  o["active"] = m.active;
  o["versionCount"] = m.version_count;
  return o;
}

http::Response ok(const json::value& data, int status) {
  return http::json_ok(json::serialize(data), status);
}

}  // namespace aas::api
