#pragma once
// Tools the service answers itself. knowledge_search (issue 15, once the knowledge bases' search
// service lands) belongs here: a Tool whose call() searches the bases attached to the
// conversation (ToolContext::conversation_id) and returns the passages with their sources.
#include "agent/tool.hpp"
#include "core/clock.hpp"

namespace aas::agent {

// current_time: the date and time now. In UTC: the service knows no user's time zone yet (tokens
// carry none); the answer says which zone it is in, so the model does not assume another.
class CurrentTimeTool final : public Tool {
 public:
  explicit CurrentTimeTool(const Clock& clock);
  const llm::ToolDefinition& definition() const override { return definition_; }
  boost::asio::awaitable<ToolOutput> call(const boost::json::object& args, const ToolContext& ctx) override;

 private:
  const Clock& clock_;
  llm::ToolDefinition definition_;
};

}  // namespace aas::agent
