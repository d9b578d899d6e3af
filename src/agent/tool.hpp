#pragma once
// A tool the model may call. HTTP tools into the monolith (http_tool.hpp), built-ins
// (builtin_tools.hpp) and — as their seam — MCP servers' tools and knowledge_search implement it.
#include "llm/provider.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <string>
#include <vector>

namespace aas::agent {

// Who the call is made for. The token is the user's own (what the monolith checks); it is never
// logged, stored or shown to the model.
struct ToolContext {
  std::string user_id;
  std::vector<std::string> roles;
  std::string bearer_token;
  std::string conversation_id;
  std::string request_id;
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
