// The OpenAI-compatible gateway: POST /api/ai/v1/chat/completions, /v1/completions (legacy),
// /v1/embeddings, GET /v1/models and /v1/models/:id, in OpenAI's own wire format, so any OpenAI
// SDK can use the service as its base URL (baseURL = http://host:4002/api/ai/v1, apiKey = the
// user's JWT). Errors are in OpenAI's shape ({"error": {message, type, param, code}}, see
// http::error_shape_for), so the SDKs raise their typed errors. (/v1/responses: responses.cpp.)
#include "api/api.hpp"
#include "api/content_json.hpp"
#include "api/json_io.hpp"
#include "api/openai_request.hpp"
#include "api/gateway_stream.hpp"
#include "api/turn_events.hpp"
#include "chat/gateway_service.hpp"
#include "core/base64.hpp"
#include "core/ids.hpp"
#include "http/error_response.hpp"
#include "http/sse.hpp"

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

// A choice's `logprobs` as OpenAI's chat API writes it: {content: [...], refusal: null}.
json::object chat_logprobs_json(const std::vector<llm::TokenLogprob>& tokens) {
  return json::object{{"content", token_logprobs_json(tokens)}, {"refusal", nullptr}};
}

// The legacy completions' logprobs: parallel arrays, the alternatives as {token: logprob} maps,
// text_offset the token's byte offset in the choice's text (from `offset` for a streamed piece).
json::object legacy_logprobs_json(const std::vector<llm::TokenLogprob>& tokens, std::size_t offset = 0) {
  json::array names, values, tops, offsets;
  for (const llm::TokenLogprob& t : tokens) {
    names.push_back(json::string(t.token));
    values.push_back(t.logprob);
    json::object top;
    for (const llm::TokenLogprob& a : t.top) top[a.token] = a.logprob;
    tops.push_back(std::move(top));
    offsets.push_back(offset);
    offset += t.token.size();
  }
  return json::object{{"tokens", std::move(names)},
                      {"token_logprobs", std::move(values)},
                      {"top_logprobs", std::move(tops)},
                      {"text_offset", std::move(offsets)}};
}

// An error after a stream started, as OpenAI puts one in a stream: a data line with `error`.
void send_openai_error(http::SseChannel& channel, const Error& e) {
  channel.send(http::sse_data(json::serialize(json::object{{"error", http::openai_error_object(e)}})));
}

// Each piece of the answer becomes a chat.completion.chunk.
class ChunkRelay final : public StreamRelay {
 public:
  ChunkRelay(http::SseChannel& channel, json::object base, bool include_usage)
      : StreamRelay(channel), base_(std::move(base)), include_usage_(include_usage) {}

  json::object chunk(json::array choices, const json::value& usage) const {
    json::object c = base_;
    c["choices"] = std::move(choices);
    if (!usage.is_null() || include_usage_) c["usage"] = usage;
    return c;
  }
  bool send(json::array choices, const json::value& usage) {
    return channel_.send(http::sse_data(json::serialize(chunk(std::move(choices), usage))));
  }
  json::array delta_choices(json::object delta) const {
    return json::array{json::object{{"index", index_}, {"delta", std::move(delta)}, {"finish_reason", nullptr}}};
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
  // Asked for with logprobs: each piece's chunk carries its tokens' (built whole, not from the
  // template: logprobs are the rare case).
  bool delta_logprobs(std::string_view text, const std::vector<llm::TokenLogprob>& logprobs) override {
    if (!start()) return false;
    return send(json::array{json::object{{"index", index_},
                                         {"delta", json::object{{"content", text}}},
                                         {"logprobs", chat_logprobs_json(logprobs)},
                                         {"finish_reason", nullptr}}},
                nullptr);
  }
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
    if (choice_started_) return true;
    started_ = choice_started_ = true;
    return send_delta(json::object{{"role", "assistant"}, {"content", text ? json::value("") : json::value(nullptr)}});
  }
  bool started() const override { return started_; }
  void finish(const chat::DirectResult& r) override {
    end_choice(r);
    if (include_usage_) send(json::array{}, usage_json(r.usage));
    channel_.send("data: [DONE]\n\n");
  }
  // n > 1: the next choice's chunks carry the next index, starting with their own role chunk.
  void next_choice(const chat::DirectResult& r) override {
    end_choice(r);
    ++index_;
    choice_started_ = false;
    content_.reset();  // the template holds the index
  }
  // OpenAI's SDKs raise an APIError for a data line that carries `error`.
  void fail(const Error& e) override { send_openai_error(channel_, e); }

 private:
  void end_choice(const chat::DirectResult& r) {
    start();  // an empty answer still has its first chunk
    send(json::array{json::object{{"index", index_},
                                  {"delta", json::object{}},
                                  {"finish_reason", openai_finish_reason(r.finish_reason)}}},
         nullptr);
  }

