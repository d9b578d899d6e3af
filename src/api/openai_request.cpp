#include "api/openai_request.hpp"

#include "api/content_json.hpp"

#include <boost/json/serialize.hpp>

#include <cstdio>
#include <utility>

namespace aas::api::openai {

namespace {

Error bad(std::string message) { return make_error(errc::invalid_request, std::move(message)); }

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
  if (const json::value* name = o->if_contains("name"); name && !name->is_null()) {
    if (!name->is_string()) return bad("'" + field + ".name' must be a string");
    m.name = std::string(name->as_string());
  }
  if (const json::value* calls = o->if_contains("tool_calls"); calls && !calls->is_null()) {
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
  const json::value* v = body.if_contains(key);
  if (!v || v->is_null()) return {};
  if (!v->is_number()) return bad("'" + std::string(key) + "' must be a number");
  const double d = v->to_number<double>();
  if (!(d >= lo && d <= hi))
    return bad("'" + std::string(key) + "' must be between " + number_text(lo) + " and " + number_text(hi));
  out = static_cast<T>(d);
  return {};
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
    const json::object* fo = f ? f->if_object() : nullptr;
    const json::string* name = fo ? string_member(*fo, "name") : nullptr;
    if (!name) return bad("'" + field + ".function.name' must be a string");
    llm::ToolDefinition def;
    def.name = std::string(*name);
    if (const json::value* d = fo->if_contains("description"); d && !d->is_null()) {
      if (!d->is_string()) return bad("'" + field + ".function.description' must be a string");
      def.description = std::string(d->as_string());
    }
    if (const json::value* p = fo->if_contains("parameters"); p && !p->is_null()) {
      if (!p->is_object()) return bad("'" + field + ".function.parameters' must be a JSON object (a JSON Schema)");
      def.parameters = json::serialize(*p);
    }
    if (const json::value* st = fo->if_contains("strict"); st && !st->is_null()) {
      if (!st->is_bool()) return bad("'" + field + ".function.strict' must be a boolean");
      def.strict = st->as_bool();
    }
    tools.push_back(std::move(def));
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
  if (const json::value* st = so->if_contains("strict"); st && !st->is_null()) {
    if (!st->is_bool()) return bad("'response_format.json_schema.strict' must be a boolean");
    f.strict = st->as_bool();
  }
  return f;
}

// Parameters of OpenAI's API this gateway does not carry: a 400 rather than silence.
constexpr std::pair<std::string_view, std::string_view> unsupported[] = {
    {"logprobs", "'logprobs' is not supported yet"},
    {"top_logprobs", "'top_logprobs' is not supported yet"},
    {"logit_bias", "'logit_bias' is not supported"},
    {"functions", "'functions' is not supported: use 'tools'"},
    {"function_call", "'function_call' is not supported: use 'tool_choice'"},
    {"audio", "'audio' output is not supported"},
    {"prediction", "'prediction' is not supported"},
};

}  // namespace

Result<ChatCompletionRequest> read_chat_completion(const json::object& body, const llm::ValidationLimits& limits) {
  ChatCompletionRequest p;
  llm::ChatRequest& call = p.call;

  auto model = optional_string(body, "model");
  if (!model) return model.error();
  if (!*model) return bad("'model' is required");
  p.model = std::move(**model);

  for (const auto& [key, message] : unsupported) {
    const json::value* v = body.if_contains(key);
    // logprobs: false is what some clients send by default, and asks for nothing.
    if (v && !v->is_null() && !(v->is_bool() && !v->as_bool())) return bad(std::string(message));
  }
  if (const json::value* n = body.if_contains("n"); n && !n->is_null()) {
    if (!n->is_int64() || n->as_int64() < 1) return bad("'n' must be a positive integer");
    if (n->as_int64() != 1) return bad("'n' greater than 1 is not supported yet: ask once per answer");
  }

  const json::value* messages = body.if_contains("messages");
  if (!messages || !messages->is_array() || messages->as_array().empty())
    return bad("'messages' must be a non-empty array");
  for (std::size_t i = 0; i < messages->as_array().size(); ++i) {
    auto m = read_message(messages->as_array()[i], i);
    if (!m) return m.error();
    call.messages.push_back(std::move(*m));
  }

  if (auto r = read_number(body, "temperature", 0, 2, call.temperature); !r) return r.error();
  if (auto r = read_number(body, "top_p", 0, 1, call.top_p); !r) return r.error();
  if (auto r = read_number(body, "presence_penalty", -2, 2, call.presence_penalty); !r) return r.error();
  if (auto r = read_number(body, "frequency_penalty", -2, 2, call.frequency_penalty); !r) return r.error();
  if (const json::value* seed = body.if_contains("seed"); seed && !seed->is_null()) {
    if (!seed->is_int64()) return bad("'seed' must be an integer");
    call.seed = seed->as_int64();
  }
  for (std::string_view key : {"max_completion_tokens", "max_tokens"}) {
    const json::value* t = body.if_contains(key);
    if (!t || t->is_null() || call.max_tokens) continue;
    if (!t->is_int64() || t->as_int64() < 1 || t->as_int64() > 1'000'000)
      return bad("'" + std::string(key) + "' must be a positive integer");
    call.max_tokens = static_cast<int>(t->as_int64());
  }
  if (const json::value* stop = body.if_contains("stop"); stop && !stop->is_null()) {
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

  if (const json::value* tools = body.if_contains("tools"); tools && !tools->is_null()) {
    auto read = read_tools(*tools);
    if (!read) return read.error();
    call.tools = std::move(*read);
  }
  if (const json::value* choice = body.if_contains("tool_choice"); choice && !choice->is_null()) {
    auto read = read_tool_choice(*choice);
    if (!read) return read.error();
    call.tool_choice = std::move(*read);
  }
  auto parallel = optional_bool(body, "parallel_tool_calls");
  if (!parallel) return parallel.error();
  call.parallel_tool_calls = *parallel;
  if (const json::value* format = body.if_contains("response_format"); format && !format->is_null()) {
    auto read = read_response_format(*format);
    if (!read) return read.error();
    call.response_format = std::move(*read);
  }
  if (auto valid = llm::validate_request(call, limits); !valid) return valid.error();

  auto stream = optional_bool(body, "stream");
  if (!stream) return stream.error();
  p.stream = stream->value_or(false);
  if (const json::value* so = body.if_contains("stream_options"); so && so->is_object()) {
    if (const json::value* iu = so->as_object().if_contains("include_usage"); iu && iu->is_bool())
      p.include_usage = iu->as_bool();
  }
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

  if (const json::value* d = body.if_contains("dimensions"); d && !d->is_null()) {
    if (!d->is_int64() || d->as_int64() < 1 || d->as_int64() > 65536)
      return bad("'dimensions' must be a positive integer");
    r.dimensions = static_cast<int>(d->as_int64());
  }
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

}  // namespace aas::api::openai
