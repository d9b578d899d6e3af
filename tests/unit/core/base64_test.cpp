#include "core/base64.hpp"

#include <gtest/gtest.h>

namespace aas {
namespace {

TEST(Base64, RoundTripsAndMatchesRfc4648Vectors) {
  for (const auto& [plain, encoded] : std::initializer_list<std::pair<std::string_view, std::string_view>>{
           {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
           {"foobar", "Zm9vYmFy"}}) {
    EXPECT_EQ(base64_encode(plain), encoded);
    EXPECT_EQ(base64_decode(encoded), std::string(plain));
  }
  const std::string binary("\x00\xff\x10\x80", 4);
  EXPECT_EQ(base64_decode(base64_encode(binary)), binary);
}

TEST(Base64, RefusesAnythingButCanonicalPaddedText) {
  for (std::string_view bad : {"Zg", "Zg=", "Z===", "Zm9v!A==", "Zm 9v", " Zm9v", "Zm9v\n", "=Zm9", "Zm=v"})
    EXPECT_FALSE(base64_decode(bad)) << bad;
}

}  // namespace
}  // namespace aas
