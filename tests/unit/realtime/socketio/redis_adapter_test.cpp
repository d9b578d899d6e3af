#include "realtime/socketio/redis_adapter.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

namespace aas::realtime::socketio {
namespace {

namespace json = boost::json;

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

// What @socket.io/redis-emitter publishes for io.to("r").emit("hi") (notepack.io's msgpack):
// ["emitter", {type: 2, data: ["hi"], nsp: "/"}, {rooms: ["r"], flags: {}, except: []}]
const std::string kEmitterMessage =
    bytes({0x93, 0xa7}) + "emitter" + bytes({0x83, 0xa4}) + "type" + bytes({0x02, 0xa4}) + "data" +
    bytes({0x91, 0xa2}) + "hi" + bytes({0xa3}) + "nsp" + bytes({0xa1}) + "/" + bytes({0x83, 0xa5}) + "rooms" +
    bytes({0x91, 0xa1}) + "r" + bytes({0xa5}) + "flags" + bytes({0x80, 0xa6}) + "except" + bytes({0x90});

TEST(SocketIoRedisAdapter, DecodesWhatTheEmitterPublishes) {
  auto m = decode_redis_message(kEmitterMessage);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->uid, "emitter");
  EXPECT_EQ(m->packet.type, PacketType::event);
  EXPECT_EQ(m->packet.nsp, "/");
  EXPECT_EQ(json::serialize(m->packet.data), R"(["hi"])");
  EXPECT_EQ(m->to.rooms, std::vector<std::string>{"r"});
  EXPECT_TRUE(m->to.except.empty());
}

TEST(SocketIoRedisAdapter, EncodesTheAdapterFormat) {
  Packet p{PacketType::event, "/", std::nullopt, json::array{"hi"}, 0};
  const std::string encoded = encode_redis_message("emitter", p, Broadcast{{"r"}, {}});
  // Same values as the emitter's; only the order of the option keys differs (rooms, except, flags).
  const std::string expected =
      bytes({0x93, 0xa7}) + "emitter" + bytes({0x83, 0xa4}) + "type" + bytes({0x02, 0xa4}) + "data" +
      bytes({0x91, 0xa2}) + "hi" + bytes({0xa3}) + "nsp" + bytes({0xa1}) + "/" + bytes({0x83, 0xa5}) + "rooms" +
      bytes({0x91, 0xa1}) + "r" + bytes({0xa6}) + "except" + bytes({0x90, 0xa5}) + "flags" + bytes({0x80});
  EXPECT_EQ(encoded, expected);
}

TEST(SocketIoRedisAdapter, RoundTripsEveryJsonKind) {
  Packet p{PacketType::event, "/", std::nullopt,
           json::array{"ai-message", json::object{{"n", -5}, {"big", 1ull << 40}, {"pi", 3.5}, {"ok", true},
                                                  {"none", nullptr}, {"list", json::array{1, "two"}},
                                                  {"text", std::string(300, 'x')}}},
           0};
  auto m = decode_redis_message(encode_redis_message("abc123", p, Broadcast{{"user:1", "user:2"}, {"sock"}}));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->uid, "abc123");
  EXPECT_EQ(m->packet.data, p.data);
  EXPECT_EQ(m->to.rooms, (std::vector<std::string>{"user:1", "user:2"}));
  EXPECT_EQ(m->to.except, std::vector<std::string>{"sock"});
}

TEST(SocketIoRedisAdapter, RefusesWhatIsNotABroadcast) {
  EXPECT_FALSE(decode_redis_message(""));
  EXPECT_FALSE(decode_redis_message("garbage"));
  EXPECT_FALSE(decode_redis_message(kEmitterMessage.substr(0, kEmitterMessage.size() - 3)));  // truncated
  Packet connect{PacketType::connect, "/", std::nullopt, json::object{}, 0};
  EXPECT_FALSE(decode_redis_message(encode_redis_message("x", connect, {})));
}

