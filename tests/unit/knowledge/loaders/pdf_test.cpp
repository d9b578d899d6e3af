// PDFs through pdftotext (poppler-utils, from scripts/install-deps.sh) in a separate process.
#include "knowledge/document.hpp"
#include "knowledge/loaders/subprocess.hpp"

#include "knowledge/loaders/fixtures.hpp"

#include <gtest/gtest.h>

namespace aas::knowledge {
namespace {

TEST(PdfLoader, ReadsTheTextPerPageAndTheTitle) {
  const auto pdf = testing::make_pdf({{"Hello world.", "Second paragraph."}, {}, {"Third page text."}}, "My Report");
  const auto r = parse_document(pdf, {});
  ASSERT_TRUE(r) << r.error().message << " " << r.error().detail;
  EXPECT_EQ(r->media_type, media::pdf);
  EXPECT_EQ(r->title, "My Report");
  EXPECT_EQ(r->pages, 3);
  ASSERT_EQ(r->blocks.size(), 3u);
  EXPECT_EQ(r->text.substr(r->blocks[0].start, r->blocks[0].end - r->blocks[0].start), "Hello world.");
  EXPECT_EQ(r->blocks[0].page, 1);
  EXPECT_EQ(r->blocks[1].page, 1);
  EXPECT_EQ(r->text.substr(r->blocks[2].start, r->blocks[2].end - r->blocks[2].start), "Third page text.");
  EXPECT_EQ(r->blocks[2].page, 3);
}

TEST(PdfLoader, ACorruptPdfFailsWithAClearMessage) {
  const auto r = parse_document("%PDF-1.7\n1 0 obj << /Type /Catalog garbage\n%%EOF\n", {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::invalid_request);
  EXPECT_NE(r.error().message.find("PDF could not be read"), std::string::npos) << r.error().message;
}

TEST(PdfLoader, ATruncatedPdfFailsOrKeepsWhatIsReadable) {
  auto pdf = testing::make_pdf({{"Alpha"}, {"Beta"}});
  pdf.resize(pdf.size() / 3);
  const auto r = parse_document(pdf, {});
  if (r) {
    EXPECT_EQ(r->media_type, media::pdf);  // poppler reconstructs what it can
  } else {
    EXPECT_EQ(r.error().code, errc::invalid_request);
  }
}

TEST(Subprocess, KillsAChildThatOutlivesItsDeadline) {
  loaders::ProcessLimits limits;
  limits.timeout = std::chrono::milliseconds(200);
  const auto r = loaders::run_process({"sleep", "30"}, limits);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->exit_code, -1);
}

TEST(Subprocess, CapsTheOutput) {
  loaders::ProcessLimits limits;
  limits.max_output = 1000;
  const auto r = loaders::run_process({"yes"}, limits);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->output_too_large);
}

TEST(Subprocess, AMissingProgramIsUnavailable) {
  const auto r = loaders::run_process({"aas-no-such-program"}, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::unavailable);
}

TEST(Subprocess, TheChildSeesNoneOfOurFiles) {
  // fd 3 and up are closed in the child: ls of its own fd directory shows 0, 1, 2 and the one ls opens.
  const auto r = loaders::run_process({"ls", "/proc/self/fd"}, {});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->out, "0\n1\n2\n3\n");
}


// pdftotext's output is capped a little above the text limit (whitespace still to collapse): a
// PDF with more text than that is refused as too large, not cut.
TEST(PdfLoader, TextOverTheLimitIsRefused) {
  std::vector<std::string> lines;
  for (int i = 0; i < 40; ++i) lines.push_back("Line " + std::to_string(i) + " of a long page of text.");
  ParseLimits limits;
  limits.max_text_bytes = 100;
  const auto r = parse_document(testing::make_pdf({lines}), limits);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::payload_too_large);
  EXPECT_NE(r.error().message.find("limit of 100 bytes"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace aas::knowledge
