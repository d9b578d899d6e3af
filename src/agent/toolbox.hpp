#pragma once
// The tools of this service: the configured HTTP tools and the built-ins, each with its compiled
// argument schema. Built once at start and read-only after, so it is shared without locks.
#include "agent/schema.hpp"
#include "agent/tool.hpp"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace aas::agent {

class Toolbox {
 public:
  // invalid_request naming the tool when its schema is outside the supported subset.
  Result<void> add(std::unique_ptr<Tool> tool);

  // The definitions offered to a user with these roles, in the order added.
  std::vector<llm::ToolDefinition> definitions_for(const std::vector<std::string>& roles) const;

  struct Entry {
    std::unique_ptr<Tool> tool;
    ArgumentSchema schema;
  };
  // The tool a call names, when this user may call it; null otherwise.
  const Entry* find(std::string_view name, const std::vector<std::string>& roles) const;
  bool empty() const { return entries_.empty(); }

 private:
  std::vector<Entry> entries_;
};

}  // namespace aas::agent