// A small msgpack writer for the shapes below (fixarray, fixmap, fixstr, small ints, nil, bool): what
// another process could publish, well-formed msgpack of the wrong shape included.
void pack(std::string& out, const json::value& v) {
  switch (v.kind()) {
    case json::kind::array:
      out.push_back(static_cast<char>(0x90 + v.get_array().size()));
      for (const auto& e : v.get_array()) pack(out, e);
      break;
    case json::kind::object:
      out.push_back(static_cast<char>(0x80 + v.get_object().size()));
      for (const auto& [k, e] : v.get_object()) {
        pack(out, json::string(k));
        pack(out, e);
      }
      break;
    case json::kind::string:
      out.push_back(static_cast<char>(0xa0 + v.get_string().size()));
      out += v.get_string();
      break;
    case json::kind::bool_: out.push_back(v.get_bool() ? '\xc3' : '\xc2'); break;
    case json::kind::null: out.push_back('\xc0'); break;
    default: out.push_back(static_cast<char>(v.to_number<int>()));  // 0..127
  }
}
std::string packed(std::string_view json_text) {
  std::string out;
  pack(out, json::parse(json_text));
  return out;
}

TEST(SocketIoRedisAdapter, RefusesMessagesOfTheWrongShapeAndDefaultsWhatMayBeLeftOut) {
  for (const char* bad : {
           R"(["u", {"type": 2, "data": ["x"]}])",                               // no options
           R"([1, {"type": 2, "data": ["x"]}, {}])",                             // uid not a string
           R"(["u", 2, {}])",                                                    // packet not an object
           R"(["u", {"type": 2, "data": ["x"]}, 3])",                            // options not an object
           R"(["u", {"data": ["x"]}, {}])",                                      // no type
           R"(["u", {"type": "2", "data": ["x"]}, {}])",                         // type not a number
           R"(["u", {"type": 2}, {}])",                                          // no data
           R"(["u", {"type": 2, "data": "x"}, {}])",                             // data not an array
           R"(["u", {"type": 2, "data": []}, {}])",                              // no event name
           R"(["u", {"type": 3, "data": ["x"]}, {}])",                           // an ack, not an event
           R"(["u", {"type": 2, "data": ["x"]}, {"rooms": "r"}])",               // rooms not a list
           R"(["u", {"type": 2, "data": ["x"]}, {"rooms": [true]}])",            // a room not a name
           R"(["u", {"type": 2, "data": ["x"]}, {"except": [null]}])",           // an exception not a name
       }) {
    EXPECT_FALSE(decode_redis_message(packed(bad))) << bad;
  }
  // nsp, rooms and except may be left out or null; numeric rooms are names; a binary event's
  // bytes do not cross, it arrives as an event.
  auto m = decode_redis_message(packed(R"(["u", {"type": 5, "data": ["x"], "nsp": 1}, {"rooms": [7], "except": null}])"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->packet.type, PacketType::event);
  EXPECT_EQ(m->packet.nsp, "/");
  EXPECT_EQ(m->to.rooms, std::vector<std::string>{"7"});
  EXPECT_TRUE(m->to.except.empty());
  m = decode_redis_message(packed(R"(["u", {"type": 2, "data": ["x"], "nsp": "/chat"}, {}])"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->packet.nsp, "/chat");
  EXPECT_TRUE(m->to.rooms.empty());
}

TEST(SocketIoRedisAdapter, PublishesOnTheRoomChannelForExactlyOneRoom) {
  EXPECT_EQ(redis_channel("socket.io", "/", Broadcast{{"user:7"}, {}}), "socket.io#/#user:7#");
  EXPECT_EQ(redis_channel("socket.io", "/", Broadcast{{"a", "b"}, {}}), "socket.io#/#");
  EXPECT_EQ(redis_channel("todo", "/", Broadcast{}), "todo#/#");
}

}  // namespace
}  // namespace aas::realtime::socketio
