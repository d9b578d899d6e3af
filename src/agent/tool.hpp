#pragma once
// A tool the model may call. HTTP tools into the monolith (http_tool.hpp), built-ins
// (builtin_tools.hpp, knowledge_tool.hpp) and MCP servers' tools (mcp_tool.hpp) implement it.
#include "chat/retriever.hpp"
#include "llm/provider.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <mutex>
#include <string>
#include <vector>

namespace aas::agent {

// The passages a turn's answer cites: those the chat retrieved before the first call, then those
// its tools found, numbered in that order. A passage found again keeps its number. Tools of one
// step may run at once, hence the lock.
class TurnCitations {
 public:
  explicit TurnCitations(std::vector<chat::Citation>& list) : list_(list) {}
  // The [n] the model cites `c` by (c.index is set to it).
  int number(chat::Citation c);
  std::size_t size() const;

 private:
  mutable std::mutex mu_;
  std::vector<chat::Citation>& list_;
};

// Who the call is made for. The token is the user's own (what the monolith checks); it is never
// logged, stored or shown to the model.
struct ToolContext {
  std::string user_id;
  std::vector<std::string> roles;
  std::string bearer_token;
  std::string conversation_id;
  std::string request_id;
  // The knowledge bases the turn answers from (the turn's knowledgeBaseIds, else the
  // conversation's), for knowledge_search; what it finds is numbered in `citations`.
  std::vector<std::string> knowledge_base_ids;
  TurnCitations* citations = nullptr;
};

// What the model is given back. `error`: the call failed (the model is told it did, with why).
struct ToolOutput {
  std::string text;
  bool error = false;
};

class Tool {
 public:
  virtual ~Tool() = default;
  virtual const llm::ToolDefinition& definition() const = 0;
  // The user approves each call before it runs (tool_confirmation).
  virtual bool needs_confirmation() const { return false; }
  // Whether a user with these roles may have it called (it is offered to the model only then).
  virtual bool allowed_for(const std::vector<std::string>& roles) const {
    (void)roles;
    return true;
  }
  // `args` satisfies the definition's schema (checked by the loop before). Failures are outputs
  // with `error` set, never exceptions; the loop bounds the call's time by cancelling it.
  virtual boost::asio::awaitable<ToolOutput> call(const boost::json::object& args, const ToolContext& ctx) = 0;
};

}  // namespace aas::agent
