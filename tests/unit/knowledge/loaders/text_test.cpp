#include "knowledge/document.hpp"

#include <gtest/gtest.h>

namespace aas::knowledge {
namespace {

std::vector<std::string> block_texts(const ParsedDocument& doc) {
  std::vector<std::string> out;
  for (const auto& b : doc.blocks) out.push_back(doc.text.substr(b.start, b.end - b.start));
  return out;
}

TEST(TextLoader, ParagraphsAreRunsOfNonBlankLinesInTheOriginalText) {
  const auto r = parse_document("\xEF\xBB\xBF" "First line\r\nsame paragraph\r\n\r\n  \t\r\nSecond.  \n", {});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->media_type, media::plain);
  EXPECT_EQ(r->text, "First line\nsame paragraph\n\n  \t\nSecond.  \n");
  EXPECT_EQ(block_texts(*r), (std::vector<std::string>{"First line\nsame paragraph", "Second."}));
  EXPECT_TRUE(r->title.empty());
  EXPECT_EQ(r->blocks[0].kind, BlockKind::paragraph);
}

TEST(TextLoader, AFewInvalidBytesBecomeReplacementCharacters) {
  const auto r = parse_document("na\xEFve text that is otherwise fine and long enough", {});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->text, "na\xEF\xBF\xBDve text that is otherwise fine and long enough");
}

TEST(TextLoader, EmptyTextHasNoBlocks) {
  const auto r = parse_document(" \n\n ", {});
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->blocks.empty());
}

}  // namespace
}  // namespace aas::knowledge
