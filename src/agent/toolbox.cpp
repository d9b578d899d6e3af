#include "agent/toolbox.hpp"

#include <algorithm>

namespace aas::agent {

Result<void> Toolbox::add(std::unique_ptr<Tool> tool) {
  auto schema = ArgumentSchema::compile(tool->definition().parameters);
  if (!schema) return make_error(errc::invalid_request, "tools[" + tool->definition().name + "].parameters: " + schema.error().message);
  if (std::any_of(entries_.begin(), entries_.end(), [&](const Entry& e) {
        return e.tool->definition().name == tool->definition().name;
      }))
    return make_error(errc::invalid_request, "tools[" + tool->definition().name + "].name: declared twice");
  entries_.push_back(Entry{std::move(tool), std::move(*schema)});
  return {};
}

std::vector<llm::ToolDefinition> Toolbox::definitions_for(const std::vector<std::string>& roles) const {
  std::vector<llm::ToolDefinition> out;
  for (const Entry& e : entries_)
    if (e.tool->allowed_for(roles)) out.push_back(e.tool->definition());
  return out;
}

const Toolbox::Entry* Toolbox::find(std::string_view name, const std::vector<std::string>& roles) const {
  for (const Entry& e : entries_)
    if (e.tool->definition().name == name) return e.tool->allowed_for(roles) ? &e : nullptr;
  return nullptr;
}

int TurnCitations::number(chat::Citation c) {
  std::lock_guard lock(mu_);
  for (const chat::Citation& known : list_)
    if (known.chunk_id == c.chunk_id && known.document_id == c.document_id) return known.index;
  c.index = static_cast<int>(list_.size()) + 1;
  list_.push_back(std::move(c));
  return list_.back().index;
}

std::size_t TurnCitations::size() const {
  std::lock_guard lock(mu_);
  return list_.size();
}

}  // namespace aas::agent