  json::object base_;
  bool include_usage_;
  std::optional<TextEventTemplate> content_;
  bool started_ = false;         // the stream's first chunk went out
  bool choice_started_ = false;  // this choice's first chunk went out
  int index_ = 0;                // the choice being streamed
};

// Admitted calls answered one after the other (n > 1, several prompts): every answer, or the
// first error (the calls after it are released unbilled; those before it were billed).
asio::awaitable<Result<std::vector<chat::DirectResult>>> complete_each(chat::GatewayService& gateway,
                                                                      std::vector<chat::AdmittedCall> calls) {
  std::vector<chat::DirectResult> results;
  std::optional<Error> failure;
  for (chat::AdmittedCall& call : calls) {
    if (failure) {
      co_await gateway.release(call);
      continue;
    }
    auto result = co_await gateway.complete(std::move(call));
    if (!result) failure = result.error();
    else results.push_back(std::move(*result));
  }
  if (failure) co_return *failure;
  co_return results;
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
  const bool logprobs = parsed->call.logprobs;
  // Unknown model and limit refusals are answered as JSON, before any stream starts; n > 1 is
  // n calls, all admitted before the first starts.
  auto admitted =
      co_await admit_calls(s.gateway, ctx, std::move(parsed->model), std::move(parsed->call), parsed->n, parsed->stream);
  if (!admitted) co_return admitted.error();
  if (parsed->stream) {
    auto calls = std::make_shared<std::vector<chat::AdmittedCall>>(std::move(*admitted));
    const bool include_usage = parsed->include_usage;
    co_return http::sse_response([&s, calls, include_usage](http::BodyWriter& out) {
      json::object base{{"id", "chatcmpl-" + new_uuid_v7()},
                        {"object", "chat.completion.chunk"},
                        {"created", unix_seconds()},
                        {"model", calls->front().model->name}};
      return relay_streams(s.gateway, s.metrics, std::move(*calls), out, http::ErrorShape::openai,
                           [base = std::move(base), include_usage](http::SseChannel& channel) {
                             return std::make_unique<ChunkRelay>(channel, base, include_usage);
                           });
    });
  }
  auto results = co_await complete_each(s.gateway, std::move(*admitted));
  if (!results) co_return results.error();
  json::array choices;
  llm::Usage total;
  for (std::size_t i = 0; i < results->size(); ++i) {
    const chat::DirectResult& result = (*results)[i];
    total += result.usage;
    choices.push_back(json::object{{"index", i},
                                   {"message", message_json(result)},
                                   {"logprobs", logprobs ? json::value(chat_logprobs_json(result.logprobs)) : json::value(nullptr)},
                                   {"finish_reason", openai_finish_reason(result.finish_reason)}});
  }
  const chat::DirectResult& first = results->front();
  http::Response r;
  // A deterministic request (temperature 0) says whether the response cache answered it.
  if (first.cached) r.headers.push_back({"x-cache", *first.cached ? "hit" : "miss"});
  r.body = json::serialize(json::object{{"id", "chatcmpl-" + new_uuid_v7()},
                                        {"object", "chat.completion"},
                                        {"created", unix_seconds()},
                                        {"model", first.model},
                                        {"choices", std::move(choices)},
                                        {"usage", usage_json(total)}});
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

json::object model_json(std::string_view name) {
  return json::object{{"id", name}, {"object", "model"}, {"created", 0}, {"owned_by", "ai-agent-service"}};
}

Reply list_models(Services& s, http::Context&) {
  json::array data;
  for (const std::string& name : s.models.names()) data.push_back(model_json(name));
  http::Response r;
  r.body = json::serialize(json::object{{"object", "list"}, {"data", std::move(data)}});
  co_return r;
}

// GET /v1/models/:id: 404 for a name that is not configured, as OpenAI answers it.
Reply get_model(Services& s, http::Context& ctx) {
  const std::string_view id = ctx.param("id");
  if (!s.models.find(id)) co_return make_error(errc::not_found, "model '" + std::string(id.substr(0, 128)) + "' does not exist");
  http::Response r;
  r.body = json::serialize(model_json(id));
  co_return r;
}

// Legacy completions as OpenAI streams them: text_completion chunks, a last one with the
// finish_reason, the usage chunk when asked, [DONE].
class TextRelay final : public StreamRelay {
 public:
  TextRelay(http::SseChannel& channel, json::object base, bool include_usage)
      : StreamRelay(channel), base_(std::move(base)), include_usage_(include_usage) {}
  bool delta(std::string_view text) override {
    started_ = true;
    offset_ += text.size();
    return send(text, nullptr);
  }
  bool delta_logprobs(std::string_view text, const std::vector<llm::TokenLogprob>& logprobs) override {
    started_ = true;
    const bool sent = send(text, nullptr, legacy_logprobs_json(logprobs, offset_));
    offset_ += text.size();
    return sent;
  }
  bool started() const override { return started_; }
  void next_choice(const chat::DirectResult& r) override {
    started_ = true;
    send("", json::string(openai_finish_reason(r.finish_reason)));
    ++index_;
    offset_ = 0;
  }
  void finish(const chat::DirectResult& r) override {
    started_ = true;
    send("", json::string(openai_finish_reason(r.finish_reason)));
    if (include_usage_) {
      json::object chunk = base_;
      chunk["choices"] = json::array{};
      chunk["usage"] = usage_json(r.usage);
      channel_.send(http::sse_data(json::serialize(chunk)));
    }
    channel_.send("data: [DONE]\n\n");
  }
  void fail(const Error& e) override { send_openai_error(channel_, e); }

 private:
  bool send(std::string_view text, json::value finish, json::value logprobs = nullptr) {
    json::object chunk = base_;
    chunk["choices"] = json::array{json::object{
        {"text", text}, {"index", index_}, {"logprobs", std::move(logprobs)}, {"finish_reason", std::move(finish)}}};
    if (include_usage_) chunk["usage"] = nullptr;
    return channel_.send(http::sse_data(json::serialize(chunk)));
  }
  json::object base_;
  bool include_usage_;
  bool started_ = false;
  int index_ = 0;            // the choice being streamed (n > 1)
  std::size_t offset_ = 0;   // bytes of this choice's text sent (logprobs' text_offset)
};

// POST /v1/completions (legacy): each prompt is one user message to the chat model, so every
// configured model serves it; several prompts are several calls, each billed, one choice each.
Reply completions(Services& s, http::Context& ctx) {
  auto body = parse_object(ctx.request);
  if (!body) co_return body.error();
  auto parsed = openai::read_completion_request(*body);
  if (!parsed) co_return parsed.error();
  const std::string id = "cmpl-" + new_uuid_v7();
  const bool logprobs = parsed->call.logprobs;
  auto call_for = [&](const std::string& prompt) {
    llm::ChatRequest call = parsed->call;
    call.messages.push_back(llm::ChatMessage{"user", prompt, {}, {}, {}, {}});
    return call;
  };
  if (parsed->stream) {
    llm::ChatRequest request = call_for(parsed->prompts.front());
    auto admitted = co_await admit_calls(s.gateway, ctx, parsed->model, std::move(request), parsed->n, true);
    if (!admitted) co_return admitted.error();
    auto calls = std::make_shared<std::vector<chat::AdmittedCall>>(std::move(*admitted));
    const bool include_usage = parsed->include_usage;
    co_return http::sse_response([&s, calls, id, include_usage](http::BodyWriter& out) {
      json::object base{
          {"id", id}, {"object", "text_completion"}, {"created", unix_seconds()}, {"model", calls->front().model->name}};
      return relay_streams(s.gateway, s.metrics, std::move(*calls), out, http::ErrorShape::openai,
                           [base = std::move(base), include_usage](http::SseChannel& channel) {
                             return std::make_unique<TextRelay>(channel, base, include_usage);
                           });
    });
  }
  // Every prompt's n calls are admitted before the first starts: a limit refuses the request
  // whole, before anything is billed. Choice index = prompt * n + answer, as OpenAI numbers them.
  std::vector<chat::AdmittedCall> calls;
  for (const std::string& prompt : parsed->prompts) {
    llm::ChatRequest request = call_for(prompt);  // named: see admit_call on g++ 12
    auto admitted = co_await admit_calls(s.gateway, ctx, parsed->model, std::move(request), parsed->n, false);
    if (!admitted) {
      for (chat::AdmittedCall& call : calls) co_await s.gateway.release(call);
      co_return admitted.error();
    }
    for (chat::AdmittedCall& call : *admitted) calls.push_back(std::move(call));
  }
  auto results = co_await complete_each(s.gateway, std::move(calls));
  if (!results) co_return results.error();
  json::array choices;
  llm::Usage total;
  std::string model;
  for (std::size_t i = 0; i < results->size(); ++i) {
    const chat::DirectResult& result = (*results)[i];
    model = result.model;
    total += result.usage;
    choices.push_back(json::object{{"text", result.content},
                                   {"index", i},
                                   {"logprobs", logprobs ? json::value(legacy_logprobs_json(result.logprobs)) : json::value(nullptr)},
                                   {"finish_reason", openai_finish_reason(result.finish_reason)}});
  }
  http::Response r;
  r.body = json::serialize(json::object{{"id", id},
                                        {"object", "text_completion"},
                                        {"created", unix_seconds()},
                                        {"model", model},
                                        {"choices", std::move(choices)},
                                        {"usage", usage_json(total)}});
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
  router.add({"GET", "/api/ai/v1/models/:id", http::Access::user,
              [&s](http::Context& c) { return get_model(s, c); }});
  router.add({"POST", "/api/ai/v1/completions", http::Access::user,
              [&s](http::Context& c) { return completions(s, c); }});
}

}  // namespace aas::api
