#include "api/anthropic_request.hpp"

#include "api/content_json.hpp"

#include <boost/json/serialize.hpp>

#include <utility>

namespace aas::api::anthropic {

namespace {

Error bad(std::string message) { return make_error(errc::invalid_request, std::move(message)); }

// An image block's source as our image part: base64 becomes a data URL (validated later with
// every other image), url stays a URL.
Result<llm::ContentPart> read_image(const json::object& block, const std::string& field) {
  const json::value* source = block.if_contains("source");
  const json::object* so = source ? source->if_object() : nullptr;
  const json::string* type = so ? string_member(*so, "type") : nullptr;
  if (!type) return bad("'" + field + ".source.type' must be a string");
  llm::ContentPart part;
  part.kind = llm::ContentPart::Kind::image;
  if (*type == "base64") {
    const json::string* media = string_member(*so, "media_type");
    const json::string* data = string_member(*so, "data");
    if (!media) return bad("'" + field + ".source.media_type' must be a string");
    if (!data) return bad("'" + field + ".source.data' must be a string");
    part.image_url = "data:" + std::string(*media) + ";base64," + std::string(*data);
  } else if (*type == "url") {
    const json::string* url = string_member(*so, "url");
    if (!url) return bad("'" + field + ".source.url' must be a string");
    part.image_url = std::string(*url);
  } else {
    return bad("'" + field + ".source.type' must be base64 or url");
  }
  return part;
}

// A string, or text blocks joined a newline apart (system, a tool_result's content); 400 naming
// `field` (and the block) otherwise.
Result<std::string> read_text_blocks(const json::value& v, const std::string& field, std::string_view only_text) {
  if (v.is_string()) return std::string(v.as_string());
  if (!v.is_array()) return bad("'" + field + "' must be a string or an array of text blocks");
  std::string text;
  const json::array& blocks = v.as_array();
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const json::object* b = blocks[i].if_object();
    const json::string* type = b ? string_member(*b, "type") : nullptr;
    const json::string* t = b ? string_member(*b, "text") : nullptr;
    if (!type || *type != "text" || !t) return bad("'" + at(field, i) + "' must be a text block" + std::string(only_text));
    if (i > 0) text += '\n';
    text += *t;
  }
  return text;
}

// One Anthropic message as one or more of ours: a user turn's tool_result blocks become tool
// messages (first, as the API wants them), its text and images one user message; an assistant
// turn's tool_use blocks become its tool calls.
Result<void> read_message(const json::value& v, std::size_t index, std::vector<llm::ChatMessage>& out) {
  const std::string field = at("messages", index);
  const json::object* o = v.if_object();
  const json::string* role = o ? string_member(*o, "role") : nullptr;
  if (!role || (*role != "user" && *role != "assistant"))
    return bad("'" + field + ".role' must be user or assistant");
  llm::ChatMessage m;
  m.role = std::string(*role);
  const json::value* content = o->if_contains("content");
  if (!content) return bad("'" + field + ".content' is required");
  if (content->is_string()) {
    m.content = std::string(content->as_string());
    out.push_back(std::move(m));
    return {};
  }
  if (!content->is_array()) return bad("'" + field + ".content' must be a string or an array of content blocks");
  const json::array& blocks = content->as_array();
  bool has_text = false;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const std::string block_field = at(field + ".content", i);
    const json::object* b = blocks[i].if_object();
    const json::string* type = b ? string_member(*b, "type") : nullptr;
    if (!type) return bad("'" + block_field + ".type' must be a string");
    if (*type == "text") {
      const json::string* text = string_member(*b, "text");
      if (!text) return bad("'" + block_field + ".text' must be a string");
      if (has_text) m.content += '\n';
      m.content += *text;
      has_text = true;
      m.parts.push_back(llm::ContentPart{llm::ContentPart::Kind::text, std::string(*text), {}, {}});
    } else if (*type == "image") {
      if (m.role != "user") return bad("'" + block_field + "' images are allowed in user messages only");
      auto image = read_image(*b, block_field);
      if (!image) return image.error();
      m.parts.push_back(std::move(*image));
    } else if (*type == "tool_use") {
      if (m.role != "assistant") return bad("'" + block_field + "' tool_use blocks belong in assistant messages");
      const json::string* id = string_member(*b, "id");
      const json::string* name = string_member(*b, "name");
      const json::value* input = b->if_contains("input");
      if (!id) return bad("'" + block_field + ".id' must be a string");
      if (!name) return bad("'" + block_field + ".name' must be a string");
      if (!input || !input->is_object()) return bad("'" + block_field + ".input' must be an object");
      m.tool_calls.push_back({std::string(*id), std::string(*name), json::serialize(*input)});
    } else if (*type == "tool_result") {
      if (m.role != "user") return bad("'" + block_field + "' tool_result blocks belong in user messages");
      const json::string* id = string_member(*b, "tool_use_id");
      if (!id) return bad("'" + block_field + ".tool_use_id' must be a string");
      const json::value* content = member(*b, "content");
      auto text = content
                      ? read_text_blocks(*content, block_field + ".content", " (images in tool results are not supported)")
                      : Result<std::string>(std::string());
      if (!text) return text.error();
      llm::ChatMessage result;
      result.role = "tool";
      result.tool_call_id = std::string(*id);
      result.content = std::move(*text);
      if (const json::value* e = b->if_contains("is_error"); e && e->is_bool() && e->as_bool())
        result.content = "Error: " + result.content;  // no such flag in the port: said in words
      out.push_back(std::move(result));
    } else {
      return bad("'" + block_field + ".type' " + std::string(type->subview(0, 32)) +
                 " is not supported (text, image, tool_use and tool_result are)");
    }
  }
  // A text-only message keeps the plain form (its parts are its text); images keep the parts.
  const bool has_image = std::any_of(m.parts.begin(), m.parts.end(),
                                     [](const llm::ContentPart& p) { return p.kind == llm::ContentPart::Kind::image; });
  if (!has_image) m.parts.clear();
  if (has_text || has_image || !m.tool_calls.empty()) out.push_back(std::move(m));
  return {};
}

