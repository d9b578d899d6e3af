// The OpenAI-compatible gateway: POST /api/ai/v1/chat/completions, POST /api/ai/v1/embeddings and
// GET /api/ai/v1/models,
// in OpenAI's own wire format, so any OpenAI SDK can use the service as its base URL
// (baseURL = http://host:4002/api/ai/v1, apiKey = the user's JWT). Errors keep the service's
// envelope, whose `error.message` the SDKs read, and whose status picks their typed error.
#include "api/api.hpp"
#include "api/content_json.hpp"
#include "api/json_io.hpp"
#include "api/stream_gauge.hpp"
#include "chat/gateway_service.hpp"
#include "core/base64.hpp"
#include "core/ids.hpp"
#include "llm/validate.hpp"
#include "http/error_response.hpp"
#include "http/sse.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json/serialize.hpp>

#include <bit>
#include <chrono>
#include <memory>

namespace aas::api {

namespace {

namespace asio = boost::asio;
using Reply = asio::awaitable<Result<http::Response>>;

Error bad(std::string message) { return make_error(errc::invalid_request, std::move(message)); }

std::int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// OpenAI's finish reasons; ours map onto them.
std::string_view openai_finish_reason(std::string_view reason) {
  if (reason == "length" || reason == "tool_calls" || reason == "content_filter") return reason;
  return "stop";
}

json::object usage_json(const llm::Usage& u) {
  json::object o{{"prompt_tokens", u.input_tokens},
                 {"completion_tokens", u.output_tokens},
                 {"total_tokens", u.input_tokens + u.output_tokens}};
  if (u.cached_input_tokens) o["prompt_tokens_details"] = json::object{{"cached_tokens", u.cached_input_tokens}};
  if (u.reasoning_tokens)
    o["completion_tokens_details"] = json::object{{"reasoning_tokens", u.reasoning_tokens}};
  return o;
}

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

// A number in [lo, hi] into `out`, when present and not null.
template <class T>
Result<void> read_number(const json::object& body, std::string_view key, double lo, double hi,
                         std::optional<T>& out) {
  const json::value* v = body.if_contains(key);
  if (!v || v->is_null()) return {};
  if (!v->is_number()) return bad("'" + std::string(key) + "' must be a number");
  const double d = v->to_number<double>();
  if (!(d >= lo && d <= hi))
    return bad("'" + std::string(key) + "' must be between " + json::serialize(json::value(lo)) + " and " +
               json::serialize(json::value(hi)));
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

struct Parsed {
  chat::DirectRequest request;
  bool stream = false;
  bool include_usage = false;
};

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

Result<Parsed> parse_request(const http::Context& ctx, const chat::GatewayOptions& options) {
  auto body = parse_object(ctx.request);
  if (!body) return body.error();
  Parsed p;
  p.request.user_id = ctx.user().user_id;
  p.request.roles = ctx.user().roles;
  p.request.request_id = ctx.request_id;
  llm::ChatRequest& call = p.request.call;

  auto model = optional_string(*body, "model");
  if (!model) return model.error();
  if (!*model) return bad("'model' is required");
  p.request.model = std::move(**model);

  for (const auto& [key, message] : unsupported) {
    const json::value* v = body->if_contains(key);
    // logprobs: false is what some clients send by default, and asks for nothing.
    if (v && !v->is_null() && !(v->is_bool() && !v->as_bool())) return bad(std::string(message));
  }
  if (const json::value* n = body->if_contains("n"); n && !n->is_null()) {
    if (!n->is_int64() || n->as_int64() < 1) return bad("'n' must be a positive integer");
    if (n->as_int64() != 1) return bad("'n' greater than 1 is not supported yet: ask once per answer");
  }

  const json::value* messages = body->if_contains("messages");
  if (!messages || !messages->is_array() || messages->as_array().empty())
    return bad("'messages' must be a non-empty array");
  for (std::size_t i = 0; i < messages->as_array().size(); ++i) {
    auto m = read_message(messages->as_array()[i], i);
    if (!m) return m.error();
    call.messages.push_back(std::move(*m));
  }

  if (auto r = read_number(*body, "temperature", 0, 2, call.temperature); !r) return r.error();
  if (auto r = read_number(*body, "top_p", 0, 1, call.top_p); !r) return r.error();
  if (auto r = read_number(*body, "presence_penalty", -2, 2, call.presence_penalty); !r) return r.error();
  if (auto r = read_number(*body, "frequency_penalty", -2, 2, call.frequency_penalty); !r) return r.error();
  if (const json::value* seed = body->if_contains("seed"); seed && !seed->is_null()) {
    if (!seed->is_int64()) return bad("'seed' must be an integer");
    call.seed = seed->as_int64();
  }
  for (std::string_view key : {"max_completion_tokens", "max_tokens"}) {
    const json::value* t = body->if_contains(key);
    if (!t || t->is_null() || call.max_tokens) continue;
    if (!t->is_int64() || t->as_int64() < 1 || t->as_int64() > 1'000'000)
      return bad("'" + std::string(key) + "' must be a positive integer");
    call.max_tokens = static_cast<int>(t->as_int64());
  }
  if (const json::value* stop = body->if_contains("stop"); stop && !stop->is_null()) {
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
  auto user = optional_string(*body, "user");
  if (!user) return user.error();
  call.user = user->value_or("");

  if (const json::value* tools = body->if_contains("tools"); tools && !tools->is_null()) {
    auto read = read_tools(*tools);
    if (!read) return read.error();
    call.tools = std::move(*read);
  }
  if (const json::value* choice = body->if_contains("tool_choice"); choice && !choice->is_null()) {
    auto read = read_tool_choice(*choice);
    if (!read) return read.error();
    call.tool_choice = std::move(*read);
  }
  auto parallel = optional_bool(*body, "parallel_tool_calls");
  if (!parallel) return parallel.error();
  call.parallel_tool_calls = *parallel;
  if (const json::value* format = body->if_contains("response_format"); format && !format->is_null()) {
    auto read = read_response_format(*format);
    if (!read) return read.error();
    call.response_format = std::move(*read);
  }
  if (auto valid = llm::validate_request(call, {options.max_image_bytes}); !valid) return valid.error();

  auto stream = optional_bool(*body, "stream");
  if (!stream) return stream.error();
  p.stream = stream->value_or(false);
  if (const json::value* so = body->if_contains("stream_options"); so && so->is_object()) {
    if (const json::value* iu = so->as_object().if_contains("include_usage"); iu && iu->is_bool())
      p.include_usage = iu->as_bool();
  }
  return p;
}

// Each piece of the answer becomes a chat.completion.chunk.
class ChunkRelay final : public chat::TurnObserver {
 public:
  ChunkRelay(http::SseChannel& channel, json::object base) : channel_(channel), base_(std::move(base)) {}

  bool send(json::array choices, const json::value& usage) {
    json::object chunk = base_;
    chunk["choices"] = std::move(choices);
    if (!usage.is_null() || include_usage) chunk["usage"] = usage;
    return channel_.send(http::sse_data(json::serialize(chunk)));
  }
  // As OpenAI streams a call: its first chunk has id, type, name and empty arguments; later
  // chunks carry argument fragments under the same index.
  bool tool_call(const llm::ToolCallDelta& d) override {
    if (!start()) return false;
    if (!d.id.empty() || !d.name.empty()) {
      json::object head{{"index", d.index},
                        {"id", d.id},
                        {"type", "function"},
                        {"function", json::object{{"name", d.name}, {"arguments", ""}}}};
      if (!send_delta(json::object{{"tool_calls", json::array{std::move(head)}}})) return false;
    }
    if (d.arguments.empty()) return true;
    return send_delta(json::object{{"tool_calls", json::array{json::object{
                                       {"index", d.index}, {"function", json::object{{"arguments", d.arguments}}}}}}});
  }
  bool send_delta(json::object delta) {
    return send(json::array{json::object{{"index", 0}, {"delta", std::move(delta)}, {"finish_reason", nullptr}}},
                nullptr);
  }
  bool delta(std::string_view text) override {
    return start() && send(json::array{json::object{{"index", 0},
                                                    {"delta", json::object{{"content", text}}},
                                                    {"finish_reason", nullptr}}},
                           nullptr);
  }
  // The first chunk, with the role, as OpenAI sends it: only once the answer has started, so
  // that a call failing before its first word can still be answered with its HTTP status.
  bool start() {
    if (started_) return true;
    started_ = true;
    return send(json::array{json::object{{"index", 0},
                                         {"delta", json::object{{"role", "assistant"}, {"content", ""}}},
                                         {"finish_reason", nullptr}}},
                nullptr);
  }
  bool started() const { return started_; }
  asio::awaitable<void> gone() override { return channel_.gone(); }

  bool include_usage = false;

 private:
  http::SseChannel& channel_;
  json::object base_;
  bool started_ = false;
};

asio::awaitable<void> stream_completion(Services& s, chat::AdmittedCall call, bool include_usage,
                                        http::BodyWriter& out) {
  using namespace asio::experimental::awaitable_operators;
  const StreamGauge gauge(s.metrics);
  http::SseChannel channel(out, co_await asio::this_coro::executor);
  ChunkRelay relay(channel, json::object{{"id", "chatcmpl-" + new_uuid_v7()},
                                         {"object", "chat.completion.chunk"},
                                         {"created", unix_seconds()},
                                         {"model", call.model->name}});
  relay.include_usage = include_usage;
  const std::string request_id = call.input.request_id;
  auto produce = [&]() -> asio::awaitable<void> {
    auto result = co_await s.gateway.stream(std::move(call), relay);
    std::optional<Error> failure;
    if (!result) failure = result.error();
    else failure = result->interruption;
    // Failed before its first word, and nothing sent yet (no heartbeat either): the status and
    // error body of a failed request (429, 502, 504...), as the non-streamed call answers.
    // (No co_await inside a condition: g++ 12 miscompiles some of those.)
    if (failure && !relay.started()) {
      const bool replaced = co_await out.replace(http::error_response(*failure, request_id));
      if (replaced) {
        channel.finish();
        co_return;
      }
    }
    if (failure) {
      // OpenAI's SDKs raise an APIError for a data line that carries `error`.
      channel.send(http::sse_data(json::serialize(json::object{
          {"error", json::object{{"message", failure->message},
                                 {"type", code_name(failure->code)},
                                 {"code", code_name(failure->code)}}}})));
    } else {
      relay.start();  // an empty answer still has its first chunk
      relay.send(json::array{json::object{{"index", 0},
                                          {"delta", json::object{}},
                                          {"finish_reason", openai_finish_reason(result->finish_reason)}}},
                 nullptr);
      if (include_usage) relay.send(json::array{}, usage_json(result->usage));
      channel.send("data: [DONE]\n\n");
    }
    channel.finish();
  };
  co_await (produce() && channel.pump());
}

// The answer's message: content null when the model only called tools, as OpenAI writes it.
json::object message_json(const chat::DirectResult& r) {
  json::object m{{"role", "assistant"}};
  m["content"] = r.content.empty() && !r.tool_calls.empty() ? json::value(nullptr) : json::value(r.content);
  if (!r.tool_calls.empty()) m["tool_calls"] = tool_calls_json(r.tool_calls);
  return m;
}

Reply chat_completions(Services& s, http::Context& ctx) {
  auto parsed = parse_request(ctx, s.gateway.options());
  if (!parsed) co_return parsed.error();
  // Unknown model and limit refusals are answered as JSON, before any stream starts.
  auto admitted = co_await s.gateway.admit(std::move(parsed->request), parsed->stream);
  if (!admitted) co_return admitted.error();
  if (parsed->stream) {
    auto call = std::make_shared<chat::AdmittedCall>(std::move(*admitted));
    const bool include_usage = parsed->include_usage;
    co_return http::sse_response([&s, call, include_usage](http::BodyWriter& out) {
      return stream_completion(s, std::move(*call), include_usage, out);
    });
  }
  auto result = co_await s.gateway.complete(std::move(*admitted));
  if (!result) co_return result.error();
  http::Response r;
  // A deterministic request (temperature 0) says whether the response cache answered it.
  if (result->cached) r.headers.push_back({"x-cache", *result->cached ? "hit" : "miss"});
  r.body = json::serialize(json::object{
      {"id", "chatcmpl-" + new_uuid_v7()},
      {"object", "chat.completion"},
      {"created", unix_seconds()},
      {"model", result->model},
      {"choices", json::array{json::object{
                      {"index", 0},
                      {"message", message_json(*result)},
                      {"finish_reason", openai_finish_reason(result->finish_reason)}}}},
      {"usage", usage_json(result->usage)}});
  co_return r;
}

// POST /v1/embeddings in OpenAI's shape. Token-id inputs are refused: the service bills and limits
// by text, and its models' tokenizers need not be the client's.
Reply embeddings(Services& s, http::Context& ctx) {
  auto body = parse_object(ctx.request);
  if (!body) co_return body.error();
  chat::EmbeddingCall call;
  call.user_id = ctx.user().user_id;
  call.roles = ctx.user().roles;
  call.request_id = ctx.request_id;
  auto model = optional_string(*body, "model");
  if (!model) co_return model.error();
  call.model = model->value_or("");

  const json::value* input = body->if_contains("input");
  constexpr std::size_t max_inputs = 2048;  // OpenAI's own limit
  if (input && input->is_string()) {
    call.inputs.emplace_back(input->as_string());
  } else if (input && input->is_array() && !input->as_array().empty() && input->as_array().size() <= max_inputs) {
    for (const json::value& item : input->as_array()) {
      if (!item.is_string())
        co_return bad("'input' must be a string or an array of strings (token arrays are not supported)");
      call.inputs.emplace_back(item.as_string());
    }
  } else {
    co_return bad("'input' must be a string or an array of 1 to 2048 strings");
  }
  for (const std::string& text : call.inputs)
    if (text.empty()) co_return bad("'input' must not contain empty strings");

  if (const json::value* d = body->if_contains("dimensions"); d && !d->is_null()) {
    if (!d->is_int64() || d->as_int64() < 1 || d->as_int64() > 65536)
      co_return bad("'dimensions' must be a positive integer");
    call.dimensions = static_cast<int>(d->as_int64());
  }
  auto format = optional_string(*body, "encoding_format");
  if (!format) co_return format.error();
  const std::string encoding = format->value_or("float");
  if (encoding != "float" && encoding != "base64") co_return bad("'encoding_format' must be float or base64");
  auto user = optional_string(*body, "user");
  if (!user) co_return user.error();
  call.user = user->value_or("");

  auto result = co_await s.gateway.embed(std::move(call));
  if (!result) co_return result.error();
  json::array data;
  for (std::size_t i = 0; i < result->vectors.size(); ++i) {
    const std::vector<float>& v = result->vectors[i];
    json::value embedding;
    if (encoding == "base64") {
      // OpenAI's base64: the float32 values' little-endian bytes (x86 and ARM are little-endian).
      static_assert(std::endian::native == std::endian::little);
      embedding = json::string(
          base64_encode(std::string_view(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float))));
    } else {
      json::array floats;
      floats.reserve(v.size());
      for (float x : v) floats.push_back(static_cast<double>(x));
      embedding = std::move(floats);
    }
    data.push_back(json::object{{"object", "embedding"}, {"index", i}, {"embedding", std::move(embedding)}});
  }
  http::Response r;
  r.body = json::serialize(json::object{
      {"object", "list"},
      {"data", std::move(data)},
      {"model", result->model},
      {"usage", json::object{{"prompt_tokens", result->usage.input_tokens},
                             {"total_tokens", result->usage.input_tokens}}}});
  co_return r;
}

Reply list_models(Services& s, http::Context&) {
  json::array data;
  for (const std::string& name : s.models.names())
    data.push_back(json::object{{"id", name}, {"object", "model"}, {"created", 0}, {"owned_by", "ai-agent-service"}});
  http::Response r;
  r.body = json::serialize(json::object{{"object", "list"}, {"data", std::move(data)}});
  co_return r;
}

}  // namespace

void add_openai_routes(http::Router& router, Services& s) {
  router.add({"POST", "/api/ai/v1/chat/completions", http::Access::user,
              [&s](http::Context& c) { return chat_completions(s, c); }});
  router.add({"POST", "/api/ai/v1/embeddings", http::Access::user,
              [&s](http::Context& c) { return embeddings(s, c); }});
  router.add({"GET", "/api/ai/v1/models", http::Access::user,
              [&s](http::Context& c) { return list_models(s, c); }});
}

}  // namespace aas::api
