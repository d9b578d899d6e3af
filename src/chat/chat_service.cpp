#include "chat/chat_service.hpp"

#include "core/ids.hpp"
#include "core/offload.hpp"
#include "chat/prompt_template.hpp"
#include "llm/token_estimate.hpp"
#include "realtime/event_bus.hpp"
#include "tokens/tokenizer.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <unordered_map>
#include <variant>

namespace aas::chat {

namespace asio = boost::asio;

// A stream a stop request can end: its timer never fires by itself, and is cancelled (on the
// stream's strand) to wake the race in stream().
struct ChatService::Running {
  Running(asio::any_io_executor ex, std::string user)
      : user_id(std::move(user)), wake(std::move(ex), asio::steady_timer::time_point::max()) {}
  std::string user_id;
  asio::steady_timer wake;
  bool stopped = false;  // only touched on the stream's strand
};

struct ChatService::Streams {
  std::mutex mu;
  std::unordered_multimap<std::string, std::shared_ptr<Running>> by_conversation;

  // Wakes the user's streams in that conversation (a stop from any replica).
  void stop(const std::string& user_id, const std::string& conversation_id) {
    std::lock_guard lock(mu);
    auto [from, to] = by_conversation.equal_range(conversation_id);
    for (auto it = from; it != to; ++it) {
      if (it->second->user_id != user_id) continue;
      asio::post(it->second->wake.get_executor(), [r = it->second] {
        r->stopped = true;
        r->wake.cancel();
      });
    }
  }
};

ChatService::ChatService(store::Store& store, asio::thread_pool& blocking, const llm::ModelRegistry& models,
                         Accounting& accounting, realtime::EventBus& events, ChatOptions options)
    : store_(store),
      blocking_(blocking),
      models_(models),
      accounting_(accounting),
      events_(events),
      options_(std::move(options)),
      streams_(std::make_shared<Streams>()) {
  events_.subscribe([weak = std::weak_ptr<Streams>(streams_)](const realtime::Event& e) {
    if (e.type != "answer.stop") return;
    if (auto streams = weak.lock()) streams->stop(e.user_id, e.conversation_id);
  });
}

ChatService::~ChatService() = default;

asio::awaitable<Result<void>> ChatService::stop(std::string user_id, std::string conversation_id) {
  co_return co_await offload(blocking_, [&]() -> Result<void> {
    auto conversation = store_.get_conversation(user_id, conversation_id);
    if (!conversation) return conversation.error();
    events_.publish(realtime::Event{"answer.stop", user_id, conversation_id, {}, {}});
    return {};
  });
}

void ChatService::announce(const PreparedTurn& turn, const store::Message& answer) {
  events_.publish(realtime::Event{"message.completed", turn.input.user_id, turn.conversation.id, answer.id,
                                  std::string(store::to_string(answer.status))});
}

namespace {

// What the model is given: the system prompt, then as many of the latest stored turns as fit the
// context window (oldest first), then the new message. Messages are never split: a turn that
// does not fit whole is left out, with every turn before it. Returns how many were left out.
struct Context {
  llm::ChatRequest request;
  int omitted = 0;
};

Result<Context> build_context(const llm::Model& model, std::int64_t context_window,
                              std::int64_t output_reserve, const std::string& system_prompt,
                              const std::optional<std::string>& summary,
                              const std::vector<store::Message>& history, const std::string& message,
                              const std::string& request_id) {
  // Exact where the model has a tokenizer; elsewhere an estimate, given a 10 % margin.
  const bool exact = tokens::encoding_for_model(model.upstream_model).has_value();
  const auto tokens_of = [&](std::string_view role, std::string_view text) {
    const std::int64_t n = llm::count_text_tokens(model.upstream_model, text) +
                           llm::count_text_tokens(model.upstream_model, role) + 3;
    return exact ? n : n + n / 10 + 1;
  };
  std::int64_t budget = context_window - output_reserve - 3;  // 3: priming the reply
  const std::string summary_message =
      summary ? "Summary of the earlier conversation:\n" + *summary : std::string();
  budget -= tokens_of("system", system_prompt) + tokens_of("user", message);
  if (summary) budget -= tokens_of("system", summary_message);
  if (budget < 0)
    return make_error(errc::invalid_request, "the message is too long for the model's context window (" +
                                                 std::to_string(context_window) + " tokens)");
  // Newest first, while they fit.
  std::vector<const store::Message*> kept;
  Context ctx;
  for (auto it = history.rbegin(); it != history.rend(); ++it) {
    const store::Message& m = *it;
    // Failed answers hold no text worth sending, and an answer in flight elsewhere is not part
    // of the context yet; interrupted ones are sent as far as they got.
    if (m.status == store::MessageStatus::error || m.status == store::MessageStatus::streaming) continue;
    const std::int64_t cost = tokens_of(store::to_string(m.role), m.content);
    if (cost > budget) {
      ctx.omitted = static_cast<int>(history.rend() - it);
      break;
    }
    budget -= cost;
    kept.push_back(&m);
  }
  llm::ChatRequest& req = ctx.request;
  req.model = model.upstream_model;
  req.request_id = request_id;
  req.messages.reserve(kept.size() + 2);
  req.messages.push_back({"system", system_prompt});
  if (summary) req.messages.push_back({"system", summary_message});
  for (auto it = kept.rbegin(); it != kept.rend(); ++it)
    req.messages.push_back({std::string(store::to_string((*it)->role)), (*it)->content});
  req.messages.push_back({"user", message});
  return ctx;
}

// The call's whole duration so far and the part of it not spent on the upstream.
const CallOutcome& timed(CallOutcome& call, std::chrono::steady_clock::time_point since,
                         std::chrono::steady_clock::duration upstream) {
  const std::chrono::duration<double> total = std::chrono::steady_clock::now() - since;
  call.total_seconds = total.count();
  call.overhead_seconds = std::max(0.0, (total - upstream).count());
  return call;
}

TimePoint clock_now() { return std::chrono::system_clock::now(); }

// The ledger facts a turn knows before its model call.
CallOutcome outcome_of(const PreparedTurn& turn) {
  CallOutcome call;
  call.kind = "chat";
  call.user_id = turn.input.user_id;
  call.conversation_id = turn.conversation.id;
  call.model = turn.model;
  call.request_id = turn.input.request_id;
  return call;
}

std::string_view known_finish_reason(std::string_view reason) {
  for (std::string_view known : {"stop", "length", "tool_calls", "content_filter", "cancelled", "stopped"})
    if (reason == known) return known;
  return "other";
}

// Metadata the store keeps as JSON text; every value written here is one of a fixed set of
// words, so plain concatenation cannot produce invalid JSON.
std::string answer_metadata(bool usage_estimated, std::string_view finish_reason,
                            std::optional<errc> error, int context_omitted = 0) {
  std::string m = std::string("{\"usageEstimated\":") + (usage_estimated ? "true" : "false");
  if (context_omitted > 0) m += ",\"contextOmitted\":" + std::to_string(context_omitted);
  if (!finish_reason.empty()) m += ",\"finishReason\":\"" + std::string(known_finish_reason(finish_reason)) + "\"";
  if (error) m += ",\"error\":\"" + std::string(code_name(*error)) + "\"";
  return m + "}";
}

std::int64_t elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - since)
      .count();
}

}  // namespace

