#include "api/content_json.hpp"

namespace aas::api {

namespace {
Error bad(std::string message) { return make_error(errc::invalid_request, std::move(message)); }
}  // namespace

std::string at(std::string_view prefix, std::size_t i, std::string_view rest) {
  return std::string(prefix) + "[" + std::to_string(i) + "]" + std::string(rest);
}

const json::string* string_member(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v ? v->if_string() : nullptr;
}

// A message's content into `m`: a string, null, or an array of parts (text; image_url in user
// messages), of which the text parts are also joined into m.content, one newline apart.
Result<void> read_content(const json::value& v, const std::string& field, llm::ChatMessage& m) {
  if (v.is_string()) {
    m.content = std::string(v.as_string());
    return {};
  }
  if (v.is_null()) return {};
  if (!v.is_array()) return bad("'" + field + "' must be a string or an array of content parts");
  const json::array& parts = v.as_array();
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::string part_field = at(field, i);
    const json::object* p = parts[i].if_object();
    const json::string* type = p ? string_member(*p, "type") : nullptr;
    if (!type) return bad("'" + part_field + ".type' must be a string");
    llm::ContentPart part;
    if (*type == "text") {
      const json::string* text = string_member(*p, "text");
      if (!text) return bad("'" + part_field + ".text' must be a string");
      part.text = std::string(*text);
      // Parts are separate paragraphs to the writer: glued together, "Hello" and "world" would
      // read "Helloworld" to a model that only sees the joined text.
      if (!m.content.empty()) m.content += '\n';
      m.content += part.text;
    } else if (*type == "image_url") {
      const json::value* image = p->if_contains("image_url");
      const json::object* io = image ? image->if_object() : nullptr;
      const json::string* url = io ? string_member(*io, "url") : nullptr;
      if (!url) return bad("'" + part_field + ".image_url.url' must be a string");
      part.kind = llm::ContentPart::Kind::image;
      part.image_url = std::string(*url);
      if (const json::value* detail = io->if_contains("detail"); detail && !detail->is_null()) {
        if (!detail->is_string()) return bad("'" + part_field + ".image_url.detail' must be a string");
        part.detail = std::string(detail->as_string());
      }
    } else {
      // input_audio, file, refusal ...: not carried by this gateway.
      return bad("'" + part_field + ".type' " + std::string(type->subview(0, 32)) +
                 " is not supported (text and image_url are)");
    }
    m.parts.push_back(std::move(part));
  }
  return {};
}

Result<std::vector<llm::ToolCall>> read_tool_calls(const json::value& v, const std::string& field) {
  if (!v.is_array()) return bad("'" + field + "' must be an array");
  std::vector<llm::ToolCall> calls;
  const json::array& a = v.as_array();
  for (std::size_t i = 0; i < a.size(); ++i) {
    const std::string call_field = at(field, i);
    const json::object* c = a[i].if_object();
    const json::string* id = c ? string_member(*c, "id") : nullptr;
    if (!id) return bad("'" + call_field + ".id' must be a string");
    if (const json::string* type = string_member(*c, "type"); type && *type != "function")
      return bad("'" + call_field + ".type' must be function");
    const json::value* f = c->if_contains("function");
    const json::object* fo = f ? f->if_object() : nullptr;
    const json::string* name = fo ? string_member(*fo, "name") : nullptr;
    const json::string* arguments = fo ? string_member(*fo, "arguments") : nullptr;
    if (!name) return bad("'" + call_field + ".function.name' must be a string");
    if (!arguments) return bad("'" + call_field + ".function.arguments' must be a string of JSON");
    calls.push_back({std::string(*id), std::string(*name), std::string(*arguments)});
  }
  return calls;
}

json::array tool_calls_json(const std::vector<llm::ToolCall>& calls) {
  json::array out;
  for (const llm::ToolCall& c : calls)
    out.push_back(json::object{{"id", c.id},
                               {"type", "function"},
                               {"function", json::object{{"name", c.name}, {"arguments", c.arguments}}}});
  return out;
}

namespace {

json::value bytes_json(const std::vector<int>& bytes) {
  if (bytes.empty()) return nullptr;
  json::array a;
  for (int b : bytes) a.push_back(b);
  return a;
}

}  // namespace

json::array token_logprobs_json(const std::vector<llm::TokenLogprob>& tokens) {
  json::array out;
  for (const llm::TokenLogprob& t : tokens) {
    json::array top;
    for (const llm::TokenLogprob& a : t.top)
      top.push_back(json::object{{"token", a.token}, {"logprob", a.logprob}, {"bytes", bytes_json(a.bytes)}});
    out.push_back(json::object{
        {"token", t.token}, {"logprob", t.logprob}, {"bytes", bytes_json(t.bytes)}, {"top_logprobs", std::move(top)}});
  }
  return out;
}

json::array parts_json(const std::vector<llm::ContentPart>& parts) {
  json::array out;
  for (const llm::ContentPart& p : parts) {
    if (p.kind == llm::ContentPart::Kind::text) {
      out.push_back(json::object{{"type", "text"}, {"text", p.text}});
    } else {
      json::object image{{"url", p.image_url}};
      if (!p.detail.empty()) image["detail"] = p.detail;
      out.push_back(json::object{{"type", "image_url"}, {"image_url", std::move(image)}});
    }
  }
  return out;
}

}  // namespace aas::api
