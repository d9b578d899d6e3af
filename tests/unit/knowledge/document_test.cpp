// Sniffing and parse_document's dispatch and limits; each format's details are in loaders/.
#include "knowledge/document.hpp"

#include "knowledge/loaders/fixtures.hpp"
#include "knowledge/loaders/loaders.hpp"

#include <gtest/gtest.h>

namespace aas::knowledge {
namespace {

TEST(Sniff, DecidesFromContentAlone) {
  EXPECT_EQ(sniff_media_type("just some words"), media::plain);
  EXPECT_EQ(sniff_media_type(""), media::plain);
  EXPECT_EQ(sniff_media_type("# Title\n\nBody"), media::markdown);
  EXPECT_EQ(sniff_media_type("Intro\n\n```\ncode\n```\n"), media::markdown);
  EXPECT_EQ(sniff_media_type("- one\n- two [link](http://x)\n"), media::markdown);
  EXPECT_EQ(sniff_media_type("  <!DOCTYPE html><html><body>x</body></html>"), media::html);
  EXPECT_EQ(sniff_media_type("<p>para</p>"), media::html);
  EXPECT_EQ(sniff_media_type("<pizza> is not a tag we sniff"), media::plain);
  EXPECT_EQ(sniff_media_type(testing::make_pdf({{"x"}})), media::pdf);
  EXPECT_EQ(sniff_media_type(testing::make_docx(testing::w_p("x"))), media::docx);
  EXPECT_EQ(sniff_media_type(testing::make_zip({{"a.txt", "hello"}})), media::zip);
  EXPECT_EQ(sniff_media_type(std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16)), media::binary);
  EXPECT_EQ(sniff_media_type(std::string("text with a \0 NUL", 17)), media::binary);
}

TEST(Sniff, AFewStrayBytesAreStillTextButManyAreNot) {
  std::string latin1 = "Caf\xE9 au lait, na\xEFve r\xE9sum\xE9 and a long enough line of plain words to be text.";
  EXPECT_EQ(sniff_media_type(latin1), media::plain);
  std::string noise;
  for (int i = 0; i < 4096; ++i) noise += static_cast<char>(0x80 + (i * 37) % 0x7F);
  EXPECT_EQ(sniff_media_type(noise), media::binary);
}

TEST(ParseDocument, RefusesBinaryPosingAsText) {
  std::string elf("\x7F" "ELF\x02\x01\x01\0\0\0\0\0\0\0\0\0", 16);
  elf += std::string(1000, '\xFF');
  const auto r = parse_document(elf, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::unsupported_media_type);
  EXPECT_NE(r.error().message.find("not a supported document"), std::string::npos) << r.error().message;
}

TEST(ParseDocument, RefusesAZipThatIsNotADocx) {
  const auto r = parse_document(testing::make_zip({{"a.txt", "hello"}}), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::unsupported_media_type);
  EXPECT_NE(r.error().message.find("ZIP"), std::string::npos);
}

TEST(ParseDocument, RefusesInputOverTheSizeLimit) {
  ParseLimits limits;
  limits.max_input_bytes = 100;
  const auto r = parse_document(std::string(101, 'a'), limits);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::payload_too_large);
  EXPECT_NE(r.error().message.find("100 bytes"), std::string::npos);
  EXPECT_TRUE(parse_document(std::string(100, 'a'), limits));
}

TEST(ParseDocument, RefusesTextOverTheTextLimit) {
  ParseLimits limits;
  limits.max_text_bytes = 1000;
  std::string html = "<html><body>";
  for (int i = 0; i < 200; ++i) html += "<p>paragraph " + std::to_string(i) + "</p>";
  html += "</body></html>";
  const auto r = parse_document(html, limits);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::payload_too_large);
}

// Whatever the format, blocks are in order, non-empty, inside the text and trimmed.
TEST(ParseDocument, BlocksAreWellFormedInEveryFormat) {
  const std::vector<std::string> inputs = {
      "Para one.\n\nPara two\nwith two lines.\n",
      "# T\n\nText *em* and `code`.\n\n- a\n- b\n\n```\nx = 1\n```\n",
      "<html><head><title>T</title></head><body><h1>H</h1><p>P</p><ul><li>a</li></ul></body></html>",
      testing::make_docx(testing::w_p("Heading", "Heading1") + testing::w_p("Body")),
      testing::make_pdf({{"Page one."}, {"Page two."}}),
  };
  for (const auto& input : inputs) {
    const auto r = parse_document(input, {});
    ASSERT_TRUE(r) << r.error().message;
    std::size_t last = 0;
    ASSERT_FALSE(r->blocks.empty()) << r->media_type;
    for (const auto& b : r->blocks) {
      EXPECT_LE(last, b.start) << r->media_type;
      EXPECT_LT(b.start, b.end) << r->media_type;
      EXPECT_LE(b.end, r->text.size()) << r->media_type;
      EXPECT_NE(r->text[b.start], ' ');
      EXPECT_NE(r->text[b.end - 1], ' ');
      last = b.end;
    }
  }
}

