#include "store/cursor.hpp"

#include "core/ids.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace aas::store {

TEST(Cursor, ConversationCursorRoundTrips) {
  const std::string id = new_uuid_v7();
  const std::string encoded = encode_conversation_cursor(1790000000123, id);
  auto decoded = decode_conversation_cursor(encoded);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->updated_at_ms, 1790000000123);
  EXPECT_EQ(decoded->id, id);

  auto zero = decode_conversation_cursor(encode_conversation_cursor(0, id));
  ASSERT_TRUE(zero);
  EXPECT_EQ(zero->updated_at_ms, 0);
}

TEST(Cursor, ConversationCursorAcceptsOnlyItsOwnForm) {
  const std::string id = "01890a5d-ac96-774b-bcce-b302099a8057";
  ASSERT_TRUE(decode_conversation_cursor("123:" + id));
  const std::vector<std::string> bads{
      "",
      id,          // no time
      "123:",      // no id
      ":" + id,    // empty time
      "-1:" + id,  // sign
      "+1:" + id,
      "0123:" + id,  // leading zero: not what encode writes
      "12a:" + id,
      "99999999999999999999:" + id,  // overflows int64
      "123:" + id + "0",
      "123:" + id.substr(1),
      "123:01890A5D-AC96-774B-BCCE-B302099A8057",  // uppercase sorts differently
      "123:01890a5d_ac96-774b-bcce-b302099a8057",
      "123:" + id + ":5",
      " 123:" + id,
  };
  for (const auto& bad : bads) EXPECT_FALSE(decode_conversation_cursor(bad)) << bad;
}

TEST(Cursor, MessageCursorIsACanonicalId) {
  const std::string id = new_uuid_v7();
  auto decoded = decode_message_cursor(encode_message_cursor(id));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(*decoded, id);
  EXPECT_FALSE(decode_message_cursor(""));
  EXPECT_FALSE(decode_message_cursor("not-a-cursor"));
  EXPECT_FALSE(decode_message_cursor("01890A5D-AC96-774B-BCCE-B302099A8057"));
  EXPECT_FALSE(decode_message_cursor(id + " "));
  EXPECT_FALSE(decode_message_cursor("123:" + id));
}

}  // namespace aas::store
