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
                                                const std::string& upstream_model, chat::TurnObserver* observer) {
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
    const Decision decision = co_await approvals_.wait(std::move(waiter), settings_.confirm_timeout);
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
                                              ToolOutput& out) {
  out = co_await run_tool(call, ctx, upstream_model, observer);
  if (observer) observer->tool_event({chat::ToolEvent::Kind::result, call.id, call.name, {}, out.text, out.error});
}

asio::awaitable<Result<void>> AgentLoop::record_step(chat::PreparedTurn& turn, const chat::CallResult& call) {
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
  auto recorded = co_await recorder_.record(what, call);
  if (!recorded) co_return recorded.error();
  co_return Result<void>{};
}

asio::awaitable<Result<void>> AgentLoop::next_step(chat::PreparedTurn& turn, const chat::CallResult& call,
                                                   const std::vector<ToolOutput>& outputs, bool streaming) {
  llm::ChatMessage step{"assistant", call.text};
  step.tool_calls = call.tool_calls;
  turn.request.messages.push_back(std::move(step));
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    llm::ChatMessage result{"tool", outputs[i].error ? "Error: " + outputs[i].text : outputs[i].text};
    result.tool_call_id = call.tool_calls[i].id;
    turn.request.messages.push_back(std::move(result));
  }
  turn.admitted_at = std::chrono::steady_clock::now();
  co_return co_await offload(blocking_, [&]() -> Result<void> {
    turn.grant = limits::Grant{};
    std::int64_t prompt_tokens = 0;
    auto grant = accounting_.admit(turn.input.user_id, turn.input.roles, *turn.model, turn.request, streaming,
                                   &prompt_tokens);
    // The results are kept either way; a refused next call still gets its (error) answer row.
    std::vector<domain::NewMessage> writes;
    for (std::size_t i = 0; i < outputs.size(); ++i) {
      domain::NewMessage m;
      m.conversation_id = turn.conversation.id;
      m.role = domain::Role::tool;
      m.content = turn.request.messages[turn.request.messages.size() - outputs.size() + i].content;
      m.tool_call_id = call.tool_calls[i].id;
      m.metadata = std::string("{\"tool\":") + json::serialize(json::string(call.tool_calls[i].name)) +
                   ",\"isError\":" + (outputs[i].error ? "true" : "false") + "}";
      writes.push_back(std::move(m));
    }
    writes.push_back(chat::answer_placeholder(turn.conversation.id, *turn.model, prompt_tokens));
    auto stored = store_.append_messages(turn.input.user_id, writes);
    if (!stored) {
      turn.placeholder_id.reset();  // the answer is then appended, not written over this step
      return stored.error();
    }
    turn.placeholder_id = stored->back().id;
    turn.prompt_tokens = prompt_tokens;
    if (!grant) return grant.error();
    turn.grant = std::move(*grant);
    return {};
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

    if (auto recorded = co_await record_step(turn, call); !recorded) {
      spdlog::warn("agent step of conversation {} not recorded: {}", turn.conversation.id, recorded.error().message);
      call.tool_calls.clear();
      co_return call;
    }
    if (observer)
      for (const llm::ToolCall& c : call.tool_calls)
        observer->tool_event({chat::ToolEvent::Kind::call, c.id, c.name, c.arguments});

    // The step's calls, concurrently, a bounded number at a time; each result told as it comes.
    std::vector<ToolOutput> outputs(call.tool_calls.size());
    const std::size_t cited_before = citations.size();
    const std::size_t batch = static_cast<std::size_t>(std::max(1, settings_.max_parallel_tools));
    for (std::size_t from = 0; from < call.tool_calls.size(); from += batch) {
      using Op = decltype(asio::co_spawn(executor, std::declval<asio::awaitable<void>>(), asio::deferred));
      std::vector<Op> ops;
      for (std::size_t i = from; i < std::min(call.tool_calls.size(), from + batch); ++i)
        ops.push_back(asio::co_spawn(executor, run_and_tell(call.tool_calls[i], ctx, turn.request.model, observer, outputs[i]),
                                     asio::deferred));
      co_await asio::experimental::make_parallel_group(std::move(ops))
          .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
    }
    if (observer && citations.size() != cited_before) observer->citations(turn.citations);

    if (auto next = co_await next_step(turn, call, outputs, observer != nullptr); !next) {
      chat::CallResult refused;
      refused.end = chat::CallEnd::failed;
      refused.error = next.error();
      co_return refused;
    }
    if (observer && turn.placeholder_id) observer->next_answer(*turn.placeholder_id);
  }
}

}  // namespace aas::agent
