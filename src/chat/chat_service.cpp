#include "chat/chat_service.hpp"

#include "chat/context_builder.hpp"
#include "chat/placeholder.hpp"
#include "chat/prompt_template.hpp"
#include "core/ids.hpp"
#include "core/offload.hpp"
#include "llm/token_estimate.hpp"
#include "llm/validate.hpp"
#include "realtime/event_bus.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <unordered_map>

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
                         Accounting& accounting, Recorder& recorder, realtime::EventBus& events,
                         ChatOptions options)
    : store_(store),
      blocking_(blocking),
      models_(models),
      accounting_(accounting),
      recorder_(recorder),
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

domain::NewMessage answer_placeholder(const std::string& conversation_id, const llm::Model& model,
                                      std::int64_t prompt_tokens) {
  domain::NewMessage placeholder;
  placeholder.conversation_id = conversation_id;
  placeholder.role = domain::Role::assistant;
  placeholder.status = domain::MessageStatus::streaming;
  placeholder.model = model.name;
  placeholder.input_tokens = prompt_tokens;
  placeholder.output_tokens = 0;
  placeholder.cost_micros = llm::cost_micros(model.pricing, llm::Usage{prompt_tokens, 0, 0, 0, 0, true});
  placeholder.metadata = R"({"usageEstimated":true})";
  return placeholder;
}

namespace {

TimePoint clock_now() { return std::chrono::system_clock::now(); }

// The checks that need nothing but the input.
Result<void> validate(const TurnInput& in, const llm::ModelRegistry& models, std::size_t max_chars,
                      std::size_t max_image_bytes) {
  const auto too_long = [&](std::string_view what) {
    return make_error(errc::invalid_request,
                      std::string(what) + " must be valid UTF-8 and at most " + std::to_string(max_chars) + " characters");
  };
  if (in.replace_message_id && (!in.conversation_id || !is_uuid(*in.replace_message_id)))
    return make_error(errc::not_found, "message not found");
  if (!in.regenerate) {
    if (!is_valid_utf8(in.message)) return make_error(errc::invalid_request, "message must be valid UTF-8");
    const bool has_image = std::any_of(in.parts.begin(), in.parts.end(), [](const llm::ContentPart& p) {
      return p.kind == llm::ContentPart::Kind::image;
    });
    if (is_blank(in.message) && !has_image) return make_error(errc::invalid_request, "message must not be empty");
    for (std::size_t i = 0; i < in.parts.size(); ++i) {
      if (in.parts[i].kind != llm::ContentPart::Kind::image) continue;
      if (auto problem = llm::image_url_problem(in.parts[i].image_url, max_image_bytes))
        return make_error(errc::invalid_request, "message[" + std::to_string(i) + "].image_url " + *problem);
    }
    if (count_code_points(in.message) > max_chars)
      return make_error(errc::invalid_request, "message is longer than " + std::to_string(max_chars) + " characters");
  }
  if (in.system_prompt && (!is_valid_utf8(*in.system_prompt) || count_code_points(*in.system_prompt) > max_chars))
    return too_long("systemPrompt");
  if (in.model) {
    auto found = models.find(*in.model);
    if (!found) return found.error();
    // An embedding model turns text into vectors; it cannot answer (the gateway says the same).
    if ((*found)->embedding)
      return make_error(errc::invalid_request, "model " + (*found)->name + " is an embedding model: it cannot chat");
  }
  if (in.conversation_id && !is_uuid(*in.conversation_id))
    return make_error(errc::not_found, "conversation not found");
  if (in.system_prompt && in.prompt_id)
    return make_error(errc::invalid_request, "give systemPrompt or promptId, not both");
  if (in.prompt_id && !is_uuid(*in.prompt_id)) return make_error(errc::not_found, "prompt not found");
  return {};
}

}  // namespace

// What plan() read for a turn.
struct ChatService::Plan {
  domain::Conversation conversation;  // empty id: a new conversation
  std::vector<domain::Message> history;  // oldest first, without the turns the summary covers
  std::optional<domain::Message> replaced;  // the message this turn makes a new version of
  std::string message;          // the user's message (a regenerated answer's question)
  std::vector<llm::ContentPart> parts;  // its parts, when it has images
  std::string user_message_id;  // regenerate: the question's, which stays
  const llm::Model* model = nullptr;
  std::string system_prompt;  // rendered for this turn
};

namespace {
// A new conversation's title: its first message's first line; a message of images only has none.
std::string title_of(const ChatService::Plan& p) {
  return is_blank(p.message) ? std::string("Image") : title_from_message(p.message);
}
}  // namespace

