#include "agent/agent_loop.hpp"

#include "agent/knowledge_tool.hpp"
#include "chat/placeholder.hpp"
#include "core/offload.hpp"
#include "llm/token_estimate.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace aas::agent {

namespace asio = boost::asio;
namespace json = boost::json;

std::string cap_result(std::string_view text, std::string_view upstream_model, std::int64_t max_tokens) {
  if (llm::count_text_tokens(upstream_model, text) <= max_tokens) return std::string(text);
  std::string out(llm::text_prefix_tokens(upstream_model, text, max_tokens));
  return out + "\n[truncated: the result was longer than " + std::to_string(max_tokens) + " tokens]";
}

std::int64_t next_prompt_tokens(std::int64_t prompt_tokens, std::string_view upstream_model,
                                const std::vector<llm::ChatMessage>& added) {
  // A request's count is its messages' counts, its tools' and the reply's priming (3 tokens),
  // summed: the messages added are counted alone, less the priming already in prompt_tokens.
  return prompt_tokens + llm::count_prompt_tokens(upstream_model, added) - 3;
}

namespace {

// A stop signal that never completes: raced where a turn has no stop control.
asio::awaitable<void> never() {
  asio::steady_timer forever(co_await asio::this_coro::executor, asio::steady_timer::time_point::max());
  co_await forever.async_wait(asio::as_tuple(asio::use_awaitable));
}

// What the model (and the conversation) is told of a call the turn ended before making.
ToolOutput not_made() { return {"the turn was stopped before this call was approved: it was not made", true}; }

// The turn's observer after a step that waited for approval: the client may have left meanwhile
// (a reload) and decided from elsewhere, so its leaving no longer ends the turn. Events still go
// to it while it is there; the answer is stored and announced (ai-message) as any.
class Persistent final : public chat::TurnObserver {
 public:
  explicit Persistent(chat::TurnObserver& client) : client_(client) {}
  bool delta(std::string_view text) override {
    if (!client_.left()) client_.delta(text);
    return true;
  }
  bool delta_logprobs(std::string_view text, const std::vector<llm::TokenLogprob>& logprobs) override {
    if (!client_.left()) client_.delta_logprobs(text, logprobs);
    return true;
  }
  bool tool_call(const llm::ToolCallDelta& d) override {
    if (!client_.left()) client_.tool_call(d);
    return true;
  }
  void tool_event(const chat::ToolEvent& e) override { client_.tool_event(e); }
  void next_answer(const std::string& message_id) override { client_.next_answer(message_id); }
  void citations(const std::vector<chat::Citation>& all) override { client_.citations(all); }
  bool left() const override { return client_.left(); }

 private:
  chat::TurnObserver& client_;
};

}  // namespace

AgentLoop::AgentLoop(store::Store& store, asio::thread_pool& blocking, chat::Accounting& accounting,
                     chat::Recorder& recorder, const Toolbox& tools, Approvals& approvals, AgentSettings settings)
    : store_(store),
      blocking_(blocking),
      accounting_(accounting),
      recorder_(recorder),
      tools_(tools),
      approvals_(approvals),
      settings_(std::move(settings)) {}

std::vector<llm::ToolDefinition> AgentLoop::tools_for(const chat::TurnInput& in, bool has_knowledge) const {
  auto out = tools_.definitions_for(in.roles);
  // knowledge_search only where there is something to search.
  if (!has_knowledge)
    std::erase_if(out, [](const llm::ToolDefinition& d) { return d.name == KnowledgeSearchTool::kName; });
  return out;
}

