#include "knowledge/document.hpp"

#include "knowledge/loaders/fixtures.hpp"

#include <gtest/gtest.h>

namespace aas::knowledge {
namespace {

TEST(TextLoader, ParagraphsAreRunsOfNonBlankLinesInTheOriginalText) {
  const auto r = parse_document("\xEF\xBB\xBF" "First line\r\nsame paragraph\r\n\r\n  \t\r\nSecond.  \n", {});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->media_type, media::plain);
  EXPECT_EQ(r->text, "First line\nsame paragraph\n\n  \t\nSecond.  \n");
  EXPECT_EQ(testing::blocks_of(*r), (std::vector<std::pair<BlockKind, std::string>>{
                                       {BlockKind::paragraph, "First line\nsame paragraph"},
                                       {BlockKind::paragraph, "Second."}}));
  EXPECT_TRUE(r->title.empty());
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