asio::awaitable<Result<PreparedTurn>> ChatService::begin(TurnInput in, bool streaming) {
  if (in.regenerate) in.message = " ";  // replaced by the question below; not validated
  if (in.replace_message_id && (!in.conversation_id || !is_uuid(*in.replace_message_id)))
    co_return make_error(errc::not_found, "message not found");
  if (!in.regenerate && !is_valid_utf8(in.message))
    co_return make_error(errc::invalid_request, "message must be valid UTF-8");
  if (!in.regenerate && is_blank(in.message))
    co_return make_error(errc::invalid_request, "message must not be empty");
  if (count_code_points(in.message) > options_.max_message_chars)
    co_return make_error(errc::invalid_request, "message is longer than " +
                                                    std::to_string(options_.max_message_chars) +
                                                    " characters");
  if (in.system_prompt &&
      (!is_valid_utf8(*in.system_prompt) || count_code_points(*in.system_prompt) > options_.max_message_chars))
    co_return make_error(errc::invalid_request, "systemPrompt must be valid UTF-8 and at most " +
                                                    std::to_string(options_.max_message_chars) +
                                                    " characters");
  if (in.model) {
    auto found = models_.find(*in.model);
    if (!found) co_return found.error();
  }
  if (in.conversation_id && !is_uuid(*in.conversation_id))
    co_return make_error(errc::not_found, "conversation not found");
  if (in.system_prompt && in.prompt_id)
    co_return make_error(errc::invalid_request, "give systemPrompt or promptId, not both");
  if (in.prompt_id && !is_uuid(*in.prompt_id)) co_return make_error(errc::not_found, "prompt not found");

  const auto admitted_at = std::chrono::steady_clock::now();
  // Everything up to the model call in one trip to the blocking pool: read, check the limits,
  // and only then write, so a refused request leaves nothing behind. The user's message is
  // committed in its own transaction here, before the model is called, so it is never lost.
  co_return co_await offload(blocking_, [&]() -> Result<PreparedTurn> {
    PreparedTurn p;
    std::vector<store::Message> history;
    if (in.conversation_id) {
      auto conv = store_.get_conversation(in.user_id, *in.conversation_id);
      if (!conv) return conv.error();
      p.conversation = std::move(*conv);
      // One more than the context holds when a message is replaced: it (and what followed) drops out.
      const int wanted = options_.context_messages - (in.replace_message_id ? 0 : 1);
      if (wanted > 0) {
        auto recent = store_.recent_messages(in.user_id, p.conversation.id, wanted);
        if (!recent) return recent.error();
        history = std::move(*recent);
      }
    }
    std::optional<store::Message> replaced;
    if (in.replace_message_id) {
      auto target = store_.get_message(in.user_id, *in.replace_message_id);
      if (!target || target->conversation_id != p.conversation.id || !target->active)
        return make_error(errc::not_found, "message not found");
      const store::Role expected = in.regenerate ? store::Role::assistant : store::Role::user;
      if (target->role != expected)
        return make_error(errc::invalid_request, in.regenerate ? "only an answer can be regenerated"
                                                               : "only a user message can be edited");
      std::erase_if(history, [&](const store::Message& m) { return m.id >= target->id; });
      if (in.regenerate) {
        // The question it answered is asked again, as it stands.
        if (history.empty() || history.back().role != store::Role::user || history.back().id != target->parent_id)
          return make_error(errc::invalid_request, "this answer has no question to answer again");
        in.message = history.back().content;
        p.user_message_id = history.back().id;
        history.pop_back();
      }
      replaced = std::move(*target);
    }

    const std::string model_name =
        in.model.value_or(p.conversation.model.value_or(models_.default_model().name));
    auto found = models_.find(model_name);
    if (!found) return found.error();  // a stored model that is no longer configured
    p.model = *found;

    // The system prompt: the request's own, else the conversation's own, else the library
    // prompt it (or the request) names, else the default; variables filled in for this turn.
    std::string system_prompt;
    const std::optional<std::string> prompt_id =
        in.prompt_id ? in.prompt_id : (in.system_prompt ? std::nullopt : p.conversation.prompt_id);
    if (in.system_prompt) {
      system_prompt = *in.system_prompt;
    } else if (in.prompt_id || (!p.conversation.system_prompt && prompt_id)) {
      auto prompt = store_.get_prompt(in.user_id, *prompt_id);
      if (!prompt) return prompt.error();
      system_prompt = prompt->content;
    } else {
      system_prompt = p.conversation.system_prompt.value_or(options_.default_system_prompt);
    }
    system_prompt = render_prompt(system_prompt, {in.user_id, in.user_name, clock_now()});
    // Turns already in the summary are sent as the summary, not again one by one.
    if (p.conversation.summary_through) {
      std::erase_if(history, [&](const store::Message& m) { return m.id <= *p.conversation.summary_through; });
    }
    auto context = build_context(
        *p.model, p.model->context_window.value_or(options_.default_context_window),
        accounting_.output_cap(*p.model, std::nullopt), system_prompt, p.conversation.summary, history,
        in.message, in.request_id);
    if (!context) return context.error();
    p.request = std::move(context->request);
    p.context_omitted = context->omitted;
    p.to_summarize.assign(history.begin(), history.begin() + context->omitted);
    const int threshold = options_.summarize_after_messages;
    if (p.to_summarize.empty() && threshold > 0 && static_cast<int>(history.size()) > threshold)
      p.to_summarize.assign(history.begin(), history.end() - threshold / 2);
    std::erase_if(p.to_summarize, [](const store::Message& m) {
      return m.status == store::MessageStatus::error || m.status == store::MessageStatus::streaming;
    });
    p.first_exchange = !in.conversation_id;
    auto grant = accounting_.admit(in.user_id, in.roles, *p.model, p.request, streaming);
    if (!grant) return grant.error();
    p.grant = std::move(*grant);
    if (replaced) {
      if (auto off = store_.deactivate_from(in.user_id, replaced->id); !off) return off.error();
    }

    if (in.conversation_id) {
      store::ConversationPatch patch;
      if (!p.conversation.title) {
        patch.title = title_from_message(in.message);
        patch.title_auto = true;
      }
      // A conversation carries its own system prompt or refers to one of the library.
      if (in.system_prompt && in.system_prompt != p.conversation.system_prompt) {
        patch.system_prompt = in.system_prompt;
        patch.clear_prompt_id = p.conversation.prompt_id.has_value();
      }
      if (in.prompt_id && in.prompt_id != p.conversation.prompt_id) {
        patch.prompt_id = in.prompt_id;
        patch.clear_system_prompt = p.conversation.system_prompt.has_value();
      }
      if (in.model && in.model != p.conversation.model) patch.model = in.model;
      if (patch.title || patch.system_prompt || patch.model || patch.prompt_id || patch.clear_prompt_id ||
          patch.clear_system_prompt) {
        auto updated = store_.update_conversation(in.user_id, p.conversation.id, patch);
        if (!updated) return updated.error();
        p.conversation = std::move(*updated);
      }
    } else {
      store::NewConversation nc;
      nc.user_id = in.user_id;
      nc.title = title_from_message(in.message);
      nc.title_auto = true;
      nc.system_prompt = in.system_prompt;
      nc.model = in.model;
      nc.prompt_id = in.prompt_id;
      auto conv = store_.create_conversation(nc);
      if (!conv) return conv.error();
      p.conversation = std::move(*conv);
    }

    if (!in.regenerate) {
      store::NewMessage um;
      um.conversation_id = p.conversation.id;
      um.role = store::Role::user;
      um.content = in.message;
      auto stored = store_.append_message(in.user_id, um);
      if (!stored) return stored.error();
      p.user_message_id = stored->id;
    }

    if (streaming) {
      store::NewMessage placeholder;
      placeholder.conversation_id = p.conversation.id;
      placeholder.role = store::Role::assistant;
      placeholder.status = store::MessageStatus::streaming;
      placeholder.model = p.model->name;
      auto ph = store_.append_message(in.user_id, placeholder);
      if (!ph) return ph.error();
      p.placeholder_id = ph->id;
    }
    p.input = std::move(in);
    p.admitted_at = admitted_at;
    return p;
  });
}