asio::awaitable<ToolOutput> AgentLoop::run_tool(const llm::ToolCall& call, const ToolContext& ctx,
                                                const std::string& upstream_model, chat::TurnObserver* observer,
                                                const chat::StopSignal& stop, std::optional<chat::CallEnd>* halted) {
  using namespace asio::experimental::awaitable_operators;
  const auto entry = tools_.find(call.name, ctx.roles);
  if (!entry) co_return ToolOutput{"unknown tool: " + call.name, true};
  // Arguments that are not JSON or fail the schema never reach the tool.
  boost::system::error_code ec;
  json::value args = json::parse(call.arguments.empty() ? std::string_view("{}") : std::string_view(call.arguments), ec);
  if (ec || !args.is_object()) co_return ToolOutput{"invalid arguments: not a JSON object", true};
  if (auto problem = entry->schema.problem(args)) co_return ToolOutput{"invalid arguments: " + *problem, true};

  if (entry->tool->needs_confirmation()) {
    // Without a client to ask (a non-streamed regenerate, say), no approval can come: the call is
    // not made rather than holding the request until the confirmation expires.
    if (!observer) co_return ToolOutput{"this call needs the user's approval, which cannot be asked here: it was not made", true};
    auto waiter = approvals_.expect(co_await asio::this_coro::executor, ctx.user_id, call.id);
    if (observer) {
      chat::ToolEvent ask{chat::ToolEvent::Kind::confirmation, call.id, call.name, call.arguments};
      ask.expires_at = std::chrono::system_clock::now() +
                       std::chrono::duration_cast<std::chrono::system_clock::duration>(settings_.confirm_timeout);
      observer->tool_event(ask);
    }
    // A stop request ends the wait at once (the turn must not hold its stream until the
    // confirmation expires). A client that leaves does not: the user may come back (a reload)
    // and decide from the stored conversation; the turn then goes on without the client (run()).
    auto deciding = approvals_.wait(std::move(waiter), settings_.confirm_timeout);
    auto stopping = stop ? stop() : never();
    auto raced = co_await (std::move(deciding) || std::move(stopping));
    if (raced.index() == 1) {
      if (halted) *halted = chat::CallEnd::stopped;
      co_return not_made();
    }
    const Decision decision = std::get<0>(raced);
    if (decision == Decision::rejected) co_return ToolOutput{"the user rejected this call: it was not made", true};
    if (decision == Decision::expired)
      co_return ToolOutput{"the user did not approve this call in time: it was not made", true};
  }

  asio::steady_timer deadline(co_await asio::this_coro::executor, settings_.tool_timeout);
  auto raced = co_await (entry->tool->call(args.get_object(), ctx) ||
                         deadline.async_wait(asio::as_tuple(asio::use_awaitable)));
  if (raced.index() == 1)
    co_return ToolOutput{"the tool did not answer within " + std::to_string(settings_.tool_timeout.count()) + " ms", true};
  ToolOutput out = std::get<0>(std::move(raced));
  out.text = cap_result(out.text, upstream_model, settings_.tool_result_max_tokens);
  co_return out;
}

asio::awaitable<void> AgentLoop::run_and_tell(const llm::ToolCall& call, const ToolContext& ctx,
                                              const std::string& upstream_model, chat::TurnObserver* observer,
                                              const chat::StopSignal& stop, std::optional<chat::CallEnd>& halted,
                                              ToolOutput& out) {
  // A call of a step the user stopped (while another of its calls waited for approval) is not made.
  if (halted) out = not_made();
  else out = co_await run_tool(call, ctx, upstream_model, observer, stop, &halted);
  if (observer) observer->tool_event({chat::ToolEvent::Kind::result, call.id, call.name, {}, out.text, out.error});
}

chat::CallRecord AgentLoop::step_record(chat::PreparedTurn& turn) {
  chat::CallRecord what;
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
  what.context_omitted = turn.context_omitted;
  return what;
}

bool AgentLoop::asks_approval(const chat::CallResult& call, const std::vector<std::string>& roles) const {
  return std::any_of(call.tool_calls.begin(), call.tool_calls.end(), [&](const llm::ToolCall& c) {
    const auto entry = tools_.find(c.name, roles);
    return entry && entry->tool->needs_confirmation();
  });
}

asio::awaitable<Result<void>> AgentLoop::record_step(chat::PreparedTurn& turn, const chat::CallResult& call) {
  const chat::CallRecord what = step_record(turn);
  auto recorded = co_await recorder_.record(what, call);
  if (!recorded) co_return recorded.error();
  co_return Result<void>{};
}

