#pragma once
// The bounded agent loop: model -> tool calls (a step's calls run concurrently, at most
// max_parallel_tools at a time) -> results -> model, until the model answers or the step limit.
// Every model call is admitted by the user's limits and billed as its own ledger row; every step
// that called tools is stored as an assistant message with its calls, followed by one `tool`
// message per result, so history and export show what happened. A tool that fails, hangs,
// answers junk or is refused is a tool error the model sees — never a failed turn.
#include "agent/approvals.hpp"
#include "agent/settings.hpp"
#include "agent/toolbox.hpp"
#include "chat/chat_service.hpp"
#include "chat/turn_agent.hpp"

namespace aas::agent {

class AgentLoop final : public chat::TurnAgent {
 public:
  AgentLoop(store::Store& store, boost::asio::thread_pool& blocking, chat::Accounting& accounting,
            chat::Recorder& recorder, const Toolbox& tools, Approvals& approvals, AgentSettings settings);

  std::vector<llm::ToolDefinition> tools_for(const chat::TurnInput& in, bool has_knowledge) const override;
  boost::asio::awaitable<chat::CallResult> run(chat::PreparedTurn& turn, chat::TurnObserver* observer,
                                               const chat::CallControl& control) override;

  // One tool call as the model gets its result: arguments checked against the schema, approval
  // when the tool needs it, the call bounded by tool_timeout, its result capped. Exposed for tests.
  // An approval wait ends early when `stop` completes (a stop request): the call is not made, and
  // `halted` is set to stopped (the turn ends).
  boost::asio::awaitable<ToolOutput> run_tool(const llm::ToolCall& call, const ToolContext& ctx,
                                              const std::string& upstream_model, chat::TurnObserver* observer,
                                              const chat::StopSignal& stop = {},
                                              std::optional<chat::CallEnd>* halted = nullptr);

 private:
  // run_tool, its result told to the observer, into `out` (the references outlive the call).
  boost::asio::awaitable<void> run_and_tell(const llm::ToolCall& call, const ToolContext& ctx,
                                            const std::string& upstream_model, chat::TurnObserver* observer,
                                            const chat::StopSignal& stop, std::optional<chat::CallEnd>& halted,
                                            ToolOutput& out);
  // What a step is recorded as: the turn's current call, over its placeholder.
  static chat::CallRecord step_record(chat::PreparedTurn& turn);
  // Whether one of the step's calls waits for the user's approval.
  bool asks_approval(const chat::CallResult& call, const std::vector<std::string>& roles) const;
  // The step's answer (with its calls) recorded over the placeholder, its ledger row written.
  boost::asio::awaitable<Result<void>> record_step(chat::PreparedTurn& turn, const chat::CallResult& call);
  // The step recorded (unless `step_recorded`) with its results, the request extended, the next
  // call's placeholder written and the call admitted; `ending`: the results only (the turn ends).
  enum class Next { admitted, step_not_recorded, ended };
  boost::asio::awaitable<Result<Next>> next_step(chat::PreparedTurn& turn, const chat::CallResult& call,
                                                 const std::vector<ToolOutput>& outputs, bool streaming,
                                                 bool step_recorded, bool ending);

  store::Store& store_;
  boost::asio::thread_pool& blocking_;
  chat::Accounting& accounting_;
  chat::Recorder& recorder_;
  const Toolbox& tools_;
  Approvals& approvals_;
  AgentSettings settings_;
};

// The prompt's count once `added` (a step and its results) follows a request counted at
// `prompt_tokens` (llm::count_request_tokens): only the added messages are tokenized, so a step
// does not count the system prompt, the history and the tool schemas again. Exposed for tests.
std::int64_t next_prompt_tokens(std::int64_t prompt_tokens, std::string_view upstream_model,
                                const std::vector<llm::ChatMessage>& added);

// A tool's output cut to `max_tokens` (counted as the model counts), with a marker saying so.
std::string cap_result(std::string_view text, std::string_view upstream_model, std::int64_t max_tokens);

}  // namespace aas::agent
