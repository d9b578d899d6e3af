#include "agent/toolbox.hpp"

#include <gtest/gtest.h>

namespace aas::agent {
namespace {

class NamedTool final : public Tool {
 public:
  explicit NamedTool(std::string name, std::string description = {}) {
    def_.name = std::move(name);
    def_.description = std::move(description);
    def_.parameters = R"({"type":"object","properties":{}})";
  }
  const llm::ToolDefinition& definition() const override { return def_; }
  boost::asio::awaitable<ToolOutput> call(const boost::json::object&, const ToolContext&) override {
    co_return ToolOutput{def_.name, false};
  }

 private:
  llm::ToolDefinition def_;
};

std::vector<std::unique_ptr<Tool>> tools(std::initializer_list<const char*> names) {
  std::vector<std::unique_ptr<Tool>> out;
  for (const char* n : names) out.push_back(std::make_unique<NamedTool>(n));
  return out;
}

std::vector<std::string> offered(const Toolbox& box) {
  std::vector<std::string> out;
  for (const auto& d : box.definitions_for({})) out.push_back(d.name);
  return out;
}

TEST(Toolbox, ReplacesAnMcpServersGroupInPlaceAndKeepsAFoundToolAliveForItsCall) {
  Toolbox box;
  ASSERT_TRUE(box.add(std::make_unique<NamedTool>("list_todos")));
  EXPECT_TRUE(box.replace_group("notes", tools({"notes__a", "notes__b"})).empty());
  ASSERT_TRUE(box.add(std::make_unique<NamedTool>("knowledge_search")));
  EXPECT_EQ(offered(box), (std::vector<std::string>{"list_todos", "notes__a", "notes__b", "knowledge_search"}));

  // A turn found notes__a before the server was listed again: it keeps a usable tool.
  auto found = box.find("notes__a", {});
  ASSERT_NE(found, nullptr);
  EXPECT_TRUE(box.replace_group("notes", tools({"notes__b", "notes__c"})).empty());
  EXPECT_EQ(offered(box), (std::vector<std::string>{"list_todos", "notes__b", "notes__c", "knowledge_search"}))
      << "the group stays where it was, so the order offered to the model does not move";
  EXPECT_EQ(box.find("notes__a", {}), nullptr) << "dropped by the server: no longer found";
  EXPECT_EQ(found->tool->definition().name, "notes__a");

  // A name another group holds is skipped with a warning, not taken over.
  const auto warnings = box.replace_group("other", tools({"list_todos", "other__x"}));
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0], "tools[list_todos].name: declared twice");
  EXPECT_EQ(offered(box), (std::vector<std::string>{"list_todos", "notes__b", "notes__c", "knowledge_search", "other__x"}));
  EXPECT_TRUE(box.replace_group("notes", {}).empty());
  EXPECT_EQ(offered(box), (std::vector<std::string>{"list_todos", "knowledge_search", "other__x"}));
}

}  // namespace
}  // namespace aas::agent