asio::awaitable<Result<AgentLoop::Next>> AgentLoop::next_step(chat::PreparedTurn& turn, const chat::CallResult& call,
                                                              const std::vector<ToolOutput>& outputs, bool streaming,
                                                              bool step_recorded, bool ending) {
  std::vector<llm::ChatMessage> added;  // the step and its results, as the next call sees them
  llm::ChatMessage step{"assistant", call.text};
  step.tool_calls = call.tool_calls;
  added.push_back(std::move(step));
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    llm::ChatMessage result{"tool", outputs[i].error ? "Error: " + outputs[i].text : outputs[i].text};
    result.tool_call_id = call.tool_calls[i].id;
    added.push_back(std::move(result));
  }
  const auto admitted_at = std::chrono::steady_clock::now();
  // ONE trip to the blocking pool and ONE transaction per step (a step that asked for approval was
  // stored before its wait, so only its results go here): the step over its placeholder with its
  // ledger row, its tool results, and the next answer's placeholder; then the step's grant is
  // settled and the next call admitted (after, so a user's one stream slot passes from the one to
  // the other). The results are kept either way; a refused next call still gets its (error)
  // answer row.
  co_return co_await offload(blocking_, [&]() -> Result<Next> {
    std::vector<domain::NewMessage> writes;
    for (std::size_t i = 0; i < outputs.size(); ++i) {
      domain::NewMessage m;
      m.conversation_id = turn.conversation.id;
      m.role = domain::Role::tool;
      m.content = added[i + 1].content;
      m.tool_call_id = call.tool_calls[i].id;
      m.metadata = std::string("{\"tool\":") + json::serialize(json::string(call.tool_calls[i].name)) +
                   ",\"isError\":" + (outputs[i].error ? "true" : "false") + "}";
      writes.push_back(std::move(m));
    }
    // The next prompt is counted with the step and its results; the step itself is recorded (its
    // usage estimated, when the provider gave none, from the prompt it answered) before they are
    // added to the request.
    auto& messages = turn.request.messages;
    const std::size_t answered = messages.size();
    messages.insert(messages.end(), added.begin(), added.end());
    const std::int64_t prompt_tokens = ending ? 0 : next_prompt_tokens(turn.prompt_tokens, turn.request.model, added);
    if (!ending) writes.push_back(chat::answer_placeholder(turn.conversation.id, *turn.model, prompt_tokens));
    Result<std::vector<domain::Message>> stored = make_error(errc::internal, "internal error");
    if (step_recorded) {
      stored = store_.append_messages(turn.input.user_id, writes);
    } else {
      messages.resize(answered);
      auto recorded = recorder_.record_now(step_record(turn), call, writes);
      messages.insert(messages.end(), std::make_move_iterator(added.begin()), std::make_move_iterator(added.end()));
      if (!recorded) return Next::step_not_recorded;  // nothing of the step was written
      stored = std::move(recorded->following);
    }
    turn.grant = limits::Grant{};  // the step's, settled when it was recorded
    if (!stored || ending) {
      turn.placeholder_id.reset();  // the answer is then appended, not written over this step
      if (!stored) return stored.error();
      return Next::ended;
    }
    turn.placeholder_id = stored->back().id;
    turn.prompt_tokens = prompt_tokens;
    turn.admitted_at = admitted_at;
    auto grant = accounting_.admit_counted(turn.input.user_id, turn.input.roles, *turn.model, turn.request, streaming,
                                           prompt_tokens);
    if (!grant) return grant.error();
    turn.grant = std::move(*grant);
    return Next::admitted;
  });
}

