// multipart/form-data bodies read strictly (api/multipart.cpp).
#include "api/multipart.hpp"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace aas::api
