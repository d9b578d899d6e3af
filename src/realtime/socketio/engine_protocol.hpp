#pragma once
// Engine.IO protocol 4 (socketio/engine.io-protocol): the packets of one connection, as WebSocket
// frames and as HTTP long-polling payloads. Pure functions; engine.hpp does the I/O.
//
// Written here because no C++ implementation of Engine.IO / Socket.IO is packaged in Debian (the
// C++ socket.io-client is a client only and not packaged either); the protocol is small and the
// official test suites check this one (tests/socketio-protocol/).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aas::realtime::engineio {

enum class PacketType : char {
  open = '0',
  close = '1',
  ping = '2',
  pong = '3',
  message = '4',
  upgrade = '5',
  noop = '6',
};

struct Packet {
  PacketType type = PacketType::message;
  std::string data;     // a message's payload, "probe" for the upgrade's ping and pong
  bool binary = false;  // a binary message (type message)
};

// A WebSocket frame: a text frame is the type digit and its data; a binary frame is a binary
// message. nullopt for anything else (unknown type, empty frame).
std::optional<Packet> decode_frame(std::string_view frame, bool binary_frame);
// The frame of a packet; binary messages go out as binary frames (the raw bytes).
std::string encode_frame(const Packet& packet);

// An HTTP long-polling body: packets separated by the record separator 0x1e, binary messages as
// "b" + base64. nullopt when any packet is malformed.
std::optional<std::vector<Packet>> decode_payload(std::string_view body);
std::string encode_payload(const std::vector<Packet>& packets);

std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace aas::realtime::engineio
