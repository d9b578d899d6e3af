// multipart/form-data bodies read strictly (api/multipart.cpp).
#include "api/multipart.hpp"

#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

namespace aas::api {
namespace {

const std::string kType = "multipart/form-data; boundary=XyZ";

TEST(Multipart, ReadsFieldsAndFilesWithTheirBytesAsSent) {
  const std::string body =
      "preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nMy notes\r\n"
      "--XyZ\r\ncontent-disposition: form-data; name=\"file\"; filename=\"a \\\"b\\\".bin\"\r\n"
      "Content-Type: application/octet-stream\r\n\r\n" + std::string("\0\r\n--X\xff", 8) + "\r\n--XyZ--\r\n";
  auto parts = parse_multipart(kType, body);
  ASSERT_TRUE(parts) << parts.error().message;
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].name, "title");
  EXPECT_FALSE((*parts)[0].filename);
  EXPECT_EQ((*parts)[0].body, "My notes");
  EXPECT_EQ((*parts)[1].filename, "a \"b\".bin");
  EXPECT_EQ((*parts)[1].content_type, "application/octet-stream");
  EXPECT_EQ((*parts)[1].body, std::string("\0\r\n--X\xff", 8));
}

TEST(Multipart, QuotedBoundaryAndAnEmptyBodyWork) {
  auto parts = parse_multipart("multipart/form-data; boundary=\"a b\"", "--a b--\r\n");
  ASSERT_TRUE(parts);
  EXPECT_TRUE(parts->empty());
}

TEST(Multipart, RefusesWhatIsMalformed) {
  const auto bad = [](std::string_view type, std::string_view body) {
    auto r = parse_multipart(type, body);
    return !r && r.error().code == errc::invalid_request;
  };
  EXPECT_TRUE(bad("multipart/form-data", "--XyZ--"));                      // no boundary
  EXPECT_TRUE(bad(kType, "no delimiter at all"));
  EXPECT_TRUE(bad(kType, "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunterminated"));
  EXPECT_TRUE(bad(kType, "--XyZ\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ--"));  // no disposition
  EXPECT_TRUE(bad(kType, "--XyZ\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--XyZ--"));
  EXPECT_TRUE(bad(kType, "--XyZ\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XyZ--"));  // no name
  EXPECT_TRUE(bad(kType, "--XyZ\r\nbroken header\r\n\r\nx\r\n--XyZ--"));
  std::string many;
  for (std::size_t i = 0; i <= kMaxMultipartParts; ++i)
    many += "--XyZ\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nx\r\n";
  EXPECT_TRUE(bad(kType, many + "--XyZ--"));
}

// Each refusal says what is malformed: the message a client reads in the 400.
TEST(Multipart, EachRefusalNamesWhatIsMalformed) {
  const auto why = [](std::string_view type, std::string_view body) {
    auto r = parse_multipart(type, body);
    if (r) return std::string("accepted");
    EXPECT_EQ(r.error().code, errc::invalid_request);
    return r.error().message;
  };
  const std::string field = "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n";
  const std::vector<std::tuple<std::string, std::string, std::string>> cases{
      {"multipart/form-data", "--XyZ--", "no valid boundary in Content-Type"},
      {"multipart/form-data; charset", "--XyZ--", "no valid boundary in Content-Type"},
      {"multipart/form-data; boundary=", "----", "no valid boundary in Content-Type"},
      {"multipart/form-data; boundary=" + std::string(71, 'b'), "--", "no valid boundary in Content-Type"},
      {kType, "no delimiter at all", "the boundary does not occur in the body"},
      {kType, "--XyZ  \r\n", "a boundary line does not end in CRLF"},
      {kType, "--XyZ\r\nContent-Disposition: form-data; name=\"a\"", "a part's headers do not end"},
      {kType, "--XyZ\r\n" + std::string(8193, 'h') + "\r\n\r\nx\r\n--XyZ--", "a part's headers do not end"},
      {kType, "--XyZ\r\nbroken header\r\n\r\nx\r\n--XyZ--", "a part's header has no colon"},
      {kType, "--XyZ\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--XyZ--", "a part is not form-data"},
      {kType, "--XyZ\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XyZ--", "a part has no name"},
      {kType, "--XyZ\r\nContent-Disposition: form-data; filename=\"f\"\r\n\r\nx\r\n--XyZ--", "a part has no name"},
      {kType, "--XyZ\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ--", "a part has no Content-Disposition"},
      {kType, field + "--XyZ\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\nunterminated",
       "the body ends before its closing boundary"},
      {kType, field + "--XyZ--", "accepted"},
  };
  for (const auto& [type, body, expected] : cases)
    EXPECT_EQ(why(type, body), expected == "accepted" ? expected : "malformed multipart body: " + expected) << body.substr(0, 60);
  std::string many;
  for (std::size_t i = 0; i <= kMaxMultipartParts; ++i) many += field;
  EXPECT_EQ(why(kType, many + "--XyZ--"), "malformed multipart body: more than " + std::to_string(kMaxMultipartParts) + " parts");
}

// Parameters as browsers and curl write them: spaces and tabs around, any case, quoted with
// escapes or not, the one asked for anywhere in the list.
TEST(Multipart, ReadsParametersInEveryFormTheyAreWritten) {
  const std::string part = "\r\n\r\nv\r\n--b--";
  auto parts = parse_multipart("multipart/form-data;\tcharset=utf-8 ; BOUNDARY = b ;x=y",
                               "--b\r\ncontent-disposition:\tForm-Data ;\tfilename=plain.txt; NAME=\"n\\\\\"" + part);
  ASSERT_TRUE(parts) << parts.error().message;
  ASSERT_EQ(parts->size(), 1u);
  EXPECT_EQ((*parts)[0].name, "n\\");
  EXPECT_EQ((*parts)[0].filename, "plain.txt");
  EXPECT_EQ((*parts)[0].body, "v");
  // An unterminated quote ends the value at the header's end.
  auto open = parse_multipart(kType, "--XyZ\r\nContent-Disposition: form-data; name=\"open\r\n\r\nv\r\n--XyZ--");
  ASSERT_TRUE(open) << open.error().message;
  EXPECT_EQ((*open)[0].name, "open");
  EXPECT_FALSE((*open)[0].filename);
}

}  // namespace
}  // namespace aas::api
