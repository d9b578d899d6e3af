#include "api/openai_request.hpp"

#include "api/content_json.hpp"

#include <boost/json/serialize.hpp>

#include <cstdio>
#include <limits>
#include <utility>

namespace aas::api::openai {

namespace {

Error bad(std::string message) { return make_error(errc::invalid_request, std::move(message)); }

constexpr std::int64_t max_output_tokens = 1'000'000;  // max_tokens and its other names, at most

Result<llm::ChatMessage> read_message(const json::value& v, std::size_t index) {
  const std::string field = at("messages", index);
  const json::object* o = v.if_object();
  const json::string* role = o ? string_member(*o, "role") : nullptr;
  if (!role) return bad("'" + field + ".role' must be a string");
  llm::ChatMessage m;
  m.role = std::string(*role);
  if (m.role == "developer") m.role = "system";  // OpenAI's newer name for the system role
  if (m.role != "system" && m.role != "user" && m.role != "assistant" && m.role != "tool")
    return bad("'" + field + ".role' " + m.role.substr(0, 32) + " is not supported (function messages are not)");
  if (const json::value* content = o->if_contains("content")) {
    if (auto r = read_content(*content, field + ".content", m); !r) return r.error();
  }
  if (const json::value* name = member(*o, "name")) {
    if (!name->is_string()) return bad("'" + field + ".name' must be a string");
    m.name = std::string(name->as_string());
  }
  if (const json::value* calls = member(*o, "tool_calls")) {
    if (m.role != "assistant") return bad("'" + field + ".tool_calls' is only allowed in assistant messages");
    auto read = read_tool_calls(*calls, field + ".tool_calls");
    if (!read) return read.error();
    m.tool_calls = std::move(*read);
  }
  if (m.role == "tool") {
    const json::string* id = string_member(*o, "tool_call_id");
    if (!id) return bad("'" + field + ".tool_call_id' must be a string");
    m.tool_call_id = std::string(*id);
  }
  return m;
}

// 2 as "2", -0.5 as "-0.5" (JSON's serialiser writes doubles as "2E0").
std::string number_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// A number in [lo, hi] into `out`, when present and not null.
template <class T>
Result<void> read_number(const json::object& body, std::string_view key, double lo, double hi,
                         std::optional<T>& out) {
  const json::value* v = member(body, key);
  if (!v) return {};
  if (!v->is_number()) return bad("'" + std::string(key) + "' must be a number");
  const double d = v->to_number<double>();
  if (!(d >= lo && d <= hi))
    return bad("'" + std::string(key) + "' must be between " + number_text(lo) + " and " + number_text(hi));
  out = static_cast<T>(d);
  return {};
}

// A function's name, description, parameters and strict, from `fo` (chat completions nest them
// under `function`, the Responses API does not); `field` names fo in errors.
Result<llm::ToolDefinition> read_function(const json::object* fo, const std::string& field) {
  const json::string* name = fo ? string_member(*fo, "name") : nullptr;
  if (!name) return bad("'" + field + ".name' must be a string");
  llm::ToolDefinition def;
  def.name = std::string(*name);
  if (const json::value* d = member(*fo, "description")) {
    if (!d->is_string()) return bad("'" + field + ".description' must be a string");
    def.description = std::string(d->as_string());
  }
  if (const json::value* p = member(*fo, "parameters")) {
    if (!p->is_object()) return bad("'" + field + ".parameters' must be a JSON object (a JSON Schema)");
    def.parameters = json::serialize(*p);
  }
  if (const json::value* st = member(*fo, "strict")) {
    if (!st->is_bool()) return bad("'" + field + ".strict' must be a boolean");
    def.strict = st->as_bool();
  }
  return def;
}

Result<std::vector<llm::ToolDefinition>> read_tools(const json::value& v) {
  if (!v.is_array()) return bad("'tools' must be an array");
  std::vector<llm::ToolDefinition> tools;
  const json::array& a = v.as_array();
  for (std::size_t i = 0; i < a.size(); ++i) {
    const std::string field = at("tools", i);
    const json::object* t = a[i].if_object();
    const json::string* type = t ? string_member(*t, "type") : nullptr;
    if (!type || *type != "function") return bad("'" + field + ".type' must be function");
    const json::value* f = t->if_contains("function");
    auto def = read_function(f ? f->if_object() : nullptr, field + ".function");
    if (!def) return def.error();
    tools.push_back(std::move(*def));
  }
  return tools;
}

Result<std::string> read_tool_choice(const json::value& v) {
  if (v.is_string()) {
    const json::string& s = v.as_string();
    if (s == "auto" || s == "none" || s == "required") return std::string(s);
    return bad("'tool_choice' must be auto, none, required or {type: function, function: {name}}");
  }
  const json::object* o = v.if_object();
  const json::value* f = o ? o->if_contains("function") : nullptr;
  const json::object* fo = f ? f->if_object() : nullptr;
  const json::string* name = fo ? string_member(*fo, "name") : nullptr;
  if (!name || string_member(*o, "type") == nullptr || *string_member(*o, "type") != "function")
    return bad("'tool_choice' must be auto, none, required or {type: function, function: {name}}");
  return std::string(*name);
}

Result<llm::ResponseFormat> read_response_format(const json::value& v) {
  const json::object* o = v.if_object();
  const json::string* type = o ? string_member(*o, "type") : nullptr;
  if (!type) return bad("'response_format.type' must be a string");
  llm::ResponseFormat f;
  if (*type == "text") return f;
  if (*type == "json_object") {
    f.kind = llm::ResponseFormat::Kind::json_object;
    return f;
  }
  if (*type != "json_schema") return bad("'response_format.type' must be text, json_object or json_schema");
  f.kind = llm::ResponseFormat::Kind::json_schema;
  const json::value* spec = o->if_contains("json_schema");
  const json::object* so = spec ? spec->if_object() : nullptr;
  const json::string* name = so ? string_member(*so, "name") : nullptr;
  if (!name) return bad("'response_format.json_schema.name' must be a string");
  f.schema_name = std::string(*name);
  const json::value* schema = so->if_contains("schema");
  if (!schema || !schema->is_object())
    return bad("'response_format.json_schema.schema' must be a JSON object (a JSON Schema)");
  f.schema = json::serialize(*schema);
  if (const json::value* st = member(*so, "strict")) {
    if (!st->is_bool()) return bad("'response_format.json_schema.strict' must be a boolean");
    f.strict = st->as_bool();
  }
  return f;
}

// stream_options.include_usage when it is a boolean; anything else there is ignored.
bool include_usage(const json::object& body) {
  const json::value* so = body.if_contains("stream_options");
  const json::value* iu = so && so->is_object() ? so->as_object().if_contains("include_usage") : nullptr;
  return iu && iu->is_bool() && iu->as_bool();
}

// Parameters of OpenAI's API this gateway does not carry: a 400 rather than silence.
constexpr std::pair<std::string_view, std::string_view> unsupported[] = {
    {"logit_bias", "'logit_bias' is not supported"},
    {"functions", "'functions' is not supported: use 'tools'"},
    {"function_call", "'function_call' is not supported: use 'tool_choice'"},
    {"audio", "'audio' output is not supported"},
    {"prediction", "'prediction' is not supported"},
};

// `n`: how many answers (choices) to generate, 1 to max_choices; absent or null: 1.
Result<int> read_choice_count(const json::object& body, std::string_view key) {
  auto n = optional_int(body, key, 1, max_choices, "must be an integer from 1 to " + std::to_string(max_choices));
  if (!n) return n.error();
  return static_cast<int>(n->value_or(1));
}

// The parameters chat and legacy completions share: sampling, penalties, seed, max tokens (from
// the first of max_completion_tokens / max_tokens given), stop, user.
Result<void> read_sampling(const json::object& body, llm::ChatRequest& call) {
  if (auto r = read_number(body, "temperature", 0, 2, call.temperature); !r) return r.error();
  if (auto r = read_number(body, "top_p", 0, 1, call.top_p); !r) return r.error();
  if (auto r = read_number(body, "presence_penalty", -2, 2, call.presence_penalty); !r) return r.error();
  if (auto r = read_number(body, "frequency_penalty", -2, 2, call.frequency_penalty); !r) return r.error();
  auto seed = optional_int(body, "seed", std::numeric_limits<std::int64_t>::min(),
                           std::numeric_limits<std::int64_t>::max(), "must be an integer");
  if (!seed) return seed.error();
  call.seed = *seed;
  // The first of the two names given counts; the other is not read.
  for (std::string_view key : {"max_completion_tokens", "max_tokens"}) {
    if (call.max_tokens) break;
    auto t = optional_int(body, key, 1, max_output_tokens, "must be a positive integer");
    if (!t) return t.error();
    if (*t) call.max_tokens = static_cast<int>(**t);
  }
  if (const json::value* stop = member(body, "stop")) {
    if (stop->is_string()) {
      call.stop.emplace_back(stop->as_string());
    } else if (stop->is_array() && stop->as_array().size() <= 4) {
      for (const json::value& s : stop->as_array()) {
        if (!s.is_string() || s.as_string().empty()) return bad("'stop' must hold non-empty strings");
        call.stop.emplace_back(s.as_string());
      }
    } else {
      return bad("'stop' must be a string or an array of up to 4 strings");
    }
  }
  auto user = optional_string(body, "user");
  if (!user) return user.error();
  call.user = user->value_or("");

  return {};
}

}  // namespace

Result<ChatCompletionRequest> read_chat_completion(const json::object& body, const llm::ValidationLimits& limits) {
  ChatCompletionRequest p;
  llm::ChatRequest& call = p.call;

  auto model = optional_string(body, "model");
  if (!model) return model.error();
  if (!*model) return bad("'model' is required");
  p.model = std::move(**model);

  for (const auto& [key, message] : unsupported) {
    const json::value* v = member(body, key);
    // logprobs: false is what some clients send by default, and asks for nothing.
    if (v && !(v->is_bool() && !v->as_bool())) return bad(std::string(message));
  }
  auto n = read_choice_count(body, "n");
  if (!n) return n.error();
  p.n = *n;
  auto logprobs = optional_bool(body, "logprobs");
  if (!logprobs) return logprobs.error();
  call.logprobs = logprobs->value_or(false);
  auto top = optional_int(body, "top_logprobs", 0, 20, "must be an integer from 0 to 20");
  if (!top) return top.error();
  if (*top) {
    // As OpenAI answers it: alternatives come with the tokens' own log probabilities only.
    if (!call.logprobs) return bad("'top_logprobs' requires 'logprobs' to be true");
    call.top_logprobs = static_cast<int>(**top);
  }

  const json::value* messages = body.if_contains("messages");
  if (!messages || !messages->is_array() || messages->as_array().empty())
    return bad("'messages' must be a non-empty array");
  for (std::size_t i = 0; i < messages->as_array().size(); ++i) {
    auto m = read_message(messages->as_array()[i], i);
    if (!m) return m.error();
    call.messages.push_back(std::move(*m));
  }

  if (auto r = read_sampling(body, call); !r) return r.error();

  if (const json::value* tools = member(body, "tools")) {
    auto read = read_tools(*tools);
    if (!read) return read.error();
    call.tools = std::move(*read);
  }
  if (const json::value* choice = member(body, "tool_choice")) {
    auto read = read_tool_choice(*choice);
    if (!read) return read.error();
    call.tool_choice = std::move(*read);
  }
  auto parallel = optional_bool(body, "parallel_tool_calls");
  if (!parallel) return parallel.error();
  call.parallel_tool_calls = *parallel;
  if (const json::value* format = member(body, "response_format")) {
    auto read = read_response_format(*format);
    if (!read) return read.error();
    call.response_format = std::move(*read);
  }
  if (auto valid = llm::validate_request(call, limits); !valid) return valid.error();

  auto stream = optional_bool(body, "stream");
  if (!stream) return stream.error();
  p.stream = stream->value_or(false);
  p.include_usage = include_usage(body);
  return p;
}


Result<EmbeddingsRequest> read_embeddings(const json::object& body) {
  EmbeddingsRequest r;
  auto model = optional_string(body, "model");
  if (!model) return model.error();
  r.model = model->value_or("");

  const json::value* input = body.if_contains("input");
  constexpr std::size_t max_inputs = 2048;  // OpenAI's own limit
  if (input && input->is_string()) {
    r.inputs.emplace_back(input->as_string());
  } else if (input && input->is_array() && !input->as_array().empty() && input->as_array().size() <= max_inputs) {
    for (const json::value& item : input->as_array()) {
      if (!item.is_string())
        return bad("'input' must be a string or an array of strings (token arrays are not supported)");
      r.inputs.emplace_back(item.as_string());
    }
  } else {
    return bad("'input' must be a string or an array of 1 to 2048 strings");
  }
  for (const std::string& text : r.inputs)
    if (text.empty()) return bad("'input' must not contain empty strings");

  auto dimensions = optional_int(body, "dimensions", 1, 65536, "must be a positive integer");
  if (!dimensions) return dimensions.error();
  if (*dimensions) r.dimensions = static_cast<int>(**dimensions);
  auto format = optional_string(body, "encoding_format");
  if (!format) return format.error();
  const std::string encoding = format->value_or("float");
  if (encoding != "float" && encoding != "base64") return bad("'encoding_format' must be float or base64");
  r.base64 = encoding == "base64";
  auto user = optional_string(body, "user");
  if (!user) return user.error();
  r.user = user->value_or("");
  return r;
}

namespace {

// Responses' content parts of one message into `m` (text parts joined a newline apart).
Result<void> read_response_parts(const json::array& parts, const std::string& field, llm::ChatMessage& m) {
  bool image = false;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::string part_field = at(field, i);
    const json::object* p = parts[i].if_object();
    const json::string* type = p ? string_member(*p, "type") : nullptr;
    if (!type) return bad("'" + part_field + ".type' must be a string");
    llm::ContentPart part;
    if (*type == "input_text" || *type == "output_text") {
      const json::string* text = string_member(*p, "text");
      if (!text) return bad("'" + part_field + ".text' must be a string");
      part.text = std::string(*text);
      if (!m.content.empty()) m.content += '\n';
      m.content += part.text;
    } else if (*type == "input_image") {
      const json::string* url = string_member(*p, "image_url");
      if (!url) return bad("'" + part_field + ".image_url' must be a string (file ids are not supported)");
      part.kind = llm::ContentPart::Kind::image;
      part.image_url = std::string(*url);
      if (const json::string* detail = string_member(*p, "detail")) part.detail = std::string(*detail);
      image = true;
    } else {
      return bad("'" + part_field + ".type' " + std::string(type->subview(0, 32)) +
                 " is not supported (input_text, output_text and input_image are)");
    }
    m.parts.push_back(std::move(part));
  }
  if (!image) m.parts.clear();  // text only: the plain form
  return {};
}

// One input item into `out`: a message, a function call (joined to the assistant message
// before it, as chat completions carry calls) or a function call's output (a tool message).
Result<void> read_input_item(const json::value& v, std::size_t index, std::vector<llm::ChatMessage>& out) {
  const std::string field = at("input", index);
  const json::object* o = v.if_object();
  if (!o) return bad("'" + field + "' must be an object");
  const json::string* type = string_member(*o, "type");
  if (!type || *type == "message") {
    const json::string* role = string_member(*o, "role");
    if (!role || (*role != "user" && *role != "assistant" && *role != "system" && *role != "developer"))
      return bad("'" + field + ".role' must be user, assistant, system or developer");
    llm::ChatMessage m;
    m.role = *role == "developer" ? "system" : std::string(*role);
    const json::value* content = o->if_contains("content");
    if (content && content->is_string()) {
      m.content = std::string(content->as_string());
    } else if (content && content->is_array()) {
      if (auto r = read_response_parts(content->as_array(), field + ".content", m); !r) return r.error();
    } else {
      return bad("'" + field + ".content' must be a string or an array of content parts");
    }
    out.push_back(std::move(m));
    return {};
  }
  if (*type == "function_call") {
    const json::string* call_id = string_member(*o, "call_id");
    const json::string* name = string_member(*o, "name");
    const json::string* arguments = string_member(*o, "arguments");
    if (!call_id) return bad("'" + field + ".call_id' must be a string");
    if (!name) return bad("'" + field + ".name' must be a string");
    if (!arguments) return bad("'" + field + ".arguments' must be a string of JSON");
    if (out.empty() || out.back().role != "assistant") out.push_back(llm::ChatMessage{"assistant", {}, {}, {}, {}, {}});
    out.back().tool_calls.push_back({std::string(*call_id), std::string(*name), std::string(*arguments)});
    return {};
  }
  if (*type == "function_call_output") {
    const json::string* call_id = string_member(*o, "call_id");
    const json::string* output = string_member(*o, "output");
    if (!call_id) return bad("'" + field + ".call_id' must be a string");
    if (!output) return bad("'" + field + ".output' must be a string");
    llm::ChatMessage m;
    m.role = "tool";
    m.tool_call_id = std::string(*call_id);
    m.content = std::string(*output);
    out.push_back(std::move(m));
    return {};
  }
  return bad("'" + field + ".type' " + std::string(type->subview(0, 32)) +
             " is not supported (message, function_call and function_call_output are)");
}

// text.format: {type: text | json_object | json_schema (name, schema, strict)}.
Result<llm::ResponseFormat> read_text_format(const json::value& v) {
  const json::object* text = v.if_object();
  if (!text) return bad("'text' must be an object");
  const json::value* format = member(*text, "format");
  if (!format) return llm::ResponseFormat{};
  const json::object* f = format->if_object();
  const json::string* type = f ? string_member(*f, "type") : nullptr;
  if (!type) return bad("'text.format.type' must be a string");
  llm::ResponseFormat out;
  if (*type == "text") return out;
  if (*type == "json_object") {
    out.kind = llm::ResponseFormat::Kind::json_object;
    return out;
  }
  if (*type != "json_schema") return bad("'text.format.type' must be text, json_object or json_schema");
  out.kind = llm::ResponseFormat::Kind::json_schema;
  const json::string* name = string_member(*f, "name");
  if (!name) return bad("'text.format.name' must be a string");
  out.schema_name = std::string(*name);
  const json::value* schema = f->if_contains("schema");
  if (!schema || !schema->is_object()) return bad("'text.format.schema' must be a JSON object (a JSON Schema)");
  out.schema = json::serialize(*schema);
  if (const json::value* st = f->if_contains("strict"); st && st->is_bool()) out.strict = st->as_bool();
  return out;
}

}  // namespace

