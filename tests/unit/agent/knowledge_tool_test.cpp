// What the model reads back from knowledge_search: each passage under the number it cites it by.
#include "agent/knowledge_tool.hpp"

#include <gtest/gtest.h>

namespace aas::agent {
namespace {

chat::Citation passage(std::string title, std::string text, std::optional<std::int64_t> page = std::nullopt) {
  chat::Citation c;
  c.title = std::move(title);
  c.text = std::move(text);
  c.page = page;
  return c;
}

TEST(DescribePassages, NumbersEachPassageWithItsTitleAndPage) {
  EXPECT_EQ(describe_passages({}, {}), "no passage matched the query");
  EXPECT_EQ(describe_passages({passage("Handbook", "Leave is 25 days.", 12), passage("FAQ", "Ask HR.")}, {3, 1}),
            "[3] Handbook (page 12)\nLeave is 25 days.\n\n[1] FAQ\nAsk HR.");
}

}  // namespace
}  // namespace aas::agent
