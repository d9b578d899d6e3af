#include "knowledge/document.hpp"

#include "knowledge/loaders/fixtures.hpp"

#include <gtest/gtest.h>

namespace aas::knowledge {
namespace {

using testing::make_docx;
using testing::w_p;

TEST(DocxLoader, ReadsParagraphsHeadingsListsAndTables) {
  const std::string body =
      w_p("Report", "Heading1") + w_p("Plain paragraph.") +
      // Runs split mid-word, a tab, a break, deleted text and a field code left out.
      "<w:p><w:r><w:t>Spl</w:t></w:r><w:r><w:t>it</w:t><w:tab/><w:t>run</w:t><w:br/><w:t>next line</w:t></w:r>"
      "<w:del><w:r><w:delText>gone</w:delText></w:r></w:del>"
      "<w:r><w:instrText>PAGE</w:instrText></w:r></w:p>" +
      w_p("Localised heading", "berschrift2") + w_p("item one", "", true) + w_p("item two", "", true) +
      "<w:tbl><w:tr><w:tc>" + w_p("k") + "</w:tc><w:tc>" + w_p("v") + "</w:tc></w:tr>"
      "<w:tr><w:tc>" + w_p("a") + w_p("b") + "</w:tc><w:tc>" + w_p("1") + "</w:tc></w:tr></w:tbl>" +
      "<w:p><w:pPr><w:outlineLvl w:val=\"2\"/></w:pPr><w:r><w:t>Outline heading</w:t></w:r></w:p>" +
      "<w:p/>" + "<w:sectPr/>";
  const auto r = parse_document(make_docx(body, "Quarterly &amp; final"), {});
  ASSERT_TRUE(r) << r.error().message << " " << r.error().detail;
  EXPECT_EQ(r->media_type, media::docx);
  EXPECT_EQ(r->title, "Quarterly & final");
  const std::vector<std::pair<BlockKind, std::string>> expected{
      {BlockKind::heading, "Report"},
      {BlockKind::paragraph, "Plain paragraph."},
      {BlockKind::paragraph, "Split run\nnext line"},
      {BlockKind::heading, "Localised heading"},
      {BlockKind::list_item, "item one"},
      {BlockKind::list_item, "item two"},
      {BlockKind::table, "k | v\na b | 1"},
      {BlockKind::heading, "Outline heading"},
  };
  EXPECT_EQ(testing::blocks_of(*r), expected);
  EXPECT_EQ(r->blocks[0].level, 1);
  EXPECT_EQ(r->blocks[3].level, 2);
  EXPECT_EQ(r->blocks[7].level, 3);
}

TEST(DocxLoader, TitleFallsBackToTheFirstLevelOneHeading) {
  const auto r = parse_document(make_docx(w_p("Intro") + w_p("The Title", "Heading1")), {});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->title, "The Title");
}

TEST(DocxLoader, ACorruptArchiveFailsWithAClearMessage) {
  std::string docx = make_docx(w_p("text"));
  docx.resize(docx.size() / 2);  // the central directory is gone
  const auto r = parse_document(docx, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::invalid_request);
  EXPECT_NE(r.error().message.find("corrupt"), std::string::npos) << r.error().message;
}

TEST(DocxLoader, MalformedXmlFailsWithAClearMessage) {
  const auto r = parse_document(testing::make_zip({{"word/document.xml", "<w:document><w:body><w:p>"}}), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::invalid_request);
}

TEST(DocxLoader, AZipBombIsRefusedBeforeItIsInflated) {
  // 8 MiB of one repeated paragraph deflates about 1000:1.
  std::string body;
  const std::string p = w_p("all work and no play makes jack a dull boy ");
  body.reserve(8u << 20);
  while (body.size() < (8u << 20)) body += p;
  const std::string bomb = make_docx(body);
  ASSERT_LT(bomb.size(), 64u << 10);
  ParseLimits limits;
  limits.max_archive_bytes = 4u << 20;
  auto r = parse_document(bomb, limits);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::payload_too_large);
  EXPECT_NE(r.error().message.find("zip bomb"), std::string::npos) << r.error().message;
  // Within the size budget, the ratio alone still gives it away.
  limits.max_archive_bytes = 1u << 30;
  r = parse_document(bomb, limits);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::payload_too_large);
}

TEST(DocxLoader, TooManyEntriesAreRefused) {
  std::map<std::string, std::string> files{{"word/document.xml", testing::docx_document(w_p("x"))}};
  for (int i = 0; i < 10'001; ++i) files["e/" + std::to_string(i)] = "";
  const auto r = parse_document(testing::make_zip(files), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::payload_too_large);
}

// A header that understates the size: the inflated bytes are counted, not the declared ones.
TEST(DocxLoader, AnUnderstatedSizeIsCaughtWhileInflating) {
  std::string body;
  while (body.size() < (2u << 20)) body += w_p("lorem ipsum dolor sit amet " + std::to_string(body.size()));
  std::string docx = make_docx(body);
  // Patch the uncompressed size of word/document.xml in its local header and central directory
  // entry to 1000 bytes.
  const std::string name = "word/document.xml";
  auto patch = [&](std::string_view signature, std::size_t size_offset, std::size_t name_offset) {
    for (std::size_t pos = docx.find(signature); pos != std::string::npos; pos = docx.find(signature, pos + 4)) {
      if (docx.compare(pos + name_offset, name.size(), name) != 0) continue;
      const std::uint32_t v = 1000;
      std::memcpy(docx.data() + pos + size_offset, &v, 4);
    }
  };
  patch(std::string_view("PK\x03\x04", 4), 22, 30);
  patch(std::string_view("PK\x01\x02", 4), 24, 46);
  ParseLimits limits;
  limits.max_archive_bytes = 1u << 20;
  const auto r = parse_document(docx, limits);
  ASSERT_FALSE(r);
  // libzip may notice the inconsistency itself (corrupt) or our count does (too large): never parsed.
  EXPECT_TRUE(r.error().code == errc::payload_too_large || r.error().code == errc::invalid_request)
      << r.error().message;
}

}  // namespace
}  // namespace aas::knowledge
