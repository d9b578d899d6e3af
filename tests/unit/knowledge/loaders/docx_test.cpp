#include "knowledge/document.hpp"

#include "knowledge/loaders/fixtures.hpp"

#include <gtest/gtest.h>

#include <cstring>

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


// ---- styles, content controls, odd runs ----------------------------------------------------

// A DOCX of this body with these styles and this core.xml (each left out when empty).
std::string docx_with(const std::string& body, const std::string& styles, const std::string& core = "") {
  std::map<std::string, std::string> files{{"word/document.xml", testing::docx_document(body)}};
  if (!styles.empty()) files["word/styles.xml"] = styles;
  if (!core.empty()) files["docProps/core.xml"] = core;
  return testing::make_zip(files);
}

std::string styles_xml(const std::string& styles) {
  return std::string("<?xml version=\"1.0\"?><w:styles ") + testing::w_ns + ">" + styles + "</w:styles>";
}

TEST(DocxLoader, HeadingStylesComeFromTheTitleNamesAndOutlineLevels) {
  const std::string styles = styles_xml(
      "<w:docDefaults/>"
      "<w:style w:styleId=\"Big\"><w:name w:val=\"Title\"/></w:style>"
      "<w:style w:styleId=\"H3\"><w:name w:val=\"heading 3\"/></w:style>"
      "<w:style w:styleId=\"Sect\"><w:name w:val=\"Section\"/><w:pPr><w:outlineLvl w:val=\"1\"/></w:pPr></w:style>"
      "<w:style w:styleId=\"Deep\"><w:name w:val=\"Deep\"/><w:pPr><w:outlineLvl w:val=\"9\"/></w:pPr></w:style>"
      "<w:style w:styleId=\"H0\"><w:name w:val=\"heading 0\"/></w:style>"
      "<w:style w:styleId=\"Hx\"><w:name w:val=\"heading x\"/></w:style>"
      "<w:style w:styleId=\"Long\"><w:name w:val=\"heading 10\"/></w:style>"
      "<w:style><w:name w:val=\"heading 1\"/></w:style>"  // no id: nothing can refer to it
      "<w:style w:styleId=\"Plain\"/>");
  const std::string body = w_p("Doc", "Big") + w_p("Three", "H3") + w_p("Two", "Sect") + w_p("deep", "Deep") +
                           w_p("zero", "H0") + w_p("x", "Hx") + w_p("ten", "Long") + w_p("plain", "Plain") +
                           // A paragraph's own outline level outside 0..8 makes no heading either.
                           "<w:p><w:pPr><w:outlineLvl w:val=\"9\"/></w:pPr><w:r><w:t>nine</w:t></w:r></w:p>";
  const auto r = parse_document(docx_with(body, styles), {});
  ASSERT_TRUE(r) << r.error().message << " " << r.error().detail;
  const std::vector<std::pair<BlockKind, std::string>> expected{
      {BlockKind::heading, "Doc"},       {BlockKind::heading, "Three"},  {BlockKind::heading, "Two"},
      {BlockKind::paragraph, "deep"},    {BlockKind::paragraph, "zero"}, {BlockKind::paragraph, "x"},
      {BlockKind::paragraph, "ten"},     {BlockKind::paragraph, "plain"}, {BlockKind::paragraph, "nine"}};
  EXPECT_EQ(testing::blocks_of(*r), expected);
  EXPECT_EQ(r->blocks[0].level, 1);
  EXPECT_EQ(r->blocks[1].level, 3);
  EXPECT_EQ(r->blocks[2].level, 2);
  EXPECT_EQ(r->title, "Doc") << "no core.xml: the first level-1 heading";
}

// Found by this test: a table nested in a cell glued its words to the text before it and its
// cells to each other ("x yinner").
TEST(DocxLoader, ContentControlsHyperlinksNestedTablesAndBreaksInCells) {
  const std::string body =
      "<w:sdt><w:sdtPr/><w:sdtContent>" + w_p("inside a control") + "</w:sdtContent></w:sdt>"
      "<w:sdt><w:sdtPr/></w:sdt>"  // a control without content adds nothing
      "<w:bookmarkStart/>"
      "<w:p><w:r><w:rPr><w:b/></w:rPr><w:t>a</w:t><w:cr/><w:t>b</w:t></w:r>"
      "<w:hyperlink><w:r><w:t> link</w:t></w:r></w:hyperlink><!-- a comment --></w:p>"
      "<w:tbl><w:tblPr/><w:tr><w:trPr/><w:tc>"
      "<w:p><w:r><w:t>x</w:t><w:br/><w:t>y</w:t></w:r></w:p>"
      "<w:tbl><w:tr><w:tc>" + w_p("inner") + "</w:tc><w:tc>" + w_p("table") + "</w:tc></w:tr>"
      "<w:tr><w:tc>" + w_p("second") + "</w:tc></w:tr></w:tbl>"
      "</w:tc><w:tc>" + w_p("z") + "</w:tc></w:tr></w:tbl>";
  const auto r = parse_document(docx_with(body, ""), {});
  ASSERT_TRUE(r) << r.error().message << " " << r.error().detail;
  const std::vector<std::pair<BlockKind, std::string>> expected{
      {BlockKind::paragraph, "inside a control"},
      {BlockKind::paragraph, "a\nb link"},
      {BlockKind::table, "x y inner table second | z"}};
  EXPECT_EQ(testing::blocks_of(*r), expected);
  EXPECT_EQ(r->title, "") << "no heading, no core.xml: no title";
}

