// Anthropic's Messages API: POST /api/ai/v1/messages, in Anthropic's own wire format, so the
// official @anthropic-ai/sdk (baseURL = http://host:4002/api/ai, apiKey = the user's JWT, sent as
// x-api-key) and tools built on it can use the service. Every configured model answers it: the
// request is read into our provider-neutral ChatRequest and goes through the same gateway
// service (admission, limits, the one recorder) as /v1/chat/completions, so an OpenAI-compatible
// upstream serves it as well as an Anthropic one. Errors are in Anthropic's shape
// (http::error_shape_for).
#include "api/anthropic_request.hpp"
#include "api/api.hpp"
#include "api/gateway_stream.hpp"
#include "chat/gateway_service.hpp"
#include "core/ids.hpp"
#include "http/error_response.hpp"
#include "http/sse.hpp"
#include "llm/token_estimate.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <map>
#include <memory>

namespace aas::api {

namespace {

namespace asio = boost::asio;
using Reply = asio::awaitable<Result<http::Response>>;

// Ours -> Anthropic's. The port reports a stop sequence as "stop", like the end of turn, and
// names it when the upstream said which (Anthropic does, vLLM does, OpenAI does not: then the
// answer reads as end_turn with stop_sequence null).
std::string_view stop_reason(const chat::DirectResult& r) {
  if (r.finish_reason == "length") return "max_tokens";
  if (r.finish_reason == "tool_calls") return "tool_use";
  if (r.finish_reason == "content_filter") return "refusal";
  if (!r.stop_sequence.empty()) return "stop_sequence";
  return "end_turn";
}

json::value stop_sequence(const chat::DirectResult& r) {
  if (r.stop_sequence.empty() || r.finish_reason != "stop") return nullptr;
  return json::string(r.stop_sequence);
}

// Anthropic's input_tokens EXCLUDES the prompt-cache reads and writes (ours include them).
json::object usage_json(const llm::Usage& u) {
  return json::object{{"input_tokens", u.input_tokens - u.cached_input_tokens - u.cache_write_tokens},
                      {"output_tokens", u.output_tokens},
                      {"cache_creation_input_tokens", u.cache_write_tokens},
                      {"cache_read_input_tokens", u.cached_input_tokens}};
}

// A tool call's arguments as the object Anthropic's tool_use.input is; a model's malformed JSON
// becomes {} rather than a broken response.
json::object input_of(const llm::ToolCall& c) {
  boost::system::error_code ec;
  json::value v = json::parse(c.arguments, ec);
  if (ec || !v.is_object()) return {};
  return std::move(v.as_object());
}

json::object message_json(std::string id, std::string_view model, json::array content, json::value stop,
                          json::value sequence, const llm::Usage& usage) {
  return json::object{{"id", std::move(id)},
                      {"type", "message"},
                      {"role", "assistant"},
                      {"model", model},
                      {"content", std::move(content)},
                      {"stop_reason", std::move(stop)},
                      {"stop_sequence", std::move(sequence)},
                      {"usage", usage_json(usage)}};
}

// The answer as Anthropic's event stream: message_start and a ping with the first piece, then a
// content block per text run or tool call (start, deltas, stop), and at the end message_delta
// (stop_reason, usage) and message_stop.
class EventRelay final : public StreamRelay {
 public:
  EventRelay(http::SseChannel& channel, std::string model, llm::Usage estimate)
      : StreamRelay(channel), model_(std::move(model)), estimate_(estimate) {}

  bool delta(std::string_view text) override {
    if (!start()) return false;
    if (open_ != Block::text && !open_block(Block::text, json::object{{"type", "text"}, {"text", ""}})) return false;
    return event("content_block_delta",
                 json::object{{"index", index_}, {"delta", json::object{{"type", "text_delta"}, {"text", text}}}});
  }

  bool tool_call(const llm::ToolCallDelta& d) override {
    if (!start()) return false;
    if (!calls_.contains(d.index)) {  // the call's first piece (its id and name): a new block
      if (!open_block(Block::tool, json::object{{"type", "tool_use"},
                                                {"id", d.id},
                                                {"name", d.name},
                                                {"input", json::object{}}}))
        return false;
      calls_[d.index] = index_;
    }
    if (d.arguments.empty()) return true;
    return event("content_block_delta",
                 json::object{{"index", calls_[d.index]},
                              {"delta", json::object{{"type", "input_json_delta"}, {"partial_json", d.arguments}}}});
  }

