#include "chat/chat_service.hpp"

#include "core/ids.hpp"
#include "core/offload.hpp"

#include <boost/asio/thread_pool.hpp>
#include <spdlog/spdlog.h>

#include <chrono>

namespace aas::chat {

namespace asio = boost::asio;

ChatService::ChatService(store::Store& store, asio::thread_pool& blocking,
                         const llm::ModelRegistry& models, ChatOptions options)
    : store_(store), blocking_(blocking), models_(models), options_(std::move(options)) {}

namespace {

// What the model is given: the system prompt, then the stored turns, oldest first.
llm::ChatRequest build_request(const store::Conversation& conv,
                               const std::vector<store::Message>& history,
                               const std::string& default_system_prompt,
                               const llm::Model& model, const std::string& request_id) {
  llm::ChatRequest req;
  req.model = model.upstream_model;
  req.request_id = request_id;
  req.messages.reserve(history.size() + 1);
  req.messages.push_back({"system", conv.system_prompt.value_or(default_system_prompt)});
  for (const store::Message& m : history) {
    // Failed answers hold no text worth sending; interrupted ones are sent as far as they got.
    if (m.status == store::MessageStatus::error) continue;
    req.messages.push_back({std::string(store::to_string(m.role)), m.content});
  }
  return req;
}

struct Prepared {
  store::Conversation conversation;
  std::string user_message_id;
  std::vector<store::Message> history;
};

}  // namespace

asio::awaitable<Result<TurnResult>> ChatService::send(TurnInput in) {
  if (!is_valid_utf8(in.message))
    co_return make_error(errc::invalid_request, "message must be valid UTF-8");
  if (is_blank(in.message)) co_return make_error(errc::invalid_request, "message must not be empty");
  if (count_code_points(in.message) > options_.max_message_chars)
    co_return make_error(errc::invalid_request, "message is longer than " +
                                                    std::to_string(options_.max_message_chars) +
                                                    " characters");
  if (in.system_prompt && count_code_points(*in.system_prompt) > options_.max_message_chars)
    co_return make_error(errc::invalid_request, "systemPrompt is too long");
  if (in.model) {
    auto found = models_.find(*in.model);
    if (!found) co_return found.error();
  }
  if (in.conversation_id && !is_uuid(*in.conversation_id))
    co_return make_error(errc::not_found, "conversation not found");

  // Everything up to the model call in one trip to the blocking pool. The user's message is
  // committed in its own transaction here, before the model is called, so it is never lost.
  Result<Prepared> prepared = co_await offload(blocking_, [&]() -> Result<Prepared> {
    Prepared p;
    if (in.conversation_id) {
      auto conv = store_.get_conversation(in.user_id, *in.conversation_id);
      if (!conv) return conv.error();
      p.conversation = std::move(*conv);
      store::ConversationPatch patch;
      if (!p.conversation.title) patch.title = title_from_message(in.message);
      if (in.system_prompt && in.system_prompt != p.conversation.system_prompt)
        patch.system_prompt = in.system_prompt;
      if (in.model && in.model != p.conversation.model) patch.model = in.model;
      if (patch.title || patch.system_prompt || patch.model) {
        auto updated = store_.update_conversation(in.user_id, p.conversation.id, patch);
        if (!updated) return updated.error();
        p.conversation = std::move(*updated);
      }
    } else {
      store::NewConversation nc;
      nc.user_id = in.user_id;
      nc.title = title_from_message(in.message);
      nc.system_prompt = in.system_prompt;
      nc.model = in.model;
      auto conv = store_.create_conversation(nc);
      if (!conv) return conv.error();
      p.conversation = std::move(*conv);
    }
    store::NewMessage um;
    um.conversation_id = p.conversation.id;
    um.role = store::Role::user;
    um.content = in.message;
    auto stored = store_.append_message(in.user_id, um);
    if (!stored) return stored.error();
    p.user_message_id = stored->id;
    auto history = store_.recent_messages(in.user_id, p.conversation.id, options_.context_messages);
    if (!history) return history.error();
    p.history = std::move(*history);
    return p;
  });
  if (!prepared) co_return prepared.error();

  const std::string model_name =
      in.model.value_or(prepared->conversation.model.value_or(models_.default_model().name));
  auto found = models_.find(model_name);
  if (!found) co_return found.error();  // a conversation's stored model that is no longer configured
  const llm::Model& model = **found;

  const llm::ChatRequest request = build_request(
      prepared->conversation, prepared->history, options_.default_system_prompt, model, in.request_id);
  const auto started = std::chrono::steady_clock::now();
  Result<llm::Completion> completion = co_await model.provider->complete(request);
  const auto latency_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - started)
                              .count();

  // The answer, or the failure, is recorded either way: a failed turn leaves an error message
  // behind so the conversation shows what happened.
  store::NewMessage am;
  am.conversation_id = prepared->conversation.id;
  am.role = store::Role::assistant;
  am.model = model.name;
  am.latency_ms = latency_ms;
  if (completion) {
    am.content = completion->content;
    am.status = store::MessageStatus::complete;
    am.input_tokens = completion->usage.input_tokens;
    am.output_tokens = completion->usage.output_tokens;
    am.cost_micros = llm::cost_micros(model.pricing, completion->usage);
    am.metadata = std::string("{\"usageEstimated\":") +
                  (completion->usage.estimated ? "true" : "false") + ",\"finishReason\":\"" +
                  (completion->finish_reason == "stop" || completion->finish_reason == "length"
                       ? completion->finish_reason
                       : std::string("other")) +
                  "\"}";
  } else {
    am.status = store::MessageStatus::error;
    am.metadata = std::string("{\"error\":\"") + std::string(code_name(completion.error().code)) + "\"}";
    spdlog::warn("chat request_id={} model={} failed: {}", in.request_id, model.name,
                 completion.error().detail.empty() ? completion.error().message
                                                   : completion.error().detail);
  }
  auto stored = co_await offload(blocking_, [&] { return store_.append_message(in.user_id, am); });
  if (!completion) co_return completion.error();
  if (!stored) co_return stored.error();

  TurnResult out;
  out.conversation_id = prepared->conversation.id;
  out.user_message_id = prepared->user_message_id;
  out.assistant = std::move(*stored);
  out.usage = completion->usage;
  out.model = model.name;
  co_return out;
}

}  // namespace aas::chat