asio::awaitable<Result<TurnResult>> ChatService::send(TurnInput input) {
  auto prepared = co_await begin(std::move(input), false);
  if (!prepared) co_return prepared.error();
  PreparedTurn& turn = *prepared;
  const llm::Model& model = *turn.model;

  const auto started = std::chrono::steady_clock::now();
  Result<llm::Completion> completion = co_await model.provider->complete(turn.request);
  const auto upstream = std::chrono::steady_clock::now() - started;

  // The answer, or the failure, is recorded either way: a failed turn leaves an error message
  // behind so the conversation shows what happened, and a ledger row with what it used.
  store::NewMessage am;
  am.conversation_id = turn.conversation.id;
  am.role = store::Role::assistant;
  am.model = model.name;
  am.latency_ms = elapsed_ms(started);
  CallOutcome call = outcome_of(turn);
  call.latency_ms = *am.latency_ms;
  if (completion) {
    am.content = completion->content;
    am.status = store::MessageStatus::complete;
    am.input_tokens = completion->usage.input_tokens;
    am.output_tokens = completion->usage.output_tokens;
    am.cost_micros = llm::cost_micros(model.pricing, completion->usage);
    am.metadata = answer_metadata(completion->usage.estimated, completion->finish_reason, std::nullopt,
                                  turn.context_omitted);
    call.deployment = completion->deployment;
    call.provider = completion->provider;
    call.usage = completion->usage;
    call.cost_micros = am.cost_micros;
  } else {
    am.status = store::MessageStatus::error;
    am.metadata = answer_metadata(false, "", completion.error().code, turn.context_omitted);
    call.status = "error";
    call.cost_micros = llm::cost_micros(model.pricing, call.usage);
    spdlog::warn("chat request_id={} model={} failed: {}", turn.input.request_id, model.name,
                 completion.error().detail.empty() ? completion.error().message
                                                   : completion.error().detail);
  }
  am.usage = Accounting::ledger_row(call);
  // Settling the grant may be a Redis round trip: it stays on the blocking pool with the write.
  auto stored = co_await offload(blocking_, [&] {
    auto written = store_.append_message(turn.input.user_id, am);
    if (written) {
      accounting_.recorded(turn.grant, timed(call, turn.admitted_at, upstream));
      announce(turn, *written);
    }
    return written;
  });
  if (stored && completion) after_turn(turn, co_await asio::this_coro::executor);
  if (!completion) co_return completion.error();
  if (!stored) co_return stored.error();

  TurnResult out;
  out.conversation_id = turn.conversation.id;
  out.user_message_id = turn.user_message_id;
  out.assistant = std::move(*stored);
  out.usage = completion->usage;
  out.model = model.name;
  out.finish_reason = std::string(known_finish_reason(completion->finish_reason));
  co_return out;
}