// Markdown needs a heading, a fence, or two of its other signs; each sign alone is plain text.
TEST(Sniff, MarkdownNeedsAHeadingAFenceOrTwoSigns) {
  const std::vector<std::string> one_sign{"- item",        "* item",          "+ item",        "> quote",
                                          "a [link](x)",   "some **strong**", "some __strong__", "===",
                                          "| a |\n|---|"};
  for (const auto& sign : one_sign) {
    EXPECT_EQ(sniff_media_type("Plain words.\n" + sign + "\n"), media::plain) << sign;
    EXPECT_EQ(sniff_media_type(sign + "\n" + sign + "\n"), media::markdown) << sign;
  }
  EXPECT_EQ(sniff_media_type("~~~\ncode\n~~~\n"), media::markdown);
  EXPECT_EQ(sniff_media_type("###### Six\n"), media::markdown);
  EXPECT_EQ(sniff_media_type("####### Seven is no heading\n"), media::plain);
  EXPECT_EQ(sniff_media_type("#hashtag\n"), media::plain);
  EXPECT_EQ(sniff_media_type("    # indented: code, not a heading\r\n\r\n"), media::plain);
  // Only the first 2,000 lines are looked at.
  std::string late(2000, '\n');
  late += "# Heading\n";
  EXPECT_EQ(sniff_media_type(late), media::plain);
}

TEST(Sniff, HtmlStartsWithOneOfItsSignaturesThenASpaceOrBracket) {
  EXPECT_EQ(sniff_media_type("\xEF\xBB\xBF<!-- a comment -->"), media::html);
  EXPECT_EQ(sniff_media_type("<TABLE border=1><tr><td>x</td></tr></TABLE>"), media::html);
  EXPECT_EQ(sniff_media_type("<b"), media::plain) << "a signature with nothing after it";
  EXPECT_EQ(sniff_media_type("<bold>words"), media::plain);
  EXPECT_EQ(sniff_media_type(" \t\n "), media::plain);
}

// A few stray bytes in text are each replaced by U+FFFD, and line ends become "\n".
TEST(ParseDocument, StrayBytesInTextAreReplaced) {
  const auto r = parse_document("Caf\xE9 in plain words,\r\nand a second line\rand a third.", {});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->media_type, media::plain);
  EXPECT_EQ(r->text, "Caf\xEF\xBF\xBD in plain words,\nand a second line\nand a third.");
}


// The names the API gives block kinds (citations' `kind`).
TEST(BlockKinds, EachHasItsName) {
  EXPECT_EQ(name(BlockKind::heading), "heading");
  EXPECT_EQ(name(BlockKind::paragraph), "paragraph");
  EXPECT_EQ(name(BlockKind::list_item), "list_item");
  EXPECT_EQ(name(BlockKind::code), "code");
  EXPECT_EQ(name(BlockKind::table), "table");
}

// The text loaders' common first step, on input sniffing would already have sent elsewhere (a
// loader called directly, as the HTML one is for its fallback): a BOM dropped, NUL refused, too
// many invalid bytes refused, a few replaced, line ends normalised.
TEST(NormaliseText, DropsTheBomRefusesBinaryAndNormalisesLineEnds) {
  EXPECT_EQ(*loaders::normalise_text("\xEF\xBB\xBFone\r\ntwo\rthree"), "one\ntwo\nthree");
  const auto nul = loaders::normalise_text(std::string("a\0b", 3));
  ASSERT_FALSE(nul);
  EXPECT_EQ(nul.error().code, errc::unsupported_media_type);
  EXPECT_EQ(nul.error().message, "the file is not text: it contains NUL bytes");
  const auto binary = loaders::normalise_text(std::string(20, '\xFF'));
  ASSERT_FALSE(binary);
  EXPECT_EQ(binary.error().message, "the file is not UTF-8 text");
  EXPECT_EQ(*loaders::normalise_text("caf\xE9 au lait"), "caf\xEF\xBF\xBD au lait") << "one stray byte is replaced";
}

}  // namespace
}  // namespace aas::knowledge
