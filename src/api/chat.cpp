// POST /api/ai/chat
#include "api/api.hpp"
#include "api/json_io.hpp"
#include "chat/chat_service.hpp"

namespace aas::api {

namespace {

boost::asio::awaitable<Result<http::Response>> post_chat(Services& s, http::Context& ctx) {
  auto body = parse_object(ctx.request);
  if (!body) co_return body.error();
  if (auto r = allow_only(*body, {"message", "conversationId", "model", "systemPrompt"}); !r)
    co_return r.error();
  auto message = optional_string(*body, "message");
  if (!message) co_return message.error();
  if (!*message) co_return make_error(errc::invalid_request, "'message' is required");
  auto conversation_id = optional_string(*body, "conversationId");
  if (!conversation_id) co_return conversation_id.error();
  auto model = optional_string(*body, "model");
  if (!model) co_return model.error();
  auto system_prompt = optional_string(*body, "systemPrompt");
  if (!system_prompt) co_return system_prompt.error();

  chat::TurnInput in;
  in.user_id = ctx.user().user_id;
  in.message = std::move(**message);
  in.conversation_id = std::move(*conversation_id);
  in.model = std::move(*model);
  in.system_prompt = std::move(*system_prompt);
  in.request_id = ctx.request_id;

  auto turn = co_await s.chat.send(std::move(in));
  if (!turn) co_return turn.error();

  json::object data;
  data["conversationId"] = turn->conversation_id;
  data["messageId"] = turn->assistant.id;
  data["userMessageId"] = turn->user_message_id;
  data["message"] = turn->assistant.content;
  data["model"] = turn->model;
  data["usage"] = json::object{{"inputTokens", turn->usage.input_tokens},
                               {"outputTokens", turn->usage.output_tokens},
                               {"estimated", turn->usage.estimated}};
  data["cost"] = cost_to_json(turn->assistant.cost_micros);
  co_return ok(data);
}

}  // namespace

void add_chat_routes(http::Router& router, Services& s) {
  router.add({"POST", "/api/ai/chat", http::Access::user,
              [&s](http::Context& ctx) { return post_chat(s, ctx); }});
}

}  // namespace aas::api