Result<ChatService::Plan> ChatService::plan(const TurnInput& in) {
  Plan p;
  p.message = in.message;
  p.parts = in.parts;
  if (in.conversation_id) {
    auto conv = store_.get_conversation(in.user_id, *in.conversation_id);
    if (!conv) return conv.error();
    p.conversation = std::move(*conv);
    // One more than the context holds when a message is replaced: it (and what followed) drops out.
    const int wanted = options_.context_messages - (in.replace_message_id ? 0 : 1);
    if (wanted > 0) {
      auto recent = store_.recent_messages(in.user_id, p.conversation.id, wanted);
      if (!recent) return recent.error();
      p.history = std::move(*recent);
    }
  }
  if (in.replace_message_id) {
    auto target = store_.get_message(in.user_id, *in.replace_message_id);
    if (!target || target->conversation_id != p.conversation.id || !target->active)
      return make_error(errc::not_found, "message not found");
    const domain::Role expected = in.regenerate ? domain::Role::assistant : domain::Role::user;
    if (target->role != expected)
      return make_error(errc::invalid_request, in.regenerate ? "only an answer can be regenerated"
                                                             : "only a user message can be edited");
    std::erase_if(p.history, [&](const domain::Message& m) { return m.id >= target->id; });
    if (in.regenerate) {
      // The question it answered is asked again, as it stands.
      if (p.history.empty() || p.history.back().role != domain::Role::user ||
          p.history.back().id != target->parent_id)
        return make_error(errc::invalid_request, "this answer has no question to answer again");
      p.message = p.history.back().content;
      p.parts = p.history.back().parts;
      p.user_message_id = p.history.back().id;
      p.history.pop_back();
    }
    p.replaced = std::move(*target);
  }

  const std::string model_name = in.model.value_or(p.conversation.model.value_or(models_.default_model().name));
  auto found = models_.find(model_name);
  if (!found) return found.error();  // a stored model that is no longer configured
  p.model = *found;

  // The system prompt: the request's own, else the conversation's own, else the library prompt
  // it (or the request) names, else the default; variables filled in for this turn.
  const std::optional<std::string> prompt_id =
      in.prompt_id ? in.prompt_id : (in.system_prompt ? std::nullopt : p.conversation.prompt_id);
  if (in.system_prompt) {
    p.system_prompt = *in.system_prompt;
  } else if (in.prompt_id || (!p.conversation.system_prompt && prompt_id)) {
    auto prompt = store_.get_prompt(in.user_id, *prompt_id);
    if (!prompt) return prompt.error();
    p.system_prompt = prompt->content;
  } else {
    p.system_prompt = p.conversation.system_prompt.value_or(options_.default_system_prompt);
  }
  p.system_prompt = render_prompt(p.system_prompt, {in.user_id, in.user_name, clock_now()});
  // Turns already in the summary are sent as the summary, not again one by one.
  if (p.conversation.summary_through) {
    std::erase_if(p.history, [&](const domain::Message& m) { return m.id <= *p.conversation.summary_through; });
  }
  return p;
}

store::TurnStart ChatService::turn_start(const PreparedTurn& turn, const Plan& plan) {
  const TurnInput& in = turn.input;
  // Everything a turn writes before the model is called goes into ONE transaction (shared with
  // other turns' writes by the store's group commit): the conversation created or patched, a
  // replaced message taken off the branch, the user's message and the answer's placeholder. The
  // question is never lost, and never left without an answer row (a crash leaves the placeholder
  // `streaming`, which the restart marks interrupted and bills). The placeholder carries the
  // prompt's estimate, so that bill is the prompt at least.
  store::TurnStart start;
  if (plan.replaced) start.deactivate_from = plan.replaced->id;
  if (in.conversation_id) {
    start.conversation_id = turn.conversation.id;
    domain::ConversationPatch patch;
    if (!turn.conversation.title) {
      patch.title = title_of(plan);
      patch.title_auto = true;
    }
    // A conversation carries its own system prompt or refers to one of the library.
    if (in.system_prompt && in.system_prompt != turn.conversation.system_prompt) {
      patch.system_prompt = in.system_prompt;
      patch.clear_prompt_id = turn.conversation.prompt_id.has_value();
    }
    if (in.prompt_id && in.prompt_id != turn.conversation.prompt_id) {
      patch.prompt_id = in.prompt_id;
      patch.clear_system_prompt = turn.conversation.system_prompt.has_value();
    }
    if (in.model && in.model != turn.conversation.model) patch.model = in.model;
    if (patch.title || patch.system_prompt || patch.model || patch.prompt_id || patch.clear_prompt_id ||
        patch.clear_system_prompt)
      start.patch = std::move(patch);
  } else {
    domain::NewConversation nc;
    nc.user_id = in.user_id;
    nc.title = title_of(plan);
    nc.title_auto = true;
    nc.system_prompt = in.system_prompt;
    nc.model = in.model;
    nc.prompt_id = in.prompt_id;
    if (in.knowledge_base_ids) nc.knowledge_base_ids = *in.knowledge_base_ids;
    start.create = std::move(nc);
  }
  if (!in.regenerate) {
    domain::NewMessage um;
    um.role = domain::Role::user;
    um.content = plan.message;
    um.parts = plan.parts;
    start.messages.push_back(std::move(um));
  }
  start.messages.push_back(answer_placeholder({}, *turn.model, turn.prompt_tokens));
  return start;
}