asio::awaitable<Result<TurnResult>> ChatService::stream(PreparedTurn turn, TurnObserver& observer) {
  using namespace asio::experimental::awaitable_operators;
  if (!turn.placeholder_id) co_return make_error(errc::internal, "internal error", "stream() needs begin(.., true)");
  const llm::Model& model = *turn.model;
  const llm::ChatRequest& request = turn.request;

  // What reached the client, kept here rather than in the provider, so a stream that is cut
  // (client gone, upstream dropped) still leaves its partial answer to store and bill.
  const auto started = std::chrono::steady_clock::now();
  std::string received;
  std::optional<std::int64_t> ttft_ms;
  bool client_gone = false;
  const llm::ChunkSink sink = [&](const llm::StreamDelta& d) {
    const std::string_view text = d.text;
    if (!ttft_ms && !text.empty()) ttft_ms = elapsed_ms(started);
    received.append(text);
    if (!observer.delta(text)) client_gone = true;
    return !client_gone;
  };

  // A departed client, or a stop request from any replica, cancels the model call at once
  // instead of at its next word.
  auto running = std::make_shared<Running>(co_await asio::this_coro::executor, turn.input.user_id);
  const std::string conversation_id = turn.conversation.id;
  {
    std::lock_guard lock(streams_->mu);
    streams_->by_conversation.emplace(conversation_id, running);
  }
  auto stop_requested = [running]() -> asio::awaitable<void> {
    if (!running->stopped) co_await running->wake.async_wait(asio::as_tuple(asio::use_awaitable));
  };
  std::variant<Result<llm::Completion>, std::monostate, std::monostate> raced =
      co_await (model.provider->stream(request, sink) || observer.gone() || stop_requested());
  {
    std::lock_guard lock(streams_->mu);
    auto [from, to] = streams_->by_conversation.equal_range(conversation_id);
    for (auto it = from; it != to; ++it)
      if (it->second == running) {
        streams_->by_conversation.erase(it);
        break;
      }
  }
  const auto upstream = std::chrono::steady_clock::now() - started;
  std::optional<Result<llm::Completion>> completion;
  bool stopped = false;
  if (raced.index() == 0) completion = std::move(std::get<0>(raced));
  else if (raced.index() == 1) client_gone = true;
  else stopped = true;

  store::MessageUpdate update;
  update.latency_ms = elapsed_ms(started);
  update.content = received;
  llm::Usage usage;
  std::optional<Error> failure;
  CallOutcome call = outcome_of(turn);
  if (completion && *completion) {
    call.deployment = (*completion)->deployment;
    call.provider = (*completion)->provider;
  }
  if (completion && *completion && !client_gone && !stopped) {
    usage = (*completion)->usage;
    update.status = store::MessageStatus::complete;
    update.metadata = answer_metadata(usage.estimated, (*completion)->finish_reason, std::nullopt,
                                      turn.context_omitted);
  } else {
    // Stopped part way (or never started): bill what was used. When the provider could not
    // report usage, estimate it with the tokenizer and say so.
    if (completion && *completion && (*completion)->usage.input_tokens > 0) {
      usage = (*completion)->usage;
    } else {
      usage.input_tokens = llm::count_prompt_tokens(request.model, request.messages);
      usage.output_tokens = llm::count_text_tokens(request.model, received);
      usage.estimated = true;
    }
    if (completion && !*completion) failure = completion->error();
    if (client_gone) failure = make_error(errc::unavailable, "the client disconnected");
    const bool nothing_arrived = received.empty() && completion && !*completion;
    update.status = nothing_arrived ? store::MessageStatus::error : store::MessageStatus::interrupted;
    if (nothing_arrived) usage = llm::Usage{};  // the call failed: nothing was generated for us
    // A stop the user asked for is no failure: the answer ends where it was.
    update.metadata = answer_metadata(usage.estimated, client_gone ? "cancelled" : stopped ? "stopped" : "",
                                      failure ? std::optional(failure->code) : std::nullopt,
                                      turn.context_omitted);
    spdlog::info("chat stream request_id={} model={} {}: {}", turn.input.request_id, model.name,
                 store::to_string(update.status),
                 !failure ? std::string("stopped by the user")
                 : failure->detail.empty() ? failure->message : failure->detail);
  }
  update.input_tokens = usage.input_tokens;
  update.output_tokens = usage.output_tokens;
  update.cost_micros = llm::cost_micros(model.pricing, usage);
  call.usage = usage;
  call.cost_micros = update.cost_micros;
  call.latency_ms = *update.latency_ms;
  call.ttft_ms = ttft_ms;
  call.status = std::string(store::to_string(update.status));
  update.usage = Accounting::ledger_row(call);

  auto stored = co_await offload(blocking_, [&] {
    auto written = store_.update_message(turn.input.user_id, *turn.placeholder_id, update);
    if (written) {
      accounting_.recorded(turn.grant, timed(call, turn.admitted_at, upstream));
      announce(turn, *written);
    }
    return written;
  });
  if (!stored) co_return stored.error();
  if (update.status == store::MessageStatus::complete) after_turn(turn, co_await asio::this_coro::executor);
  if (update.status == store::MessageStatus::error) co_return *failure;

  TurnResult out;
  out.conversation_id = turn.conversation.id;
  out.user_message_id = turn.user_message_id;
  out.assistant = std::move(*stored);
  out.usage = usage;
  out.model = model.name;
  out.finish_reason = client_gone ? "cancelled"
                     : stopped   ? "stopped"
                                  : std::string(completion && *completion
                                                    ? known_finish_reason((*completion)->finish_reason)
                                                    : "interrupted");
  out.interruption = failure;
  co_return out;
}

