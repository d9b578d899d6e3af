// POST /api/ai/chat — a whole answer as JSON, or streamed as Server-Sent Events.
#include "api/api.hpp"
#include "api/content_json.hpp"
#include "api/json_io.hpp"
#include "api/stream_gauge.hpp"
#include "api/turn_events.hpp"
#include "chat/chat_service.hpp"
#include "chat/conversation_service.hpp"
#include "http/dispatcher.hpp"
#include "http/sse.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>

namespace aas::api {

namespace {

namespace asio = boost::asio;
using Reply = asio::awaitable<Result<http::Response>>;

std::string event(std::string_view name, const json::object& data) {
  return http::sse_event(name, json::serialize(data));
}

// The chat service's view of the SSE channel: each piece of the answer is a `delta` event.
class SseRelay final : public chat::TurnObserver {
 public:
  explicit SseRelay(http::SseChannel& channel) : channel_(channel) {}
  // The event's text written in place (the hot path of a stream).
  bool delta(std::string_view text) override { return channel_.send(delta_.fill(text)); }
  void tool_event(const chat::ToolEvent& e) override {
    auto [name, data] = api::tool_event(e);
    channel_.send(event(name, data));
  }
  void citations(const std::vector<chat::Citation>& all) override {
    channel_.send(event("citations", citations_event(all)));
  }
  void on_gone(std::function<void()> f) override { channel_.on_gone(std::move(f)); }
  bool left() const override { return channel_.is_gone(); }

 private:
  http::SseChannel& channel_;
  TextEventTemplate delta_{json::object{{"text", ""}}, "text", "event: delta\ndata: ", "\n\n"};
};

// The SSE body: start, deltas, then usage and done, or an error. The turn runs to its end even
// when the client leaves, so the answer is always recorded.
asio::awaitable<void> stream_turn(Services& s, chat::PreparedTurn turn, http::BodyWriter& out) {
  using namespace asio::experimental::awaitable_operators;
  const StreamGauge gauge(s.metrics);
  http::SseChannel channel(out, co_await asio::this_coro::executor);
  SseRelay relay(channel);
  channel.send(event("start", start_event(turn)));
  if (!turn.citations.empty()) channel.send(event("citations", citations_event(turn.citations)));
  auto produce = [&]() -> asio::awaitable<void> {
    const std::string message_id = *turn.placeholder_id;
    auto result = co_await s.chat.stream(std::move(turn), relay);
    // An agent turn's answer follows its tool steps: done names the message it ended in.
    for (const auto& [name, data] : end_events(result, result ? result->assistant.id : message_id))
      channel.send(event(name, data));
    channel.finish();
  };
  co_await (produce() && channel.pump());
}

bool wants_stream(const http::Context& ctx, const std::optional<bool>& stream_field) {
  if (stream_field) return *stream_field;
  const auto accept = ctx.request.header("accept");
  return accept && accept->find("text/event-stream") != std::string_view::npos;
}

// `message`: a string, or an array of content parts (text and image_url, as OpenAI's) whose text
// parts become the message and whose images go with it.
Result<void> read_message(const json::object& body, chat::TurnInput& in) {
  const json::value* v = body.if_contains("message");
  if (!v || v->is_null()) return make_error(errc::invalid_request, "'message' is required");
  llm::ChatMessage m;
  if (auto r = read_content(*v, "message", m); !r) return r;
  in.message = std::move(m.content);
  const bool images = std::any_of(m.parts.begin(), m.parts.end(), [](const llm::ContentPart& p) {
    return p.kind == llm::ContentPart::Kind::image;
  });
  if (images) in.parts = std::move(m.parts);
  return {};
}

json::object turn_json(const chat::TurnResult& turn) {
  json::object data;
  data["conversationId"] = turn.conversation_id;
  data["messageId"] = turn.assistant.id;
  data["userMessageId"] = turn.user_message_id;
  data["message"] = turn.assistant.content;
  data["model"] = turn.model;
  data["usage"] = usage_json(turn.usage);
  data["cost"] = cost_to_json(turn.assistant.cost_micros);
  data["citations"] = citations_array(turn.citations);
  return data;
}

// A non-streamed agent turn runs in the background of its request, which waits for the first of:
// the answer (200, as any turn), a tool call needing the user's approval (202 awaiting_confirmation
// with the call: the client approves or rejects it, and the answer is stored and announced as
// ai-message), or agent_answer_within (202 running). So the request never outlives
// REQUEST_TIMEOUT_MS, however long the tools and the user take.
struct Background {
  explicit Background(const asio::any_io_executor& ex) : wake(ex, std::chrono::steady_clock::time_point::max()) {}
  // Wakes the request now, and at once if it is not waiting yet.
  void signal() { wake.expires_at(std::chrono::steady_clock::time_point::min()); }
  asio::steady_timer wake;
  std::optional<chat::ToolEvent> confirmation;
  std::optional<Result<chat::TurnResult>> result;
};

class BackgroundRelay final : public chat::TurnObserver {
 public:
  explicit BackgroundRelay(std::shared_ptr<Background> b) : b_(std::move(b)) {}
  bool delta(std::string_view) override { return true; }
  void tool_event(const chat::ToolEvent& e) override {
    if (e.kind != chat::ToolEvent::Kind::confirmation || b_->confirmation) return;
    b_->confirmation = e;
    b_->signal();
  }
  // Nobody leaves (on_gone's default): the turn ends with its answer whether the request is
  // still there or not.

