// OpenAI's Responses API: POST /api/ai/v1/responses, in OpenAI's wire format (the `openai` SDK's
// client.responses.create and .stream). The request becomes our ChatRequest and goes through the
// gateway service like /v1/chat/completions (admission, limits, the one recorder); the answer is
// written as Responses' output items (a message with output_text, function_call items) and,
// streamed, as its semantic events (response.created ... response.completed), each numbered.
// With `store` (the default) the exchange is recorded (chat::ResponseHistory), so a later
// request may continue it with previous_response_id.
#include "api/api.hpp"
#include "api/content_json.hpp"
#include "api/gateway_stream.hpp"
#include "api/openai_request.hpp"
#include "chat/gateway_service.hpp"
#include "chat/response_history.hpp"
#include "core/ids.hpp"

#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <map>
#include <memory>

namespace aas::api {

namespace {

namespace asio = boost::asio;
using Reply = asio::awaitable<Result<http::Response>>;

std::int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

json::object usage_json(const llm::Usage& u) {
  return json::object{{"input_tokens", u.input_tokens},
                      {"input_tokens_details", json::object{{"cached_tokens", u.cached_input_tokens}}},
                      {"output_tokens", u.output_tokens},
                      {"output_tokens_details", json::object{{"reasoning_tokens", u.reasoning_tokens}}},
                      {"total_tokens", u.input_tokens + u.output_tokens}};
}

// `logprobs` (the text's tokens'), when the request included them.
json::object text_part(std::string_view text, const json::array* logprobs = nullptr) {
  json::object part{{"type", "output_text"}, {"text", text}, {"annotations", json::array{}}};
  if (logprobs) part["logprobs"] = *logprobs;
  return part;
}

json::object message_item(const std::string& id, std::string_view status, json::array content) {
  return json::object{
      {"type", "message"}, {"id", id}, {"status", status}, {"role", "assistant"}, {"content", std::move(content)}};
}

json::object function_call_item(const std::string& id, const llm::ToolCall& c, std::string_view status) {
  return json::object{{"type", "function_call"}, {"id", id},          {"call_id", c.id},
                      {"name", c.name},          {"arguments", c.arguments}, {"status", status}};
}

// The response object without its outcome: what the request asked for, echoed as OpenAI does.
json::object response_skeleton(const std::string& id, std::string_view model, const json::object& body) {
  auto echo = [&](std::string_view key, json::value fallback) {
    const json::value* v = body.if_contains(key);
    return v && !v->is_null() ? *v : fallback;
  };
  return json::object{{"id", id},
                      {"object", "response"},
                      {"created_at", unix_seconds()},
                      {"status", "in_progress"},
                      {"model", model},
                      {"output", json::array{}},
                      {"error", nullptr},
                      {"incomplete_details", nullptr},
                      {"instructions", echo("instructions", nullptr)},
                      {"max_output_tokens", echo("max_output_tokens", nullptr)},
                      {"parallel_tool_calls", echo("parallel_tool_calls", true)},
                      {"previous_response_id", echo("previous_response_id", nullptr)},
                      {"store", echo("store", true)},
                      {"temperature", echo("temperature", nullptr)},
                      {"top_p", echo("top_p", nullptr)},
                      {"tool_choice", echo("tool_choice", "auto")},
                      {"tools", echo("tools", json::array{})},
                      {"text", echo("text", json::object{{"format", json::object{{"type", "text"}}}})},
                      {"truncation", "disabled"},
                      {"metadata", echo("metadata", json::object{})},
                      {"user", echo("user", nullptr)},
                      {"usage", nullptr}};
}

// The outcome into the skeleton: status (incomplete when cut at max_output_tokens or filtered),
// the output items (with the ids the stream used, when it did) and usage.
void complete_response(json::object& response, const chat::DirectResult& r, json::array output) {
  if (r.finish_reason == "length" || r.finish_reason == "content_filter") {
    response["status"] = "incomplete";
    response["incomplete_details"] =
        json::object{{"reason", r.finish_reason == "length" ? "max_output_tokens" : "content_filter"}};
  } else {
    response["status"] = "completed";
  }
  response["output"] = std::move(output);
  response["usage"] = usage_json(r.usage);
}

// The stream's events. Items are numbered in order: the message (when there is text) and each
// function call, each opened with output_item.added and closed with output_item.done.
class ResponseRelay final : public StreamRelay {
 public:
  ResponseRelay(http::SseChannel& channel, json::object skeleton, bool logprobs)
      : StreamRelay(channel), response_(std::move(skeleton)), logprobs_(logprobs) {}

  bool delta(std::string_view text) override { return piece(text, json::array{}); }
  bool delta_logprobs(std::string_view text, const std::vector<llm::TokenLogprob>& logprobs) override {
    json::array tokens = token_logprobs_json(logprobs);
    for (const json::value& t : tokens) text_logprobs_.push_back(t);
    return piece(text, std::move(tokens));
  }

