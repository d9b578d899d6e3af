#include "knowledge/document.hpp"

#include "knowledge/loaders/fixtures.hpp"

#include <gtest/gtest.h>

namespace aas::knowledge {
namespace {

TEST(HtmlLoader, KeepsTheTextAndStructureAndDropsScripts) {
  const std::string html = R"(<!DOCTYPE html>
<html><head><title> The  page </title><style>body{color:red}</style>
<script>var secret = "do not index";</script></head>
<body>
<nav>Home</nav>
<h1>Main &amp; only</h1>
<p>First <b>bold</b>
   paragraph.<br>After a break.</p>
<noscript>enable js</noscript><template><p>hidden</p></template>
<div>Loose text in a div<div>nested div</div></div>
<ul><li>one</li><li><p>two a</p><p>two b</p></li></ul>
<pre>  code
    kept</pre>
<table><tr><th>k</th><th>v</th></tr><tr><td>a</td><td>1</td></tr></table>
<h3>Unclosed <p>tail
</body></html>)";
  const auto r = parse_document(html, {});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->media_type, media::html);
  EXPECT_EQ(r->title, "The page");
  EXPECT_EQ(r->text.find("secret"), std::string::npos);
  EXPECT_EQ(r->text.find("color"), std::string::npos);
  EXPECT_EQ(r->text.find("enable js"), std::string::npos);
  EXPECT_EQ(r->text.find("hidden"), std::string::npos);
  const auto b = testing::blocks_of(*r);
  const std::vector<std::pair<BlockKind, std::string>> expected{
      {BlockKind::paragraph, "Home"},
      {BlockKind::heading, "Main & only"},
      {BlockKind::paragraph, "First bold paragraph.\nAfter a break."},
      {BlockKind::paragraph, "Loose text in a div"},
      {BlockKind::paragraph, "nested div"},
      {BlockKind::list_item, "one"},
      {BlockKind::list_item, "two a\ntwo b"},
      {BlockKind::code, "  code\n    kept"},
      {BlockKind::table, "k | v\na | 1"},
      {BlockKind::heading, "Unclosed"},
      {BlockKind::paragraph, "tail"},
  };
  EXPECT_EQ(b, expected);
  EXPECT_EQ(r->blocks[1].level, 1);
}

TEST(HtmlLoader, TitleFallsBackToTheFirstH1AndCharsetIsHonoured) {
  const auto r = parse_document("<html><head><meta charset=\"iso-8859-1\"></head><body><h1>Caf\xE9</h1></body></html>", {});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->title, "Caf\xC3\xA9");
}

TEST(HtmlLoader, DeepNestingNeitherCrashesNorLosesTheTopText) {
  std::string html = "<html><body><p>top</p>";
  for (int i = 0; i < 200'000; ++i) html += "<div>";
  html += "deep</body></html>";
  const auto r = parse_document(html, {});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->text.substr(0, 3), "top");
}

// Blocks inside blocks: a heading or <pre> inside a list item stays in the item, on a line of its
// own (it ran into the next words before), a list item or a table inside a table is part of the table, a line break is a newline
// in <pre>, a space in a table; block elements inside <pre> add nothing; only the first <title>
// counts, wherever it is.
TEST(HtmlLoader, NestedBlocksStayInTheirOuterBlock) {
  const std::string html = R"(<html><head><title>First</title><title>Second</title></head><body>
<title>In the body</title>
<ul><li><h2>Heading in an item</h2><pre>pre in an item</pre></li></ul>
<table><tr><td>a<br>b</td><td><div>c</div><ul><li>d</li></ul><table><tr><td>inner</td></tr></table></td></tr></table>
<pre>line<br>next<div>in a div</div>end</pre>
<h4><h5>heading in a heading</h5></h4>
</body></html>)";
  const auto r = parse_document(html, {});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->title, "First");
  const std::vector<std::pair<BlockKind, std::string>> expected{
      {BlockKind::list_item, "Heading in an item\npre in an item"},
      {BlockKind::table, "a b | c d\ninner"},  // the inner table's row is a row
      {BlockKind::code, "line\nnextin a divend"},
      {BlockKind::heading, "heading in a heading"},
  };
  EXPECT_EQ(testing::blocks_of(*r), expected);
}

TEST(HtmlLoader, TextBeyondTheLimitIsRefused) {
  std::string html = "<html><body>";
  for (int i = 0; i < 100; ++i) html += "<p>paragraph " + std::to_string(i) + "</p>";
  html += "</body></html>";
  ParseLimits limits;
  limits.max_text_bytes = 200;
  const auto r = parse_document(html, limits);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::payload_too_large);
  EXPECT_EQ(r.error().message, "the document's text is larger than the limit of 200 bytes");
}

}  // namespace
}  // namespace aas::knowledge
