#pragma once
// The tools of this service: the configured HTTP tools, the built-ins and the MCP servers' tools,
// each with its compiled argument schema. The tools of an MCP server form a group that is
// replaced whole when the server is listed again (mcp_refresh.hpp); a turn that found a tool keeps
// it alive until its call is over, even if the group is replaced meanwhile.
#include "agent/schema.hpp"
#include "agent/tool.hpp"

#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

namespace aas::agent {

class Toolbox {
 public:
  // invalid_request naming the tool when its schema is outside the supported subset or its name
  // is taken. `group`: the MCP server it comes from ("" for the others).
  Result<void> add(std::unique_ptr<Tool> tool, std::string group = {});

  // The group's tools replaced by `tools` (in place, so the order offered to the model stays);
  // one that cannot be added (its name taken by another group, say) is skipped, named in the
  // returned warnings.
  std::vector<std::string> replace_group(const std::string& group, std::vector<std::unique_ptr<Tool>> tools);

  // The definitions offered to a user with these roles, in the order added.
  std::vector<llm::ToolDefinition> definitions_for(const std::vector<std::string>& roles) const;

  struct Entry {
    std::unique_ptr<Tool> tool;
    ArgumentSchema schema;
    std::string group;
  };
  // The tool a call names, when this user may call it; null otherwise.
  std::shared_ptr<const Entry> find(std::string_view name, const std::vector<std::string>& roles) const;
  bool empty() const;

 private:
  Result<std::shared_ptr<const Entry>> make_entry(std::unique_ptr<Tool> tool, std::string group) const;

  mutable std::shared_mutex mu_;
  std::vector<std::shared_ptr<const Entry>> entries_;
};

}  // namespace aas::agent