  bool tool_call(const llm::ToolCallDelta& d) override {
    if (!start()) return false;
    if (!calls_.contains(d.index)) {
      close_message();
      close_call();
      Call c;
      c.output_index = static_cast<int>(items_.size());
      c.item_id = "fc_" + new_uuid_v7();
      c.call = llm::ToolCall{d.id, d.name, {}};
      items_.push_back(function_call_item(c.item_id, c.call, "in_progress"));
      calls_[d.index] = c;
      open_call_ = d.index;
      if (!event("response.output_item.added", {{"output_index", c.output_index}, {"item", items_.back()}}))
        return false;
    }
    Call& c = calls_[d.index];
    if (d.arguments.empty()) return true;
    c.call.arguments += d.arguments;
    return event("response.function_call_arguments.delta",
                 {{"item_id", c.item_id}, {"output_index", c.output_index}, {"delta", d.arguments}});
  }

  bool start() {
    if (started_) return true;
    started_ = true;
    return event("response.created", {{"response", response_}}) &&
           event("response.in_progress", {{"response", response_}});
  }
  bool started() const override { return started_; }

  void finish(const chat::DirectResult& r) override {
    if (!start()) return;
    close_message();
    close_call();
    complete_response(response_, r, items_);
    const bool done = response_["status"] == "completed";
    event(done ? "response.completed" : "response.incomplete", {{"response", response_}});
  }

  // The openai SDK raises an APIError for an event whose data carries `error`.
  void fail(const Error& e) override {
    json::object error = http::openai_error_object(e);
    event("error", {{"code", error["code"]}, {"message", error["message"]}, {"param", error["param"]}, {"error", error}});
  }

 private:
  // A piece of the answer's text (with its tokens' log probabilities, when asked for).
  bool piece(std::string_view text, json::array logprobs) {
    if (!start()) return false;
    if (message_index_ < 0) {
      close_call();
      message_index_ = static_cast<int>(items_.size());
      message_id_ = "msg_" + new_uuid_v7();
      items_.push_back(message_item(message_id_, "in_progress", json::array{}));
      const json::array none;
      if (!event("response.output_item.added", {{"output_index", message_index_}, {"item", items_.back()}}) ||
          !event("response.content_part.added", {{"item_id", message_id_},
                                                 {"output_index", message_index_},
                                                 {"content_index", 0},
                                                 {"part", text_part("", logprobs_ ? &none : nullptr)}}))
        return false;
    }
    text_.append(text);
    return event("response.output_text.delta", {{"item_id", message_id_},
                                                {"output_index", message_index_},
                                                {"content_index", 0},
                                                {"delta", text},
                                                {"logprobs", std::move(logprobs)}});
  }

  struct Call {
    int output_index = 0;
    std::string item_id;
    llm::ToolCall call;
  };

  bool event(std::string_view type, json::object data) {
    json::object e{{"type", type}, {"sequence_number", sequence_++}};
    for (auto& kv : data) e.emplace(kv.key(), std::move(kv.value()));
    return channel_.send(http::sse_event(type, json::serialize(e)));
  }
  void close_message() {
    if (message_index_ < 0) return;
    json::object part = text_part(text_, logprobs_ ? &text_logprobs_ : nullptr);
    event("response.output_text.done", {{"item_id", message_id_},
                                        {"output_index", message_index_},
                                        {"content_index", 0},
                                        {"text", text_},
                                        {"logprobs", text_logprobs_}});
    event("response.content_part.done",
          {{"item_id", message_id_}, {"output_index", message_index_}, {"content_index", 0}, {"part", part}});
    items_[message_index_] = message_item(message_id_, "completed", json::array{std::move(part)});
    event("response.output_item.done", {{"output_index", message_index_}, {"item", items_[message_index_]}});
    message_index_ = -1;
    text_.clear();
    text_logprobs_.clear();
  }
  void close_call() {
    if (open_call_ < 0) return;
    const Call& c = calls_[open_call_];
    event("response.function_call_arguments.done",
          {{"item_id", c.item_id}, {"output_index", c.output_index}, {"arguments", c.call.arguments}});
    items_[c.output_index] = function_call_item(c.item_id, c.call, "completed");
    event("response.output_item.done", {{"output_index", c.output_index}, {"item", items_[c.output_index]}});
    open_call_ = -1;
  }

