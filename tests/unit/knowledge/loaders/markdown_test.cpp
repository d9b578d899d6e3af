#include "knowledge/document.hpp"

#include <gtest/gtest.h>

namespace aas::knowledge {
namespace {

struct B {
  BlockKind kind;
  std::string text;
  int level = 0;
  bool operator==(const B&) const = default;
};
std::ostream& operator<<(std::ostream& os, const B& b) { return os << name(b.kind) << b.level << ":" << b.text; }

std::vector<B> blocks(const ParsedDocument& doc) {
  std::vector<B> out;
  for (const auto& b : doc.blocks) out.push_back({b.kind, doc.text.substr(b.start, b.end - b.start), b.level});
  return out;
}

TEST(MarkdownLoader, RendersStructureWithoutTheMarks) {
  const std::string md =
      "# User guide\n\n"
      "Intro with *emphasis*, **strong**, `code` and a [link](http://example.com) &amp; more.\n"
      "Soft-wrapped line.\n\n"
      "## Install\n\n"
      "- first item\n"
      "- second item\n\n"
      "  with a second paragraph\n\n"
      "```sh\napt-get install x\n  indented\n```\n\n"
      "| Name | Value |\n|---|---|\n| a | 1 |\n| b | 2 |\n\n"
      "<div>raw html block</div>\n\n"
      "Setext heading\n--------------\n";
  const auto r = parse_document(md, {});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->media_type, media::markdown);
  EXPECT_EQ(r->title, "User guide");
  EXPECT_EQ(blocks(*r), (std::vector<B>{
                            {BlockKind::heading, "User guide", 1},
                            {BlockKind::paragraph, "Intro with emphasis, strong, code and a link & more. Soft-wrapped line."},
                            {BlockKind::heading, "Install", 2},
                            {BlockKind::list_item, "first item"},
                            {BlockKind::list_item, "second item\nwith a second paragraph"},
                            {BlockKind::code, "apt-get install x\n  indented"},
                            {BlockKind::table, "Name | Value\na | 1\nb | 2"},
                            {BlockKind::heading, "Setext heading", 2},
                        }));
}

TEST(MarkdownLoader, DecodesNumericEntities) {
  const auto r = parse_document("# Caf&#233; &#x263A; &bogus;\n", {});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->title, "Caf\xC3\xA9 \xE2\x98\xBA &bogus;");
}

TEST(MarkdownLoader, DeepNestingDoesNotCrash) {
  std::string md = "# Top\n\n" + std::string(100'000, '>') + " quoted\n\n" + std::string(50'000, '[') + "\n";
  const auto r = parse_document(md, {});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->title, "Top");
}


// Numeric references outside Unicode's scalar values become U+FFFD, as CommonMark says; a named
// one libxml2 knows is decoded.
TEST(MarkdownLoader, OutOfRangeReferencesAreTheReplacementCharacter) {
  const auto r = parse_document("# Refs\n\n&#0; &#xD800; &#x10FFFF; &#1114112; &copy; &amp;\n", {});
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->blocks.size(), 2u);
  EXPECT_EQ(blocks(*r)[1].text, "\xEF\xBF\xBD \xEF\xBF\xBD \xF4\x8F\xBF\xBF \xEF\xBF\xBD \xC2\xA9 &");
}

TEST(MarkdownLoader, AHardBreakIsALineBreakAndTextOverTheLimitIsRefused) {
  const auto r = parse_document("# Poem\n\nroses are red  \nviolets are blue\\\nsugar is sweet\n", {});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(blocks(*r)[1].text, "roses are red\nviolets are blue\nsugar is sweet");

  std::string md = "# Long\n\n";
  for (int i = 0; i < 100; ++i) md += "Paragraph " + std::to_string(i) + " of the long document.\n\n";
  ParseLimits limits;
  limits.max_text_bytes = 200;
  const auto big = parse_document(md, limits);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, errc::payload_too_large);
  EXPECT_NE(big.error().message.find("limit of 200 bytes"), std::string::npos) << big.error().message;
}

}  // namespace
}  // namespace aas::knowledge