namespace {

// What the turn's first writes gave back, into the turn.
void started(PreparedTurn& turn, store::TurnStarted& stored, bool conversation_written) {
  if (conversation_written) turn.conversation = std::move(stored.conversation);
  if (!turn.input.regenerate) turn.user_message_id = stored.messages.front().id;
  turn.placeholder_id = stored.messages.back().id;
}

}  // namespace


asio::awaitable<Result<PreparedTurn>> ChatService::begin(TurnInput in, bool streaming) {
  if (auto valid = validate(in, models_, options_.max_message_chars, options_.max_image_bytes); !valid)
    co_return valid.error();
  PreparedTurn turn;
  turn.admitted_at = std::chrono::steady_clock::now();
  // plan -> context -> admit in one trip to the blocking pool, and from there the turn's first
  // writes queued for the store's group commit: the pool thread does not wait for the commit, the
  // writer hands the outcome straight back here (issue 16).
  auto work = [&](OffloadDone<Result<void>> done) {
    auto start = prepare(in, turn, streaming);
    if (!start) return done(start.error());
    const bool conversation_written = start->create || start->patch;
    store::Store::Then<store::TurnStarted> then = [&turn, conversation_written, done](Result<store::TurnStarted> stored) {
      if (!stored) return done(stored.error());
      started(turn, *stored, conversation_written);
      done(Result<void>{});
    };
    store_.start_turn_then(turn.input.user_id, std::move(*start), std::move(then));  // last: `turn` is the writer's now
  };
  auto begun = co_await offload_then<Result<void>>(blocking_, work);
  if (!begun) co_return begun.error();
  co_return std::move(turn);
}

Result<store::TurnStart> ChatService::prepare(TurnInput& in, PreparedTurn& turn, bool streaming) {
  auto planned = plan(in);
  if (!planned) return planned.error();
  Plan& p = *planned;

  const ContextBuilder builder({p.model->upstream_model,
                                p.model->context_window.value_or(options_.default_context_window),
                                accounting_.output_cap(*p.model, std::nullopt)});
  // Retrieval before anything is stored or billed: a base that is not the user's is a 404.
  std::vector<Citation> citations;
  const std::vector<std::string>& kb_ids = in.knowledge_base_ids ? *in.knowledge_base_ids
                                                                 : p.conversation.knowledge_base_ids;
  if (!kb_ids.empty()) {
    if (!retriever_) return make_error(errc::not_found, "knowledge base not found");
    auto found = retriever_->retrieve(in.user_id, kb_ids, p.message);
    if (!found) return found.error();
    citations = std::move(*found);
  }
  ContextInput context_in;
  for (const Citation& c : citations) context_in.passages.push_back({c.title, c.text});
  context_in.system_prompt = p.system_prompt;
  context_in.summary = p.conversation.summary;
  context_in.history = p.history;
  context_in.message = {"user", p.message, p.parts};
  context_in.request_id = in.request_id;
  if (agent_) context_in.tools = agent_->tools_for(in, !kb_ids.empty());
  auto context = builder.build(context_in);
  if (!context) return context.error();

  turn.model = p.model;
  turn.conversation = std::move(p.conversation);
  turn.user_message_id = p.user_message_id;
  turn.request = std::move(context->request);
  turn.request.fair_key = in.user_id;  // the router shares a deployment's slots between users
  turn.context_omitted = context->omitted;
  turn.citations = std::move(citations);
  turn.to_summarize.assign(p.history.begin(), p.history.begin() + context->omitted);
  const int threshold = options_.summarize_after_messages;
  if (turn.to_summarize.empty() && threshold > 0 && static_cast<int>(p.history.size()) > threshold)
    turn.to_summarize.assign(p.history.begin(), p.history.end() - threshold / 2);
  std::erase_if(turn.to_summarize, [](const domain::Message& m) {
    return m.status == domain::MessageStatus::error || m.status == domain::MessageStatus::streaming;
  });
  turn.first_exchange = !in.conversation_id;

  auto grant = accounting_.admit(in.user_id, in.roles, *turn.model, turn.request, streaming, &turn.prompt_tokens);
  if (!grant) return grant.error();
  turn.grant = std::move(*grant);
  turn.input = std::move(in);
  store::TurnStart start = turn_start(turn, p);
  // The question a regenerated answer answers, for its title and the events.
  turn.input.message = std::move(p.message);
  return start;
}

