#include "http/framing.hpp"

#include <gtest/gtest.h>
#include <boost/beast/http/field.hpp>

#include <initializer_list>
#include <string>
#include <utility>

namespace aas::http {
namespace {

namespace bhttp = boost::beast::http;

using Fields = std::initializer_list<std::pair<std::string, std::string>>;

bhttp::request_header<> head(Fields fields, unsigned version = 11) {
  bhttp::request_header<> h;
  h.method(bhttp::verb::post);
  h.target("/x");
  h.version(version);
  for (const auto& [name, value] : fields) h.insert(name, value);
  return h;
}

std::string why(Fields fields, unsigned version = 11) {
  const auto error = framing_error(head(fields, version));
  return error ? std::string(*error) : std::string("ok");
}

TEST(Framing, AcceptsOrdinaryRequests) {
  EXPECT_EQ(why({{"Host", "a"}}), "ok");
  EXPECT_EQ(why({{"Host", "a"}, {"Content-Length", "12"}, {"Authorization", "Bearer t"}}), "ok");
  EXPECT_EQ(why({{"Host", "a"}, {"Transfer-Encoding", "chunked"}}), "ok");
  EXPECT_EQ(why({{"Transfer-Encoding", "CHUNKED"}}), "ok") << "coding names are case-insensitive";
  EXPECT_EQ(why({}, 10), "ok");
}

TEST(Framing, RefusesEveryTransferEncodingButALoneChunked) {
  for (const char* coding : {"x", "xchunked", "chunked ,x", "chunked, identity", "gzip, chunked", "identity",
                             "chunked, chunked", "", "chunked;q=1"}) {
    EXPECT_EQ(why({{"Transfer-Encoding", coding}}), "only the chunked transfer coding is accepted") << coding;
  }
  EXPECT_EQ(why({{"Transfer-Encoding", "x"}, {"Transfer-Encoding", "chunked"}}),
            "only the chunked transfer coding is accepted");
  EXPECT_EQ(why({{"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}}),
            "only the chunked transfer coding is accepted");
}

TEST(Framing, RefusesTransferEncodingWithContentLengthOrInHttp10) {
  EXPECT_EQ(why({{"Transfer-Encoding", "chunked"}, {"Content-Length", "3"}}),
            "both Transfer-Encoding and Content-Length");
  EXPECT_EQ(why({{"Content-Length", "3"}, {"Transfer-Encoding", "x"}}), "both Transfer-Encoding and Content-Length");
  EXPECT_EQ(why({{"Transfer-Encoding", "chunked"}}, 10), "Transfer-Encoding in an HTTP/1.0 request");
}

TEST(Framing, RefusesRepeatedOrListContentLength) {
  EXPECT_EQ(why({{"Content-Length", "3"}, {"Content-Length", "3"}}), "duplicate Content-Length header");
  EXPECT_EQ(why({{"Content-Length", "3"}, {"Content-Length", "4"}}), "duplicate Content-Length header");
  EXPECT_EQ(why({{"Content-Length", "3, 3"}}), "Content-Length must be one decimal number");
  EXPECT_EQ(why({{"Content-Length", "+3"}}), "Content-Length must be one decimal number");
  EXPECT_EQ(why({{"Content-Length", ""}}), "Content-Length must be one decimal number");
}

TEST(Framing, RefusesDuplicateHostAndAuthorization) {
  EXPECT_EQ(why({{"Host", "a"}, {"Host", "a"}}), "duplicate Host header");
  EXPECT_EQ(why({{"Authorization", "Bearer a"}, {"authorization", "Bearer b"}}), "duplicate Authorization header");
}

}  // namespace
}  // namespace aas::http