TEST(DocxLoader, ADocumentThatIsNotWordprocessingMlOrHasNoBodyIsHandled) {
  const auto other = parse_document(testing::make_zip({{"word/document.xml", "<?xml version=\"1.0\"?><html/>"}}), {});
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, errc::invalid_request);
  EXPECT_NE(other.error().detail.find("not a WordprocessingML document"), std::string::npos) << other.error().detail;

  // Named in the archive but not at that path: a ZIP, not a Word document.
  const auto elsewhere = parse_document(testing::make_zip({{"old/word/document.xml", "x"}}), {});
  ASSERT_FALSE(elsewhere);
  EXPECT_EQ(elsewhere.error().code, errc::unsupported_media_type);
  EXPECT_NE(elsewhere.error().message.find("not a Word document"), std::string::npos) << elsewhere.error().message;

  // No body, unreadable styles and a core.xml without a title: an empty document.
  const std::string empty = std::string("<?xml version=\"1.0\"?><w:document ") + testing::w_ns + "/>";
  const auto r = parse_document(
      testing::make_zip({{"word/document.xml", empty}, {"word/styles.xml", "<w:styles"},
                         {"docProps/core.xml", "<?xml version=\"1.0\"?><coreProperties><creator>me</creator></coreProperties>"}}),
      {});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->blocks.empty());
  EXPECT_EQ(r->title, "");
  for (const std::string& core : {std::string("not xml"), std::string("<?xml version=\"1.0\"?><coreProperties/>")}) {
    const auto untitled = parse_document(docx_with(w_p("Body"), "", core), {});
    ASSERT_TRUE(untitled) << core;
    EXPECT_EQ(untitled->title, "") << core;
  }
}

TEST(DocxLoader, TextOverTheLimitIsRefused) {
  std::string body;
  for (int i = 0; i < 200; ++i) body += w_p("paragraph number " + std::to_string(i));
  ParseLimits limits;
  limits.max_text_bytes = 1000;
  const auto r = parse_document(make_docx(body), limits);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::payload_too_large);
  EXPECT_NE(r.error().message.find("text is larger than the limit of 1000 bytes"), std::string::npos) << r.error().message;
}

// Rewrites a 2- or 4-byte field of `entry`'s local header and central directory record.
void patch_entry(std::string& zip, const std::string& entry, std::size_t local_offset, std::size_t central_offset,
                 std::uint32_t value, std::size_t width) {
  const auto patch = [&](std::string_view signature, std::size_t offset, std::size_t name_offset) {
    int patched = 0;
    for (std::size_t pos = zip.find(signature); pos != std::string::npos; pos = zip.find(signature, pos + 4)) {
      if (zip.compare(pos + name_offset, entry.size(), entry) != 0) continue;
      std::memcpy(zip.data() + pos + offset, &value, width);  // ZIP is little-endian, as this machine
      ++patched;
    }
    ASSERT_EQ(patched, 1) << entry;
  };
  patch(std::string_view("PK\x03\x04", 4), local_offset, 30);
  patch(std::string_view("PK\x01\x02", 4), central_offset, 46);
}

TEST(DocxLoader, APartThatCannotBeInflatedOrFailsItsChecksumIsCorrupt) {
  // styles.xml is read after document.xml: its failure still fails the whole document.
  std::string method = make_docx(w_p("text"));
  patch_entry(method, "word/styles.xml", 8, 10, 6, 2);  // "imploded": a method libzip cannot read
  auto r = parse_document(method, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::invalid_request);
  EXPECT_NE(r.error().detail.find("word/styles.xml: "), std::string::npos) << r.error().detail;

  std::string checksum = make_docx(w_p("text"), "A title");
  patch_entry(checksum, "docProps/core.xml", 14, 16, 0x12345678, 4);
  r = parse_document(checksum, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::invalid_request);
  EXPECT_NE(r.error().detail.find("docProps/core.xml: "), std::string::npos) << r.error().detail;
}

}  // namespace
}  // namespace aas::knowledge
