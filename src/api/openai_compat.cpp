// The OpenAI-compatible gateway: POST /api/ai/v1/chat/completions, POST /api/ai/v1/embeddings and
// GET /api/ai/v1/models,
// in OpenAI's own wire format, so any OpenAI SDK can use the service as its base URL
// (baseURL = http://host:4002/api/ai/v1, apiKey = the user's JWT). Errors keep the service's
// envelope, whose `error.message` the SDKs read, and whose status picks their typed error.
#include "api/api.hpp"
#include "api/content_json.hpp"
#include "api/json_io.hpp"
#include "api/openai_request.hpp"
#include "api/stream_gauge.hpp"
#include "api/turn_events.hpp"
#include "chat/gateway_service.hpp"
#include "core/base64.hpp"
#include "core/ids.hpp"
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

// Each piece of the answer becomes a chat.completion.chunk.
class ChunkRelay final : public chat::TurnObserver {
 public:
  ChunkRelay(http::SseChannel& channel, json::object base) : channel_(channel), base_(std::move(base)) {}

  json::object chunk(json::array choices, const json::value& usage) const {
    json::object c = base_;
    c["choices"] = std::move(choices);
    if (!usage.is_null() || include_usage) c["usage"] = usage;
    return c;
  }
  bool send(json::array choices, const json::value& usage) {
    return channel_.send(http::sse_data(json::serialize(chunk(std::move(choices), usage))));
  }
  static json::array delta_choices(json::object delta) {
    return json::array{json::object{{"index", 0}, {"delta", std::move(delta)}, {"finish_reason", nullptr}}};
  }
  // As OpenAI streams a call: its first chunk has id, type, name and empty arguments; later
  // chunks carry argument fragments under the same index.
  bool tool_call(const llm::ToolCallDelta& d) override {
    if (!start(false)) return false;
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
  bool send_delta(json::object delta) { return send(delta_choices(std::move(delta)), nullptr); }
  // A content chunk, its JSON written in place from a template of the chunk (the hot path).
  bool delta(std::string_view text) override {
    if (!start()) return false;
    if (!content_)
      content_.emplace(chunk(delta_choices(json::object{{"content", ""}}), nullptr), "content", "data: ", "\n\n");
    return channel_.send(content_->fill(text));
  }
  // The first chunk, with the role, as OpenAI sends it: only once the answer has started, so
  // that a call failing before its first word can still be answered with its HTTP status. An
  // answer that starts with a tool call has content null there.
  bool start(bool text = true) {
    if (started_) return true;
    started_ = true;
    return send_delta(json::object{{"role", "assistant"}, {"content", text ? json::value("") : json::value(nullptr)}});
  }
  bool started() const { return started_; }
  asio::awaitable<void> gone() override { return channel_.gone(); }

  bool include_usage = false;

 private:
  http::SseChannel& channel_;
  json::object base_;
  std::optional<TextEventTemplate> content_;
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
  auto body = parse_object(ctx.request);
  if (!body) co_return body.error();
  auto parsed = openai::read_chat_completion(*body, {s.gateway.options().max_image_bytes});
  if (!parsed) co_return parsed.error();
  chat::DirectRequest request{ctx.user().user_id, ctx.user().roles, std::move(parsed->model),
                              std::move(parsed->call), ctx.request_id};
  // Unknown model and limit refusals are answered as JSON, before any stream starts.
  auto admitted = co_await s.gateway.admit(std::move(request), parsed->stream);
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
  auto parsed = openai::read_embeddings(*body);
  if (!parsed) co_return parsed.error();
  chat::EmbeddingCall call{ctx.user().user_id, ctx.user().roles, std::move(parsed->model), std::move(parsed->inputs),
                           parsed->dimensions,  std::move(parsed->user),  ctx.request_id};
  auto result = co_await s.gateway.embed(std::move(call));
  if (!result) co_return result.error();
  json::array data;
  for (std::size_t i = 0; i < result->vectors.size(); ++i) {
    const std::vector<float>& v = result->vectors[i];
    json::value embedding;
    if (parsed->base64) {
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