Result<std::vector<llm::ToolDefinition>> read_tools(const json::value& v) {
  if (!v.is_array()) return bad("'tools' must be an array");
  std::vector<llm::ToolDefinition> tools;
  const json::array& a = v.as_array();
  for (std::size_t i = 0; i < a.size(); ++i) {
    const std::string field = at("tools", i);
    const json::object* t = a[i].if_object();
    if (!t) return bad("'" + field + "' must be an object");
    // Server tools (web_search, bash, ...) have a versioned type; only custom tools are carried.
    if (const json::string* type = string_member(*t, "type"); type && *type != "custom")
      return bad("'" + field + ".type' " + std::string(type->subview(0, 40)) + " is not supported (custom tools are)");
    const json::string* name = string_member(*t, "name");
    if (!name) return bad("'" + field + ".name' must be a string");
    llm::ToolDefinition def;
    def.name = std::string(*name);
    if (const json::value* d = member(*t, "description")) {
      if (!d->is_string()) return bad("'" + field + ".description' must be a string");
      def.description = std::string(d->as_string());
    }
    const json::value* schema = t->if_contains("input_schema");
    if (!schema || !schema->is_object()) return bad("'" + field + ".input_schema' must be a JSON object (a JSON Schema)");
    def.parameters = json::serialize(*schema);
    tools.push_back(std::move(def));
  }
  return tools;
}