  // Only with the first piece of the answer: a call failing before it is answered with its
  // status and an error body instead.
  bool start() {
    if (started_) return true;
    started_ = true;
    llm::Usage first = estimate_;
    first.output_tokens = 1;  // as Anthropic sends it
    return event("message_start",
                 json::object{{"message", message_json("msg_" + new_uuid_v7(), model_, json::array{}, nullptr, nullptr, first)}}) &&
           event("ping", json::object{});
  }
  bool started() const override { return started_; }

  void finish(const chat::DirectResult& r) override {
    if (!start() || !close_block()) return;
    const bool sent = event("message_delta", json::object{{"delta", json::object{{"stop_reason", stop_reason(r)},
                                                                                 {"stop_sequence", stop_sequence(r)}}},
                                                          {"usage", usage_json(r.usage)}});
    if (sent) event("message_stop", json::object{});
  }

  // Anthropic's SDK raises an APIError for an `error` event.
  void fail(const Error& e) override {
    channel_.send(http::sse_event("error", json::serialize(http::anthropic_error_body(e, {}))));
  }

 private:
  enum class Block { none, text, tool };

  bool event(std::string_view name, json::object data) {
    // Each event's data names its own type first, as Anthropic's do (the SDK dispatches on it).
    json::object ordered{{"type", name}};
    for (auto& kv : data) ordered.emplace(kv.key(), std::move(kv.value()));
    return channel_.send(http::sse_event(name, json::serialize(ordered)));
  }
  bool close_block() {
    if (open_ == Block::none) return true;
    open_ = Block::none;
    return event("content_block_stop", json::object{{"index", index_}});
  }
  bool open_block(Block kind, json::object block) {
    if (!close_block()) return false;
    index_ = next_index_++;
    open_ = kind;
    return event("content_block_start", json::object{{"index", index_}, {"content_block", std::move(block)}});
  }

  std::string model_;
  llm::Usage estimate_;
  bool started_ = false;
  Block open_ = Block::none;
  int index_ = 0;
  int next_index_ = 0;
  std::map<int, int> calls_;  // tool call index -> content block index
};

Reply create_message(Services& s, http::Context& ctx) {
  auto body = parse_object(ctx.request);
  if (!body) co_return body.error();
  auto parsed = anthropic::read_messages_request(*body, {s.gateway.options().max_image_bytes});
  if (!parsed) co_return parsed.error();
  auto admitted = co_await admit_call(s.gateway, ctx, std::move(parsed->model), std::move(parsed->call), parsed->stream);
  if (!admitted) co_return admitted.error();
  if (parsed->stream) {
    auto call = std::make_shared<chat::AdmittedCall>(std::move(*admitted));
    co_return http::sse_response([&s, call](http::BodyWriter& out) {
      // message_start carries input usage before the upstream has said it: an estimate there,
      // the upstream's figures in message_delta (which the SDK takes over).
      llm::Usage estimate;
      estimate.input_tokens = llm::estimate_request_tokens(call->request);
      return relay_stream(s.gateway, s.metrics, std::move(*call), out, http::ErrorShape::anthropic,
                        [model = call->model->name, estimate](http::SseChannel& channel) {
                          return std::make_unique<EventRelay>(channel, model, estimate);
                        });
    });
  }
  auto result = co_await s.gateway.complete(std::move(*admitted));
  if (!result) co_return result.error();
  json::array content;
  if (!result->content.empty() || result->tool_calls.empty())
    content.push_back(json::object{{"type", "text"}, {"text", result->content}});
  for (const llm::ToolCall& c : result->tool_calls)
    content.push_back(json::object{{"type", "tool_use"}, {"id", c.id}, {"name", c.name}, {"input", input_of(c)}});
  http::Response r;
  if (result->cached) r.headers.push_back({"x-cache", *result->cached ? "hit" : "miss"});
  r.body = json::serialize(message_json("msg_" + new_uuid_v7(), result->model, std::move(content),
                                        json::string(stop_reason(*result)), stop_sequence(*result), result->usage));
  co_return r;
}

}  // namespace

void add_anthropic_routes(http::Router& router, Services& s) {
  router.add({"POST", "/api/ai/v1/messages", http::Access::user,
              [&s](http::Context& c) { return create_message(s, c); }});
}

}  // namespace aas::api