asio::awaitable<Result<TurnResult>> ChatService::finish(PreparedTurn& turn, const CallResult& call) {
  CallRecord what;
  what.kind = "chat";
  what.user_id = turn.input.user_id;
  what.roles = turn.input.roles;
  what.conversation_id = turn.conversation.id;
  what.model = turn.model;
  what.request = &turn.request;
  what.request_id = turn.input.request_id;
  what.grant = &turn.grant;
  what.admitted_at = turn.admitted_at;
  what.placeholder_id = turn.placeholder_id;
  what.append_message = !turn.placeholder_id;  // an agent turn whose next placeholder was not written
  what.context_omitted = turn.context_omitted;
  if (!turn.citations.empty()) what.citations_json = citations_json(turn.citations);
  auto recorded = co_await recorder_.record(what, call);
  if (recorded && call.end == CallEnd::complete) after_turn(turn, co_await asio::this_coro::executor);
  // A call that failed before any text is the turn's error (its error message is stored).
  if (call.end == CallEnd::failed) co_return *call.error;
  if (!recorded) co_return recorded.error();

  TurnResult out;
  out.citations = turn.citations;
  out.conversation_id = turn.conversation.id;
  out.user_message_id = turn.user_message_id;
  out.assistant = std::move(*recorded->message);
  out.usage = recorded->usage;
  out.model = turn.model->name;
  out.finish_reason = finish_reason_of(call);
  if (call.end != CallEnd::stopped) out.interruption = call.error;
  co_return out;
}

asio::awaitable<Result<TurnResult>> ChatService::send(TurnInput input) {
  auto prepared = co_await begin(std::move(input), false);
  if (!prepared) co_return prepared.error();
  CallControl control{accounting_.call_limits()};
  control.since = prepared->admitted_at;  // begin() started as the request arrived
  CallResult call;
  if (agent_) call = co_await agent_->run(*prepared, nullptr, control);
  else call = co_await call_model(*prepared->model, prepared->request, nullptr, control);
  co_return co_await finish(*prepared, call);
}