Result<ResponseRequest> read_response_request(const json::object& body) {
  ResponseRequest r;
  llm::ChatRequest& call = r.call;
  const json::string* model = string_member(body, "model");
  if (!model || model->empty()) return bad("'model' is required");
  r.model = std::string(*model);

  for (std::string_view key : {"reasoning", "background", "conversation", "prompt"}) {
    const json::value* v = member(body, key);
    const bool empty = !v || (v->is_array() && v->as_array().empty()) || (v->is_bool() && !v->as_bool());
    if (!empty) return bad("'" + std::string(key) + "' is not supported by this gateway");
  }
  // Of `include`, only the answer's log probabilities (the rest names tools this gateway has not).
  if (const json::value* include = member(body, "include")) {
    if (!include->is_array()) return bad("'include' must be an array of strings");
    for (std::size_t i = 0; i < include->as_array().size(); ++i) {
      const json::value& v = include->as_array()[i];
      if (!v.is_string()) return bad("'" + at("include", i) + "' must be a string");
      if (v.as_string() != "message.output_text.logprobs")
        return bad("'" + at("include", i) + "': '" + std::string(v.as_string()) + "' is not supported by this gateway");
      call.logprobs = true;
    }
  }
  auto top = optional_int(body, "top_logprobs", 0, 20, "must be an integer from 0 to 20");
  if (!top) return top.error();
  if (*top) {
    call.logprobs = true;  // alternatives come with the tokens' own log probabilities
    call.top_logprobs = static_cast<int>(**top);
  }
  auto instructions = optional_string(body, "instructions");
  if (!instructions) return instructions.error();
  r.instructions = instructions->value_or("");
  if (!r.instructions.empty()) call.messages.push_back(llm::ChatMessage{"system", r.instructions, {}, {}, {}, {}});

  const json::value* input = body.if_contains("input");
  if (input && input->is_string()) {
    call.messages.push_back(llm::ChatMessage{"user", std::string(input->as_string()), {}, {}, {}, {}});
  } else if (input && input->is_array() && !input->as_array().empty()) {
    for (std::size_t i = 0; i < input->as_array().size(); ++i)
      if (auto read = read_input_item(input->as_array()[i], i, call.messages); !read) return read.error();
  } else {
    return bad("'input' must be a string or a non-empty array of input items");
  }

  if (auto n = read_number(body, "temperature", 0, 2, call.temperature); !n) return n.error();
  if (auto n = read_number(body, "top_p", 0, 1, call.top_p); !n) return n.error();
  auto max_tokens = optional_int(body, "max_output_tokens", 1, max_output_tokens, "must be a positive integer");
  if (!max_tokens) return max_tokens.error();
  if (*max_tokens) call.max_tokens = static_cast<int>(**max_tokens);
  auto user = optional_string(body, "user");
  if (!user) return user.error();
  call.user = user->value_or("");

  if (const json::value* tools = member(body, "tools")) {
    if (!tools->is_array()) return bad("'tools' must be an array");
    for (std::size_t i = 0; i < tools->as_array().size(); ++i) {
      const std::string field = at("tools", i);
      const json::object* t = tools->as_array()[i].if_object();
      const json::string* type = t ? string_member(*t, "type") : nullptr;
      if (!type || *type != "function")
        return bad("'" + field + ".type' must be function (built-in tools are not supported)");
      auto def = read_function(t, field);
      if (!def) return def.error();
      call.tools.push_back(std::move(*def));
    }
  }
  if (const json::value* choice = member(body, "tool_choice")) {
    const json::object* o = choice->if_object();
    const json::string* name = o ? string_member(*o, "name") : nullptr;
    if (choice->is_string() && (choice->as_string() == "auto" || choice->as_string() == "none" ||
                                choice->as_string() == "required"))
      call.tool_choice = std::string(choice->as_string());
    else if (name && string_member(*o, "type") && *string_member(*o, "type") == "function")
      call.tool_choice = std::string(*name);
    else
      return bad("'tool_choice' must be auto, none, required or {type: function, name}");
  }
  auto parallel = optional_bool(body, "parallel_tool_calls");
  if (!parallel) return parallel.error();
  call.parallel_tool_calls = *parallel;
  if (const json::value* text = member(body, "text")) {
    auto format = read_text_format(*text);
    if (!format) return format.error();
    call.response_format = std::move(*format);
  }
  if (const json::value* metadata = member(body, "metadata"); metadata && !metadata->is_object())
    return bad("'metadata' must be an object");

  auto previous = optional_string(body, "previous_response_id");
  if (!previous) return previous.error();
  r.previous_response_id = previous->value_or("");
  auto store = optional_bool(body, "store");
  if (!store) return store.error();
  r.store = store->value_or(true);
  auto stream = optional_bool(body, "stream");
  if (!stream) return stream.error();
  r.stream = stream->value_or(false);
  return r;
}