void ChatService::after_turn(const PreparedTurn& turn, const asio::any_io_executor& ex) {
  const std::string& user = turn.input.user_id;
  const std::string& id = turn.conversation.id;
  if (options_.generate_titles && turn.first_exchange && turn.conversation.title_auto) {
    asio::co_spawn(ex, generate_title(user, id, turn.input.message, turn.input.request_id), asio::detached);
  }
  if (!turn.to_summarize.empty()) {
    auto task = [this, user, id, previous = turn.conversation.summary, turns = turn.to_summarize,
                 rid = turn.input.request_id]() mutable -> asio::awaitable<void> {
      auto r = co_await write_summary(user, id, std::move(previous), std::move(turns), rid);
      if (!r) spdlog::warn("summary of conversation {} failed: {}", id, r.error().detail.empty() ? r.error().message : r.error().detail);
    };
    asio::co_spawn(ex, std::move(task), asio::detached);
  }
}

asio::awaitable<Result<std::string>> ChatService::background_call(const std::string& user_id,
                                                                  const std::string& conversation_id,
                                                                  std::string kind, std::string instruction,
                                                                  std::string input, std::string request_id) {
  auto found = models_.find(options_.background_model.empty() ? models_.default_model().name
                                                              : options_.background_model);
  if (!found) co_return found.error();
  const llm::Model& model = **found;
  llm::ChatRequest req;
  req.model = model.upstream_model;
  req.request_id = request_id;
  req.max_tokens = static_cast<int>(accounting_.output_cap(model, 512));
  req.messages = {{"system", std::move(instruction)}, {"user", std::move(input)}};
  const auto started = std::chrono::steady_clock::now();
  auto completion = co_await model.provider->complete(req);
  CallOutcome call;
  call.kind = std::move(kind);
  call.user_id = user_id;
  call.conversation_id = conversation_id;
  call.model = &model;
  call.request_id = std::move(request_id);
  call.latency_ms = elapsed_ms(started);
  if (completion) {
    call.deployment = completion->deployment;
    call.provider = completion->provider;
    call.usage = completion->usage;
  } else {
    call.status = "error";
  }
  call.cost_micros = llm::cost_micros(model.pricing, call.usage);
  const store::UsageRecord row = Accounting::ledger_row(call);
  if (auto written = co_await offload(blocking_, [&] { return store_.record_usage(row); }); written)
    accounting_.recorded(call);
  if (!completion) co_return completion.error();
  co_return std::move(completion->content);
}