Result<void> read_tool_choice(const json::value& v, llm::ChatRequest& call) {
  const json::object* o = v.if_object();
  const json::string* type = o ? string_member(*o, "type") : nullptr;
  if (!type) return bad("'tool_choice.type' must be auto, any, tool or none");
  if (*type == "auto") call.tool_choice = "auto";
  else if (*type == "any") call.tool_choice = "required";
  else if (*type == "none") call.tool_choice = "none";
  else if (*type == "tool") {
    const json::string* name = string_member(*o, "name");
    if (!name) return bad("'tool_choice.name' must be a string");
    call.tool_choice = std::string(*name);
  } else {
    return bad("'tool_choice.type' must be auto, any, tool or none");
  }
  auto disable_parallel = optional_bool(*o, "disable_parallel_tool_use");
  if (!disable_parallel) return bad("'tool_choice.disable_parallel_tool_use' must be a boolean");
  if (disable_parallel->value_or(false)) call.parallel_tool_calls = false;
  return {};
}

Result<void> read_unit_number(const json::object& body, std::string_view key, double hi, std::optional<double>& out) {
  const json::value* v = member(body, key);
  if (!v) return {};
  if (!v->is_number()) return bad("'" + std::string(key) + "' must be a number");
  const double d = v->to_number<double>();
  if (!(d >= 0 && d <= hi)) return bad("'" + std::string(key) + "' must be between 0 and " + (hi == 1 ? "1" : "2"));
  out = d;
  return {};
}

}  // namespace

Result<MessagesRequest> read_messages_request(const json::object& body, const llm::ValidationLimits& limits) {
  MessagesRequest p;
  llm::ChatRequest& call = p.call;

  const json::string* model = string_member(body, "model");
  if (!model || model->empty()) return bad("'model' is required");
  p.model = std::string(*model);

  auto max_tokens = optional_int(body, "max_tokens", 1, 1'000'000, "is required: a positive integer");
  if (!max_tokens || !*max_tokens) return bad("'max_tokens' is required: a positive integer");
  call.max_tokens = static_cast<int>(**max_tokens);

  for (std::string_view key : {"top_k", "thinking", "container", "mcp_servers", "service_tier"})
    if (member(body, key))
      return bad("'" + std::string(key) + "' is not supported by this gateway");

  if (const json::value* system = member(body, "system")) {
    auto text = read_text_blocks(*system, "system", "");
    if (!text) return text.error();
    if (!text->empty()) call.messages.push_back(llm::ChatMessage{"system", std::move(*text), {}, {}, {}, {}});
  }
  const json::value* messages = body.if_contains("messages");
  if (!messages || !messages->is_array() || messages->as_array().empty())
    return bad("'messages' must be a non-empty array");
  for (std::size_t i = 0; i < messages->as_array().size(); ++i)
    if (auto r = read_message(messages->as_array()[i], i, call.messages); !r) return r.error();

  if (auto r = read_unit_number(body, "temperature", 1, call.temperature); !r) return r.error();
  if (auto r = read_unit_number(body, "top_p", 1, call.top_p); !r) return r.error();
  if (const json::value* stop = member(body, "stop_sequences")) {
    if (!stop->is_array()) return bad("'stop_sequences' must be an array of strings");
    for (const json::value& s : stop->as_array()) {
      if (!s.is_string() || s.as_string().empty()) return bad("'stop_sequences' must hold non-empty strings");
      call.stop.emplace_back(s.as_string());
    }
  }
  if (const json::value* metadata = member(body, "metadata")) {
    if (!metadata->is_object()) return bad("'metadata' must be an object");
    auto user = optional_string(metadata->as_object(), "user_id");
    if (!user) return bad("'metadata.user_id' must be a string");
    call.user = user->value_or("");
  }
  if (const json::value* tools = member(body, "tools")) {
    auto read = read_tools(*tools);
    if (!read) return read.error();
    call.tools = std::move(*read);
  }
  if (const json::value* choice = member(body, "tool_choice"))
    if (auto r = read_tool_choice(*choice, call); !r) return r.error();
  if (auto valid = llm::validate_request(call, limits); !valid) return valid.error();

  auto stream = optional_bool(body, "stream");
  if (!stream) return stream.error();
  p.stream = stream->value_or(false);
  return p;
}

}  // namespace aas::api::anthropic