Result<CompletionRequest> read_completion_request(const json::object& body) {
  CompletionRequest r;
  const json::string* model = string_member(body, "model");
  if (!model || model->empty()) return bad("'model' is required");
  r.model = std::string(*model);

  const json::value* prompt = body.if_contains("prompt");
  constexpr std::size_t max_prompts = 16;
  if (prompt && prompt->is_string()) {
    r.prompts.emplace_back(prompt->as_string());
  } else if (prompt && prompt->is_array() && !prompt->as_array().empty() && prompt->as_array().size() <= max_prompts) {
    for (const json::value& p : prompt->as_array()) {
      if (!p.is_string()) return bad("'prompt' must be a string or an array of strings (token arrays are not supported)");
      r.prompts.emplace_back(p.as_string());
    }
  } else {
    return bad("'prompt' must be a string or an array of 1 to 16 strings");
  }
  for (const std::string& p : r.prompts)
    if (p.empty()) return bad("'prompt' must not be empty");

  // Legacy logprobs is a count (0 to 5) of alternatives per token: the chat form's logprobs with
  // top_logprobs, answered in the legacy shape.
  auto logprobs = optional_int(body, "logprobs", 0, 5, "must be an integer from 0 to 5");
  if (!logprobs) return logprobs.error();
  if (*logprobs) {
    r.call.logprobs = true;
    r.call.top_logprobs = static_cast<int>(**logprobs);
  }
  constexpr std::pair<std::string_view, std::string_view> refused[] = {
      {"logit_bias", "'logit_bias' is not supported"},
      {"suffix", "'suffix' (insertion) is not supported"},
  };
  for (const auto& [key, message] : refused)
    if (member(body, key)) return bad(std::string(message));
  if (const json::value* echo = member(body, "echo"); echo && !(echo->is_bool() && !echo->as_bool()))
    return bad("'echo' is not supported");
  auto n = read_choice_count(body, "n");
  if (!n) return n.error();
  r.n = *n;
  if (static_cast<std::size_t>(r.n) * r.prompts.size() > max_prompts)
    return bad("'n' times the number of prompts must not exceed " + std::to_string(max_prompts));
  // best_of picks the likeliest of several answers by their log probabilities, which would need
  // them from every upstream: only its no-op value is taken.
  auto best_of = optional_int(body, "best_of", 1, std::numeric_limits<std::int64_t>::max(), "must be a positive integer");
  if (!best_of) return best_of.error();
  if (best_of->value_or(1) != 1) return bad("'best_of' greater than 1 is not supported");
  if (auto s = read_sampling(body, r.call); !s) return s.error();
  if (!r.call.max_tokens) r.call.max_tokens = 16;  // OpenAI's default for this endpoint

  auto stream = optional_bool(body, "stream");
  if (!stream) return stream.error();
  r.stream = stream->value_or(false);
  if (r.stream && r.prompts.size() > 1) return bad("'prompt' must be one string when streaming");
  r.include_usage = include_usage(body);
  return r;
}

}  // namespace aas::api::openai