asio::awaitable<void> ChatService::generate_title(std::string user_id, std::string conversation_id,
                                                  std::string message, std::string request_id) {
  auto title = co_await background_call(
      user_id, conversation_id, "title",
      "Write a short title (at most 6 words) for a conversation that starts with the user's message "
      "below. Answer with the title only, no quotes.",
      message, request_id);
  if (!title) {
    spdlog::warn("title of conversation {} failed: {}", conversation_id, title.error().message);
    co_return;
  }
  std::string t = title_from_message(*title);
  while (!t.empty() && (t.front() == '"' || t.front() == '\'')) t.erase(t.begin());
  while (!t.empty() && (t.back() == '"' || t.back() == '\'' || t.back() == '.')) t.pop_back();
  if (t.empty()) co_return;
  co_await offload(blocking_, [&]() -> Result<void> {
    // Only while the title is still the service's: a user may have renamed it meanwhile.
    auto conv = store_.get_conversation(user_id, conversation_id);
    if (!conv || !conv->title_auto) return {};
    store::ConversationPatch patch;
    patch.title = t;
    patch.title_auto = true;
    if (auto r = store_.update_conversation(user_id, conversation_id, patch); !r) return r.error();
    return {};
  });
}

asio::awaitable<Result<std::string>> ChatService::write_summary(std::string user_id,
                                                                std::string conversation_id,
                                                                std::optional<std::string> previous,
                                                                std::vector<store::Message> turns,
                                                                std::string request_id) {
  if (turns.empty()) co_return make_error(errc::invalid_request, "nothing to summarize");
  std::string input;
  if (previous) input += "Summary so far:\n" + *previous + "\n\nNew turns:\n";
  for (const store::Message& m : turns) input += std::string(store::to_string(m.role)) + ": " + m.content + "\n";
  auto summary = co_await background_call(
      user_id, conversation_id, "summary",
      "Summarize the conversation below for its own continuation: keep every fact, decision, name, "
      "number and open question; drop pleasantries. Plain text, at most 200 words.",
      std::move(input), std::move(request_id));
  if (!summary) co_return summary.error();
  const std::string through = turns.back().id;
  auto stored = co_await offload(blocking_, [&] {
    return store_.set_summary(user_id, conversation_id, *summary, through);
  });
  if (!stored) co_return stored.error();
  co_return summary;
}

