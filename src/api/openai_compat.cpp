// The OpenAI-compatible gateway: POST /api/ai/v1/chat/completions and GET /api/ai/v1/models,
// in OpenAI's own wire format, so any OpenAI SDK can use the service as its base URL
// (baseURL = http://host:4002/api/ai/v1, apiKey = the user's JWT). Errors keep the service's
// envelope, whose `error.message` the SDKs read, and whose status picks their typed error.
#include "api/api.hpp"
#include "api/json_io.hpp"
#include "api/stream_gauge.hpp"
#include "chat/gateway_service.hpp"
#include "core/ids.hpp"
#include "http/error_response.hpp"
#include "http/sse.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json/serialize.hpp>

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

// A message's content: a string, or an array of parts of which the text parts are joined.
Result<std::string> content_text(const json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  if (v.is_null()) return std::string();
  if (!v.is_array()) return bad("message 'content' must be a string or an array of parts");
  std::string out;
  for (const json::value& part : v.as_array()) {
    const json::object* p = part.if_object();
    const json::value* type = p ? p->if_contains("type") : nullptr;
    const json::value* text = p ? p->if_contains("text") : nullptr;
    if (!type || !type->is_string() || type->as_string() != "text" || !text || !text->is_string())
      return bad("only text content parts are supported");
    out.append(text->as_string());
  }
  return out;
}

struct Parsed {
  chat::DirectRequest request;
  bool stream = false;
  bool include_usage = false;
};

Result<Parsed> parse_request(const http::Context& ctx) {
  auto body = parse_object(ctx.request);
  if (!body) return body.error();
  Parsed p;
  p.request.user_id = ctx.user().user_id;
  p.request.roles = ctx.user().roles;
  p.request.request_id = ctx.request_id;

  auto model = optional_string(*body, "model");
  if (!model) return model.error();
  if (!*model) return bad("'model' is required");
  p.request.model = std::move(**model);

  const json::value* messages = body->if_contains("messages");
  if (!messages || !messages->is_array() || messages->as_array().empty())
    return bad("'messages' must be a non-empty array");
  for (const json::value& m : messages->as_array()) {
    const json::object* o = m.if_object();
    const json::value* role = o ? o->if_contains("role") : nullptr;
    if (!role || !role->is_string()) return bad("each message needs a string 'role'");
    std::string r(role->as_string());
    if (r == "developer") r = "system";  // OpenAI's newer name for the system role
    if (r != "system" && r != "user" && r != "assistant")
      return bad("unsupported message role '" + r.substr(0, 32) + "'");
    const json::value* content = o->if_contains("content");
    auto text = content ? content_text(*content) : Result<std::string>(std::string());
    if (!text) return text.error();
    p.request.messages.push_back({std::move(r), std::move(*text)});
  }

  if (const json::value* t = body->if_contains("temperature"); t && !t->is_null()) {
    if (!t->is_number()) return bad("'temperature' must be a number");
    const double v = t->to_number<double>();
    if (v < 0 || v > 2) return bad("'temperature' must be between 0 and 2");
    p.request.temperature = v;
  }
  for (std::string_view key : {"max_completion_tokens", "max_tokens"}) {
    const json::value* t = body->if_contains(key);
    if (!t || t->is_null() || p.request.max_tokens) continue;
    if (!t->is_int64() || t->as_int64() < 1 || t->as_int64() > 1'000'000)
      return bad("'" + std::string(key) + "' must be a positive integer");
    p.request.max_tokens = static_cast<int>(t->as_int64());
  }
  if (const json::value* n = body->if_contains("n"); n && !n->is_null()) {
    if (!n->is_int64() || n->as_int64() != 1) return bad("only n = 1 is supported");
  }
  if (const json::value* tools = body->if_contains("tools"); tools && !tools->is_null())
    return bad("tools are not supported by this gateway yet");
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

Reply chat_completions(Services& s, http::Context& ctx) {
  auto parsed = parse_request(ctx);
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
                      {"message", json::object{{"role", "assistant"}, {"content", result->content}}},
                      {"finish_reason", openai_finish_reason(result->finish_reason)}}}},
      {"usage", usage_json(result->usage)}});
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
  router.add({"GET", "/api/ai/v1/models", http::Access::user,
              [&s](http::Context& c) { return list_models(s, c); }});
}

}  // namespace aas::api