  json::object response_;
  json::array items_;
  bool started_ = false;
  std::int64_t sequence_ = 0;
  int message_index_ = -1;  // the open message item, if any
  std::string message_id_;
  std::string text_;
  const bool logprobs_;         // the request included message.output_text.logprobs
  json::array text_logprobs_;   // the open message's tokens'
  std::map<int, Call> calls_;  // by the call's index in the answer
  int open_call_ = -1;
};

json::array output_of(const chat::DirectResult& r, bool logprobs) {
  json::array output;
  if (!r.content.empty() || r.tool_calls.empty()) {
    const json::array tokens = logprobs ? token_logprobs_json(r.logprobs) : json::array{};
    output.push_back(message_item("msg_" + new_uuid_v7(), "completed",
                                  json::array{text_part(r.content, logprobs ? &tokens : nullptr)}));
  }
  for (const llm::ToolCall& c : r.tool_calls) output.push_back(function_call_item("fc_" + new_uuid_v7(), c, "completed"));
  return output;
}

// Where a response is recorded (previous_response_id), when it is: the user and its id.
struct Record {
  chat::ResponseHistory* history = nullptr;  // null: not recorded
  std::string user_id;
  std::string id;
  std::string model;
};

// The answer appended to its record, or the record removed when there was no answer. A failure
// to record is logged: the answer has been given.
asio::awaitable<void> settle(const Record& record, const Result<chat::DirectResult>& result) {
  if (!record.history) co_return;
  if (!result) {
    co_await record.history->discard(record.user_id, record.id);
    co_return;
  }
  auto closed = co_await record.history->close(record.user_id, record.id, record.model, result->content,
                                               result->tool_calls, !result->interruption);
  if (!closed) spdlog::error("response {}: not recorded: {}", record.id, closed.error().message);
}

asio::awaitable<void> stream_response(Services& s, std::shared_ptr<chat::AdmittedCall> call,
                                      std::shared_ptr<json::object> skeleton, Record record, http::BodyWriter& out) {
  // A named MakeRelay moved in, not the lambda as the argument: g++ 12 destroys such a temporary
  // twice when it is an argument inside co_await, and the second destruction released the
  // skeleton's shared_ptr once too often (heap corruption seen in 1 of ~10 streamed responses).
  MakeRelay make_relay = [skeleton, logprobs = call->request.logprobs](http::SseChannel& channel) {
    return std::make_unique<ResponseRelay>(channel, std::move(*skeleton), logprobs);
  };
  auto result = co_await run_stream(s.gateway, s.metrics, std::move(*call), out, http::ErrorShape::openai,
                                    std::move(make_relay));
  co_await settle(record, result);
}

Reply create_response(Services& s, http::Context& ctx) {
  auto body = parse_object(ctx.request);
  if (!body) co_return body.error();
  auto parsed = openai::read_response_request(*body);
  if (!parsed) co_return parsed.error();
  std::vector<llm::ChatMessage>& messages = parsed->call.messages;
  if (!parsed->previous_response_id.empty()) {
    if (!s.response_history)
      co_return make_error(errc::invalid_request, "'previous_response_id' is not supported: responses are not stored");
    // The earlier exchange goes after this request's instructions (the previous ones are not
    // carried over, as OpenAI does) and before its input. Another user's id: 404.
    auto earlier = co_await s.response_history->load(ctx.user().user_id, parsed->previous_response_id);
    if (!earlier) co_return earlier.error();
    const auto at = messages.begin() + (parsed->instructions.empty() ? 0 : 1);
    messages.insert(at, std::make_move_iterator(earlier->begin()), std::make_move_iterator(earlier->end()));
  }
  if (auto valid = llm::validate_request(parsed->call, {s.gateway.options().max_image_bytes}); !valid)
    co_return valid.error();
  auto admitted = co_await admit_call(s.gateway, ctx, parsed->model, std::move(parsed->call), parsed->stream);
  if (!admitted) co_return admitted.error();

  // Recorded (store: true, the default) before the call, so that a stream's first event already
  // carries the id a later request may continue from.
  Record record;
  std::string id = "resp_" + new_uuid_v7();
  if (parsed->store && s.response_history) {
    auto opened = co_await s.response_history->open(ctx.user().user_id, admitted->model->name, admitted->request.messages);
    if (!opened) co_return opened.error();
    record = Record{s.response_history, ctx.user().user_id, *opened, admitted->model->name};
    id = *opened;
  }
  json::object skeleton = response_skeleton(id, admitted->model->name, *body);
  if (parsed->stream) {
    auto call = std::make_shared<chat::AdmittedCall>(std::move(*admitted));
    auto shared_skeleton = std::make_shared<json::object>(std::move(skeleton));
    co_return http::sse_response([&s, call, shared_skeleton, record](http::BodyWriter& out) {
      return stream_response(s, call, shared_skeleton, record, out);
    });
  }
  const bool logprobs = admitted->request.logprobs;
  auto result = co_await s.gateway.complete(std::move(*admitted));
  co_await settle(record, result);
  if (!result) co_return result.error();
  complete_response(skeleton, *result, output_of(*result, logprobs));
  http::Response r;
  if (result->cached) r.headers.push_back({"x-cache", *result->cached ? "hit" : "miss"});
  r.body = json::serialize(skeleton);
  co_return r;
}

}  // namespace

void add_responses_routes(http::Router& router, Services& s) {
  router.add({"POST", "/api/ai/v1/responses", http::Access::user,
              [&s](http::Context& c) { return create_response(s, c); }});
}

}  // namespace aas::api