asio::awaitable<Result<store::Conversation>> ChatService::summarize(std::string user_id,
                                                                    std::string conversation_id,
                                                                    int keep) {
  if (!is_uuid(conversation_id)) co_return make_error(errc::not_found, "conversation not found");
  struct Pending {
    store::Conversation conversation;
    std::vector<store::Message> turns;
  };
  auto pending = co_await offload(blocking_, [&]() -> Result<Pending> {
    auto conv = store_.get_conversation(user_id, conversation_id);
    if (!conv) return conv.error();
    auto recent = store_.recent_messages(user_id, conversation_id, 1000);
    if (!recent) return recent.error();
    std::vector<store::Message> turns;
    for (store::Message& m : *recent) {
      if (conv->summary_through && m.id <= *conv->summary_through) continue;
      if (m.status == store::MessageStatus::error || m.status == store::MessageStatus::streaming) continue;
      turns.push_back(std::move(m));
    }
    if (keep > 0) turns.resize(turns.size() > static_cast<std::size_t>(keep) ? turns.size() - keep : 0);
    return Pending{std::move(*conv), std::move(turns)};
  });
  if (!pending) co_return pending.error();
  if (!pending->turns.empty()) {
    auto written = co_await write_summary(user_id, conversation_id, pending->conversation.summary,
                                          std::move(pending->turns), "summarize-" + conversation_id);
    if (!written) co_return written.error();
  }
  co_return co_await offload(blocking_, [&] { return store_.get_conversation(user_id, conversation_id); });
}

}  // namespace aas::chat