asio::awaitable<chat::CallResult> AgentLoop::run(chat::PreparedTurn& turn, chat::TurnObserver* observer,
                                                 const chat::CallControl& control) {
  if (turn.request.tools.empty()) co_return co_await chat::call_model(*turn.model, turn.request, observer, control);
  // Only the first answer is checkpointed: the saver writes to the first placeholder.
  chat::CallControl later = control;
  later.checkpoint = nullptr;
  TurnCitations citations(turn.citations);
  ToolContext ctx{turn.input.user_id, turn.input.roles, turn.input.bearer_token, turn.conversation.id,
                  turn.input.request_id};
  ctx.knowledge_base_ids = turn.input.knowledge_base_ids ? *turn.input.knowledge_base_ids
                                                         : turn.conversation.knowledge_base_ids;
  ctx.citations = &citations;
  const auto executor = co_await asio::this_coro::executor;
  std::optional<Persistent> persistent;
  for (int step = 1;; ++step) {
    // The last allowed call must answer in words: its tools are withheld.
    const bool last = step >= settings_.max_steps;
    if (last) turn.request.tool_choice = "none";
    const chat::CallControl& this_call = step == 1 ? control : later;
    chat::CallResult call = co_await chat::call_model(*turn.model, turn.request, observer, this_call);
    if (last) {
      call.tool_calls.clear();
      if (call.end == chat::CallEnd::complete) call.finish_reason = "max_steps";
      co_return call;
    }
    if (call.end != chat::CallEnd::complete || call.tool_calls.empty()) co_return call;

    // A step with a call that waits for the user's approval is stored first: the approval routes
    // find the call in the conversation. Any other step is stored after its tools ran, with their
    // results, in one transaction (next_step).
    const bool recorded_first = observer && asks_approval(call, turn.input.roles);
    if (recorded_first) {
      if (auto recorded = co_await record_step(turn, call); !recorded) {
        spdlog::warn("agent step of conversation {} not recorded: {}", turn.conversation.id, recorded.error().message);
        call.tool_calls.clear();
        co_return call;
      }
    }
    if (observer)
      for (const llm::ToolCall& c : call.tool_calls)
        observer->tool_event({chat::ToolEvent::Kind::call, c.id, c.name, c.arguments});

    // The step's calls, concurrently, a bounded number at a time; each result told as it comes.
    std::vector<ToolOutput> outputs(call.tool_calls.size());
    std::optional<chat::CallEnd> halted;  // stopped or left during an approval wait
    const std::size_t cited_before = citations.size();
    const std::size_t batch = static_cast<std::size_t>(std::max(1, settings_.max_parallel_tools));
    for (std::size_t from = 0; from < call.tool_calls.size(); from += batch) {
      using Op = decltype(asio::co_spawn(executor, std::declval<asio::awaitable<void>>(), asio::deferred));
      std::vector<Op> ops;
      for (std::size_t i = from; i < std::min(call.tool_calls.size(), from + batch); ++i)
        ops.push_back(asio::co_spawn(executor,
                                     run_and_tell(call.tool_calls[i], ctx, turn.request.model, observer, this_call.stop,
                                                  halted, outputs[i]),
                                     asio::deferred));
      co_await asio::experimental::make_parallel_group(std::move(ops))
          .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
    }
    if (observer && citations.size() != cited_before) observer->citations(turn.citations);

    auto next = co_await next_step(turn, call, outputs, observer != nullptr, recorded_first, halted.has_value());
    if (!next) {
      chat::CallResult refused;
      refused.end = chat::CallEnd::failed;
      refused.error = next.error();
      co_return refused;
    }
    if (*next == Next::step_not_recorded) {
      // As when a step cannot be stored before its tools: the step's own answer ends the turn,
      // written over its placeholder (billed), its calls dropped.
      spdlog::warn("agent step of conversation {} not recorded", turn.conversation.id);
      call.tool_calls.clear();
      co_return call;
    }
    if (*next == Next::ended) {
      // The turn ends here, as a stream stopped before its first word: an empty answer, appended
      // after the results, with nothing to bill (no model call was made for it).
      chat::CallResult ended;
      ended.end = *halted;
      ended.called = false;
      co_return ended;
    }
    // A call waited for approval: the client may have left meanwhile (a reload, say) and the user
    // decided from elsewhere, so from here its leaving no longer cancels the turn.
    if (recorded_first && !persistent) {
      persistent.emplace(*observer);
      observer = &*persistent;
    }
    if (observer && turn.placeholder_id) observer->next_answer(*turn.placeholder_id);
  }
}

}  // namespace aas::agent
