#include "chat/chat_service.hpp"

#include <gtest/gtest.h>

namespace aas::chat {

TEST(Text, CountsCodePointsNotBytes) {
  EXPECT_EQ(count_code_points(""), 0u);
  EXPECT_EQ(count_code_points("abc"), 3u);
  EXPECT_EQ(count_code_points("héllo"), 5u);
  EXPECT_EQ(count_code_points("日本語"), 3u);
  EXPECT_EQ(count_code_points("👍"), 1u);
}

TEST(Text, Utf8Validation) {
  EXPECT_TRUE(is_valid_utf8("plain ascii"));
  EXPECT_TRUE(is_valid_utf8("日本語 👍"));
  EXPECT_FALSE(is_valid_utf8("\xff"));
  EXPECT_FALSE(is_valid_utf8("\xc3"));              // truncated
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
}

TEST(Text, Blank) {
  EXPECT_TRUE(is_blank(""));
  EXPECT_TRUE(is_blank(" \t\r\n"));
  EXPECT_FALSE(is_blank("  x "));
}

TEST(Text, TitleIsTheFirstLineTrimmedToEightyCodePoints) {
  EXPECT_EQ(title_from_message("  Plan my week \nwith details"), "Plan my week");
  EXPECT_EQ(title_from_message(std::string(80, 'a')), std::string(80, 'a'));
  const std::string long_title = title_from_message(std::string(100, 'b'));
  EXPECT_EQ(count_code_points(long_title), 80u);
  EXPECT_EQ(long_title, std::string(79, 'b') + "…");
  // Never cuts inside a multi-byte character.
  std::string cjk;
  for (int i = 0; i < 100; ++i) cjk += "語";
  const std::string t = title_from_message(cjk);
  EXPECT_TRUE(is_valid_utf8(t));
  EXPECT_EQ(count_code_points(t), 80u);
}

}  // namespace aas::chat
