#include "realtime/socketio/engine_protocol.hpp"

#include <gtest/gtest.h>

namespace aas::realtime::engineio {
namespace {

TEST(EngineProtocol, DecodesTextAndBinaryFrames) {
  auto p = decode_frame("4hello", false);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->type, PacketType::message);
  EXPECT_EQ(p->data, "hello");
  EXPECT_FALSE(p->binary);

  auto probe = decode_frame("2probe", false);
  ASSERT_TRUE(probe);
  EXPECT_EQ(probe->type, PacketType::ping);
  EXPECT_EQ(probe->data, "probe");

  auto bin = decode_frame(std::string("\x01\x02\x03", 3), true);
  ASSERT_TRUE(bin);
  EXPECT_TRUE(bin->binary);
  EXPECT_EQ(bin->data, std::string("\x01\x02\x03", 3));
}

TEST(EngineProtocol, RefusesUnknownTypesAndEmptyFrames) {
  EXPECT_FALSE(decode_frame("abc", false));
  EXPECT_FALSE(decode_frame("7", false));
  EXPECT_FALSE(decode_frame("", false));
}

TEST(EngineProtocol, EncodesFrames) {
  EXPECT_EQ(encode_frame({PacketType::pong, "probe", false}), "3probe");
  EXPECT_EQ(encode_frame({PacketType::message, "hi", false}), "4hi");
  EXPECT_EQ(encode_frame({PacketType::message, "\x01", true}), "\x01");
}

TEST(EngineProtocol, PayloadRoundTripWithBinary) {
  const std::string body = "4hello\x1e" "bAQIDBA==\x1e" "2";
  auto packets = decode_payload(body);
  ASSERT_TRUE(packets);
  ASSERT_EQ(packets->size(), 3u);
  EXPECT_EQ((*packets)[0].data, "hello");
  EXPECT_TRUE((*packets)[1].binary);
  EXPECT_EQ((*packets)[1].data, std::string("\x01\x02\x03\x04", 4));
  EXPECT_EQ((*packets)[2].type, PacketType::ping);
  EXPECT_EQ(encode_payload(*packets), body);
}

TEST(EngineProtocol, RefusesAMalformedPayload) {
  EXPECT_FALSE(decode_payload("4ok\x1e" "x"));
  EXPECT_FALSE(decode_payload("b!!!!"));
  EXPECT_FALSE(decode_payload("bAQIDB"));  // not a multiple of 4
  EXPECT_FALSE(decode_payload(""));
}

TEST(EngineProtocol, Base64KeepsEveryLength) {
  for (std::string s : {"", "a", "ab", "abc", "abcd"}) {
    auto back = base64_decode(base64_encode(s));
    ASSERT_TRUE(back) << s;
    EXPECT_EQ(*back, s);
  }
}

}  // namespace
}  // namespace aas::realtime::engineio
