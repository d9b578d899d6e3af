#include "agent/toolbox.hpp"

#include <gtest/gtest.h>

namespace aas::agent {
namespace {

class NamedTool final : public Tool {
 public:
  explicit NamedTool(std::string name, std::string description = {},
                     std::string parameters = R"({"type":"object","properties":{}})") {
    def_.name = std::move(name);
    def_.description = std::move(description);
    def_.parameters = std::move(parameters);
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

TEST(Toolbox, RefusesAToolWhoseSchemaItCannotCheckOrWhoseNameIsTaken) {
  Toolbox box;
  EXPECT_TRUE(box.empty());
  auto refused = box.add(std::make_unique<NamedTool>("bad", "", R"({"type":"object","properties":{"a":{"oneOf":[]}}})"));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message,
            "tools[bad].parameters: properties.a.oneOf: keyword not supported (see docs/agent.md for the subset)");
  EXPECT_TRUE(box.empty()) << "a refused tool is not added";
  ASSERT_TRUE(box.add(std::make_unique<NamedTool>("t")));
  auto twice = box.add(std::make_unique<NamedTool>("t", "again"));
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().message, "tools[t].name: declared twice");

  // In a group: a tool the subset refuses is a warning, a name listed twice is offered once.
  std::vector<std::unique_ptr<Tool>> listed;
  listed.push_back(std::make_unique<NamedTool>("g__a"));
  listed.push_back(std::make_unique<NamedTool>("g__bad", "", "[]"));
  listed.push_back(std::make_unique<NamedTool>("g__a", "the second listing"));
  const auto warnings = box.replace_group("g", std::move(listed));
  EXPECT_EQ(warnings, std::vector<std::string>{"tools[g__bad].parameters: schema: must be an object"});
  EXPECT_EQ(offered(box), (std::vector<std::string>{"t", "g__a"}));
  EXPECT_EQ(box.find("g__a", {})->tool->definition().description, "") << "the first listing is kept";
  EXPECT_FALSE(box.empty());
}

TEST(TurnCitations, NumbersEachChunkOnceInTheOrderFirstCited) {
  chat::Citation a;
  a.document_id = "d1";
  a.chunk_id = "c1";
  a.index = 1;
  std::vector<chat::Citation> list{a};  // retrieved before the first call
  TurnCitations citations(list);
  chat::Citation b = a;
  b.chunk_id = "c2";
  chat::Citation other_document = a;
  other_document.document_id = "d2";
  EXPECT_EQ(citations.number(b), 2);
  EXPECT_EQ(citations.number(a), 1) << "found again by a tool: the number it had";
  EXPECT_EQ(citations.number(other_document), 3) << "the same chunk id in another document is another source";
  EXPECT_EQ(citations.size(), 3u);
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[2].index, 3);
}

}  // namespace
}  // namespace aas::agent
