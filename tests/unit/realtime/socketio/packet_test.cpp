#include "realtime/socketio/packet.hpp"

#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

namespace aas::realtime::socketio {
namespace {

namespace json = boost::json;

TEST(SocketIoPacket, DecodesConnectToNamespacesWithAndWithoutPayload) {
  auto main = decode("0");
  ASSERT_TRUE(main);
  EXPECT_EQ(main->type, PacketType::connect);
  EXPECT_EQ(main->nsp, "/");
  EXPECT_TRUE(main->data.is_null());

  auto custom = decode(R"(0/custom,{"token":"abc"})");
  ASSERT_TRUE(custom);
  EXPECT_EQ(custom->nsp, "/custom");
  EXPECT_EQ(json::serialize(custom->data), R"({"token":"abc"})");

  auto no_comma = decode("0/random");  // as the protocol suite sends it
  ASSERT_TRUE(no_comma);
  EXPECT_EQ(no_comma->nsp, "/random");
}

TEST(SocketIoPacket, DecodesEventsWithAckIds) {
  auto p = decode(R"(2456["message-with-ack",1,"2",{"3":[false]}])");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->type, PacketType::event);
  ASSERT_TRUE(p->id);
  EXPECT_EQ(*p->id, 456u);
  EXPECT_EQ(p->data.as_array().size(), 4u);
}

TEST(SocketIoPacket, DecodesBinaryEventsWithTheirAttachmentCount) {
  auto p = decode(R"(52-/chat,789["m",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}])");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->type, PacketType::binary_event);
  EXPECT_EQ(p->attachments, 2u);
  EXPECT_EQ(p->nsp, "/chat");
  EXPECT_EQ(*p->id, 789u);
}

TEST(SocketIoPacket, RefusesMalformedPackets) {
  EXPECT_FALSE(decode(""));
  EXPECT_FALSE(decode("abc"));                       // unknown type
  EXPECT_FALSE(decode("7"));                         // unknown type
  EXPECT_FALSE(decode("2{}"));                       // an event must be an array
  EXPECT_FALSE(decode("2[]"));                       // … with a name
  EXPECT_FALSE(decode(R"(2["disconnect"])"));        // … that is not reserved
  EXPECT_FALSE(decode(R"(2abc["message",1])"));      // invalid ack id
  EXPECT_FALSE(decode(R"(2["message",)"));           // invalid JSON
  EXPECT_FALSE(decode(R"(0"token")"));               // CONNECT payload must be an object
  EXPECT_FALSE(decode(R"(1{})"));                    // DISCONNECT takes none
  EXPECT_FALSE(decode(R"(5["m"])"));                 // binary without a count
  EXPECT_FALSE(decode(R"(599-["m"])"));              // too many attachments
  EXPECT_FALSE(decode(R"(299999999999999999999999["m"])"));  // id beyond 64 bits
  EXPECT_FALSE(decode(R"(3{})"));                    // an ack must be an array
}

// Found by tests/fuzz/socketio_packet: 1e999 decoded as infinity, which encode() wrote as
// `Infinity` — not JSON — to every socket the event was relayed to.
TEST(SocketIoPacket, RefusesNumbersThatAreNotFiniteDoubles) {
  EXPECT_FALSE(decode(R"(2["ev",1e999])"));
  EXPECT_FALSE(decode(R"(2/chat,7["ev",{"a":[-1e400]}])"));
  EXPECT_FALSE(decode(R"(2[55555515511508E0107918,1])"));
  const auto finite = decode(R"(2["ev",1.7976931348623157e308])");
  ASSERT_TRUE(finite);
  EXPECT_TRUE(decode(encode(*finite)));
}

TEST(SocketIoPacket, EncodesAsTheReferenceServerDoes) {
  Packet connect{PacketType::connect, "/custom", std::nullopt, json::object{{"sid", "abc"}}, 0};
  EXPECT_EQ(encode(connect), R"(0/custom,{"sid":"abc"})");

  Packet error{PacketType::connect_error, "/random", std::nullopt, json::object{{"message", "Invalid namespace"}}, 0};
  EXPECT_EQ(encode(error), R"(4/random,{"message":"Invalid namespace"})");

  Packet ack{PacketType::binary_ack, "/", 789, json::array{json::object{{"_placeholder", true}, {"num", 0}}}, 1};
  EXPECT_EQ(encode(ack), R"(61-789[{"_placeholder":true,"num":0}])");

  Packet disconnect{PacketType::disconnect, "/", std::nullopt, nullptr, 0};
  EXPECT_EQ(encode(disconnect), "1");
}

TEST(SocketIoPacket, RoundTrips) {
  const std::string text = R"(2/admin,12["ai:chat",{"message":"hi"}])";
  auto p = decode(text);
  ASSERT_TRUE(p);
  EXPECT_EQ(encode(*p), text);
}

}  // namespace
}  // namespace aas::realtime::socketio
