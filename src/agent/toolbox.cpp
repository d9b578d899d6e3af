#include "agent/toolbox.hpp"

#include <algorithm>
#include <mutex>

namespace aas::agent {

Result<std::shared_ptr<const Toolbox::Entry>> Toolbox::make_entry(std::unique_ptr<Tool> tool, std::string group) const {
  auto schema = ArgumentSchema::compile(tool->definition().parameters);
  if (!schema) return make_error(errc::invalid_request, "tools[" + tool->definition().name + "].parameters: " + schema.error().message);
  if (std::any_of(entries_.begin(), entries_.end(), [&](const std::shared_ptr<const Entry>& e) {
        return e->group != group && e->tool->definition().name == tool->definition().name;
      }))
    return make_error(errc::invalid_request, "tools[" + tool->definition().name + "].name: declared twice");
  return std::make_shared<const Entry>(Entry{std::move(tool), std::move(*schema), std::move(group)});
}

Result<void> Toolbox::add(std::unique_ptr<Tool> tool, std::string group) {
  std::unique_lock lock(mu_);
  const std::string name = tool->definition().name;
  auto entry = make_entry(std::move(tool), std::move(group));
  if (!entry) return entry.error();
  // Within a group too, a name is declared once.
  if (std::any_of(entries_.begin(), entries_.end(), [&](const auto& e) { return e->tool->definition().name == name; }))
    return make_error(errc::invalid_request, "tools[" + name + "].name: declared twice");
  entries_.push_back(std::move(*entry));
  return {};
}

std::vector<std::string> Toolbox::replace_group(const std::string& group, std::vector<std::unique_ptr<Tool>> tools) {
  std::vector<std::string> warnings;
  std::unique_lock lock(mu_);
  auto at = std::find_if(entries_.begin(), entries_.end(), [&](const auto& e) { return e->group == group; });
  std::size_t pos = static_cast<std::size_t>(at - entries_.begin());
  std::erase_if(entries_, [&](const auto& e) { return e->group == group; });
  std::vector<std::shared_ptr<const Entry>> fresh;
  for (auto& tool : tools) {
    const std::string name = tool->definition().name;
    auto entry = make_entry(std::move(tool), group);
    if (!entry) {
      warnings.push_back(entry.error().message);
      continue;
    }
    if (std::any_of(fresh.begin(), fresh.end(), [&](const auto& e) { return e->tool->definition().name == name; })) continue;
    fresh.push_back(std::move(*entry));
  }
  pos = std::min(pos, entries_.size());
  entries_.insert(entries_.begin() + static_cast<std::ptrdiff_t>(pos), fresh.begin(), fresh.end());
  return warnings;
}

std::vector<llm::ToolDefinition> Toolbox::definitions_for(const std::vector<std::string>& roles) const {
  std::shared_lock lock(mu_);
  std::vector<llm::ToolDefinition> out;
  for (const auto& e : entries_)
    if (e->tool->allowed_for(roles)) out.push_back(e->tool->definition());
  return out;
}

std::shared_ptr<const Toolbox::Entry> Toolbox::find(std::string_view name, const std::vector<std::string>& roles) const {
  std::shared_lock lock(mu_);
  for (const auto& e : entries_)
    if (e->tool->definition().name == name) return e->tool->allowed_for(roles) ? e : nullptr;
  return nullptr;
}

bool Toolbox::empty() const {
  std::shared_lock lock(mu_);
  return entries_.empty();
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