asio::awaitable<Result<TurnResult>> ChatService::stream(PreparedTurn turn, TurnObserver& observer) {
  if (!turn.placeholder_id) co_return make_error(errc::internal, "internal error", "stream() needs begin(.., true)");
  // Registered for stop requests from any replica while the model call runs.
  auto running = std::make_shared<Running>(co_await asio::this_coro::executor, turn.input.user_id);
  const std::string conversation_id = turn.conversation.id;
  {
    std::lock_guard lock(streams_->mu);
    streams_->by_conversation.emplace(conversation_id, running);
  }
  const StopSignal stop_requested = [running]() -> asio::awaitable<void> {
    if (!running->stopped) co_await running->wake.async_wait(asio::as_tuple(asio::use_awaitable));
  };
  // The answer saved as it grows, one UPDATE at a time on the blocking pool (a newer text
  // replaces one still waiting): a crash loses at most the last interval of it. The stream hands
  // over only what it added, and the saver counts the tokens of new text only (up to the last
  // space, where a BPE count can be cut without changing it; the rest is counted again next
  // time), so neither the I/O thread nor the count grows with the answer at each checkpoint.
  struct Saving {
    std::mutex mu;
    std::string text;    // the answer so far
    bool dirty = false;  // grown since the saver last took it
    bool busy = false;
    // The saver's alone (one task at a time): tokens of text's first counted_bytes.
    std::size_t counted_bytes = 0;
    std::int64_t counted_tokens = 0;
  };
  auto saving = std::make_shared<Saving>();
  Checkpoint checkpoint;
  checkpoint.every = options_.checkpoint_every;
  checkpoint.every_tokens = options_.checkpoint_every_tokens;
  checkpoint.save = [saving, &store = store_, &blocking = blocking_, user = turn.input.user_id,
                     id = *turn.placeholder_id, upstream = turn.request.model, pricing = turn.model->pricing,
                     prompt = turn.prompt_tokens](std::string_view added) {
    {
      std::lock_guard lock(saving->mu);
      saving->text.append(added);
      saving->dirty = true;
      if (saving->busy) return;
      saving->busy = true;
    }
    asio::post(blocking, [=, &store] {
      for (;;) {
        std::string next;
        {
          std::lock_guard lock(saving->mu);
          if (!saving->dirty) {
            saving->busy = false;
            return;
          }
          next = saving->text;
          saving->dirty = false;
        }
        const std::string_view fresh = std::string_view(next).substr(saving->counted_bytes);
        const std::size_t cut = fresh.rfind(' ');
        if (cut != std::string_view::npos && cut > 0) {
          saving->counted_tokens += llm::count_text_tokens(upstream, fresh.substr(0, cut));
          saving->counted_bytes += cut;
        }
        const std::int64_t output =
            saving->counted_tokens + llm::count_text_tokens(upstream, std::string_view(next).substr(saving->counted_bytes));
        const llm::Usage usage{prompt, output, 0, 0, 0, true};
        if (auto r = store.checkpoint_message(user, id, next, usage.input_tokens, usage.output_tokens,
                                              llm::cost_micros(pricing, usage));
            !r)
          spdlog::warn("checkpoint of answer {} failed: {}", id, r.error().detail.empty() ? r.error().message : r.error().detail);
      }
    });
  };
  CallControl control{accounting_.call_limits(), stop_requested, &checkpoint};
  CallResult call;
  if (agent_) call = co_await agent_->run(turn, &observer, control);
  else call = co_await call_model(*turn.model, turn.request, &observer, control);
  {
    std::lock_guard lock(streams_->mu);
    auto [from, to] = streams_->by_conversation.equal_range(conversation_id);
    for (auto it = from; it != to; ++it)
      if (it->second == running) {
        streams_->by_conversation.erase(it);
        break;
      }
  }
  co_return co_await finish(turn, call);
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
  req.fair_key = user_id;
  req.max_tokens = static_cast<int>(accounting_.output_cap(model, 512));
  req.messages = {{"system", std::move(instruction)}, {"user", std::move(input)}};
  const CallResult call = co_await call_model(model, req, nullptr, CallControl{accounting_.call_limits()});
  CallRecord what;
  what.kind = std::move(kind);
  what.user_id = user_id;
  what.conversation_id = conversation_id;
  what.model = &model;
  what.request = &req;
  what.request_id = std::move(request_id);
  if (auto recorded = co_await recorder_.record(what, call); !recorded)
    spdlog::warn("{} call of conversation {}: usage not recorded: {}", what.kind, conversation_id,
                 recorded.error().message);
  if (call.end != CallEnd::complete) co_return *call.error;
  co_return call.text;
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
    domain::ConversationPatch patch;
    patch.title = t;
    patch.title_auto = true;
    if (auto r = store_.update_conversation(user_id, conversation_id, patch); !r) return r.error();
    return {};
  });
}

asio::awaitable<Result<std::string>> ChatService::write_summary(std::string user_id,
                                                                std::string conversation_id,
                                                                std::optional<std::string> previous,
                                                                std::vector<domain::Message> turns,
                                                                std::string request_id) {
  if (turns.empty()) co_return make_error(errc::invalid_request, "nothing to summarize");
  std::string input;
  if (previous) input += "Summary so far:\n" + *previous + "\n\nNew turns:\n";
  for (const domain::Message& m : turns) input += std::string(domain::to_string(m.role)) + ": " + m.content + "\n";
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

asio::awaitable<Result<domain::Conversation>> ChatService::summarize(std::string user_id,
                                                                    std::string conversation_id,
                                                                    int keep) {
  if (!is_uuid(conversation_id)) co_return make_error(errc::not_found, "conversation not found");
  struct Pending {
    domain::Conversation conversation;
    std::vector<domain::Message> turns;
  };
  auto pending = co_await offload(blocking_, [&]() -> Result<Pending> {
    auto conv = store_.get_conversation(user_id, conversation_id);
    if (!conv) return conv.error();
    auto recent = store_.recent_messages(user_id, conversation_id, 1000);
    if (!recent) return recent.error();
    std::vector<domain::Message> turns;
    for (domain::Message& m : *recent) {
      if (conv->summary_through && m.id <= *conv->summary_through) continue;
      if (m.status == domain::MessageStatus::error || m.status == domain::MessageStatus::streaming) continue;
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
