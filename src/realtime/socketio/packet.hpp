#pragma once
// Socket.IO protocol 5 (socketio/socket.io-protocol) packets, carried in Engine.IO messages:
//   <type>[<attachments>-][<namespace>,][<ack id>][<JSON payload>]
// e.g. 2["hello",1], 42/chat,17["ask",{"q":"…"}], 51-["upload",{"_placeholder":true,"num":0}].
// A binary packet's attachments follow it as Engine.IO binary messages; the placeholders stay in
// `data` and the bytes travel beside it (Message::attachments), which is all a relay or an echo
// needs. Pure functions, checked like the reference parser (socket.io-parser) checks them.
#include <boost/json/value.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace aas::realtime::socketio {

enum class PacketType {
  connect = 0,
  disconnect = 1,
  event = 2,
  ack = 3,
  connect_error = 4,
  binary_event = 5,
  binary_ack = 6,
};

struct Packet {
  PacketType type = PacketType::event;
  std::string nsp = "/";
  std::optional<std::uint64_t> id;  // ack id
  boost::json::value data;          // null when absent
  std::size_t attachments = 0;      // binary packets: how many binary messages follow
};

// Most attachments one packet may announce (each is a message of up to maxPayload bytes).
inline constexpr std::size_t kMaxAttachments = 16;

// nullopt for a malformed packet: unknown type, bad attachment count or ack id, invalid JSON, or
// a payload of the wrong shape for its type (an event must be a non-empty array whose first
// element is a name that is not reserved; a CONNECT payload an object; DISCONNECT none; …).
std::optional<Packet> decode(std::string_view text);
std::string encode(const Packet& packet);
// Appends the encoding to `out` (after an Engine.IO type digit, say).
void encode_to(const Packet& packet, std::string& out);
// Appends an EVENT packet (no ack id, no attachments) whose arguments after the name are already
// JSON text, comma-separated: the same bytes as encode_to() of the parsed packet, without
// building it.
void encode_event_to(std::string& out, std::string_view nsp, std::string_view event, std::string_view args_json);

}  // namespace aas::realtime::socketio