 private:
  std::shared_ptr<Background> b_;
};

Reply agent_turn(Services& s, chat::TurnInput in) {
  using namespace asio::experimental::awaitable_operators;
  // Prepared as a streamed turn: its answer is written over the placeholder when it ends, and a
  // stop request reaches it, whether or not the request is still waiting.
  auto prepared = co_await s.chat.begin(std::move(in), true);
  if (!prepared) co_return prepared.error();
  const auto arrived = prepared->admitted_at;  // begin() started as the request arrived
  const auto ex = co_await asio::this_coro::executor;  // the connection's strand
  auto b = std::make_shared<Background>(ex);
  const std::string conversation_id = prepared->conversation.id;
  const std::string user_message_id = prepared->user_message_id;
  auto turn = std::make_shared<chat::PreparedTurn>(std::move(*prepared));
  auto run = [&s, turn, b]() -> asio::awaitable<void> {
    BackgroundRelay relay(b);
    auto result = co_await s.chat.stream(std::move(*turn), relay);
    b->result.emplace(std::move(result));
    b->signal();
  };
  // Detached, so the request's deadline never cancels it.
  asio::co_spawn(ex, std::move(run), asio::detached);
  asio::steady_timer deadline(ex, arrived + s.agent_answer_within);
  while (!b->result && !b->confirmation) {
    auto woke = co_await (b->wake.async_wait(asio::as_tuple(asio::use_awaitable)) ||
                          deadline.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (woke.index() == 1) break;
  }
  if (b->result) {
    if (!*b->result) co_return b->result->error();
    co_return ok(turn_json(**b->result));
  }
  json::object data{{"conversationId", conversation_id}, {"userMessageId", user_message_id}};
  if (b->confirmation) {
    data["status"] = "awaiting_confirmation";
    data["toolCall"] = tool_event(*b->confirmation).second;
  } else {
    data["status"] = "running";
  }
  co_return ok(data, 202);
}

// One turn, answered as JSON or streamed; refusals (400, 404, 429) are JSON either way.
Reply run_turn(Services& s, chat::TurnInput in, bool streamed) {
  if (streamed) {
    auto prepared = co_await s.chat.begin(std::move(in), true);
    if (!prepared) co_return prepared.error();
    auto turn = std::make_shared<chat::PreparedTurn>(std::move(*prepared));
    co_return http::sse_response([&s, turn](http::BodyWriter& out) {
      return stream_turn(s, std::move(*turn), out);
    });
  }
  if (s.approvals) co_return co_await agent_turn(s, std::move(in));
  auto turn = co_await s.chat.send(std::move(in));
  if (!turn) co_return turn.error();
  co_return ok(turn_json(*turn));
}

Reply post_chat(Services& s, http::Context& ctx) {
  auto body = parse_object(ctx.request);
  if (!body) co_return body.error();
  if (auto r = allow_only(*body, {"message", "conversationId", "model", "systemPrompt", "promptId", "stream",
                                  "knowledgeBaseIds"});
      !r)
    co_return r.error();
  auto kb_ids = optional_string_array(*body, "knowledgeBaseIds");
  if (!kb_ids) co_return kb_ids.error();
  chat::TurnInput in;
  if (auto read = read_message(*body, in); !read) co_return read.error();
  auto conversation_id = optional_string(*body, "conversationId");
  if (!conversation_id) co_return conversation_id.error();
  auto model = optional_string(*body, "model");
  if (!model) co_return model.error();
  auto system_prompt = optional_string(*body, "systemPrompt");
  if (!system_prompt) co_return system_prompt.error();
  auto stream = optional_bool(*body, "stream");
  if (!stream) co_return stream.error();

  in.user_id = ctx.user().user_id;
  in.roles = ctx.user().roles;
  in.conversation_id = std::move(*conversation_id);
  in.model = std::move(*model);
  in.system_prompt = std::move(*system_prompt);
  auto prompt_id = optional_string(*body, "promptId");
  if (!prompt_id) co_return prompt_id.error();
  in.prompt_id = std::move(*prompt_id);
  in.user_name = ctx.user().name;
  in.request_id = ctx.request_id;
  if (auto token = http::bearer_token(ctx.request)) in.bearer_token = std::string(*token);
  in.knowledge_base_ids = std::move(*kb_ids);

  co_return co_await run_turn(s, std::move(in), wants_stream(ctx, *stream));
}

// A new version of an answer (regenerate) or of a user message (edit), then the turn as for a
// chat: POST /api/ai/conversations/:id/messages/:messageId/regenerate | edit.
Reply new_version(Services& s, http::Context& ctx, bool regenerate) {
  chat::TurnInput in;
  std::optional<bool> stream;
  if (!ctx.request.body.empty() || !regenerate) {
    auto body = parse_object(ctx.request);
    if (!body) co_return body.error();
    if (auto r = regenerate ? allow_only(*body, {"model", "stream"}) : allow_only(*body, {"message", "model", "stream"}); !r)
      co_return r.error();
    if (!regenerate) {
      if (auto read = read_message(*body, in); !read) co_return read.error();
    }
    auto model = optional_string(*body, "model");
    if (!model) co_return model.error();
    in.model = std::move(*model);
    auto st = optional_bool(*body, "stream");
    if (!st) co_return st.error();
    stream = *st;
  }
  in.user_id = ctx.user().user_id;
  in.roles = ctx.user().roles;
  in.user_name = ctx.user().name;
  in.request_id = ctx.request_id;
  if (auto token = http::bearer_token(ctx.request)) in.bearer_token = std::string(*token);
  in.conversation_id = std::string(ctx.param("id"));
  in.replace_message_id = std::string(ctx.param("messageId"));
  in.regenerate = regenerate;
  co_return co_await run_turn(s, std::move(in), wants_stream(ctx, stream));
}

// GET /api/ai/conversations/:id/messages/:messageId/versions
Reply versions(Services& s, http::Context& ctx) {
  const std::string id(ctx.param("id"));
  const std::string message_id(ctx.param("messageId"));
  auto found = co_await s.conversations.versions(ctx.user().user_id, id, message_id);
  if (!found) co_return found.error();
  json::array items;
  for (const domain::Message& m : *found) items.push_back(to_json(m));
  co_return ok(json::object{{"items", std::move(items)}});
}

// Stops the answer streaming in the conversation, on whichever replica streams it. 202: the
// stop is on its way; the stream's own client sees the answer end (done, finishReason "stopped").
Reply stop(Services& s, http::Context& ctx) {
  const std::string id(ctx.param("id"));
  auto stopped = co_await s.chat.stop(ctx.user().user_id, id);
  if (!stopped) co_return stopped.error();
  co_return ok(json::object{{"conversationId", id}, {"stopping", true}}, 202);
}

}  // namespace

void add_chat_routes(http::Router& router, Services& s) {
  router.add({"POST", "/api/ai/chat", http::Access::user,
              [&s](http::Context& ctx) { return post_chat(s, ctx); }});
  router.add({"POST", "/api/ai/conversations/:id/messages/:messageId/regenerate", http::Access::user,
              [&s](http::Context& ctx) { return new_version(s, ctx, true); }});
  router.add({"POST", "/api/ai/conversations/:id/messages/:messageId/edit", http::Access::user,
              [&s](http::Context& ctx) { return new_version(s, ctx, false); }});
  router.add({"GET", "/api/ai/conversations/:id/messages/:messageId/versions", http::Access::user,
              [&s](http::Context& ctx) { return versions(s, ctx); }});
  router.add({"POST", "/api/ai/conversations/:id/stop", http::Access::user,
              [&s](http::Context& ctx) { return stop(s, ctx); }});
}

}  // namespace aas::api
