#include "realtime/socketio/engine_protocol.hpp"

#include <openssl/evp.h>

namespace aas::realtime::engineio {

namespace {

constexpr char kSeparator = '\x1e';

bool known_type(char c) { return c >= '0' && c <= '6'; }

}  // namespace

std::optional<Packet> decode_frame(std::string_view frame, bool binary_frame) {
  if (binary_frame) return Packet{PacketType::message, std::string(frame), true};
  if (frame.empty() || !known_type(frame.front())) return std::nullopt;
  return Packet{static_cast<PacketType>(frame.front()), std::string(frame.substr(1)), false};
}

std::string encode_frame(const Packet& packet) {
  if (packet.binary) return packet.data;
  std::string out;
  out.reserve(packet.data.size() + 1);
  out.push_back(static_cast<char>(packet.type));
  out += packet.data;
  return out;
}

std::optional<std::vector<Packet>> decode_payload(std::string_view body) {
  std::vector<Packet> packets;
  for (;;) {
    const std::size_t end = body.find(kSeparator);
    const std::string_view part = body.substr(0, end);
    if (!part.empty() && part.front() == 'b') {
      auto bytes = base64_decode(part.substr(1));
      if (!bytes) return std::nullopt;
      packets.push_back({PacketType::message, std::move(*bytes), true});
    } else {
      auto packet = decode_frame(part, false);
      if (!packet) return std::nullopt;
      packets.push_back(std::move(*packet));
    }
    if (end == std::string_view::npos) break;
    body.remove_prefix(end + 1);
  }
  return packets;
}

std::string encode_payload(const std::vector<Packet>& packets) {
  std::string out;
  for (const Packet& p : packets) {
    if (!out.empty()) out.push_back(kSeparator);
    if (p.binary) {
      out.push_back('b');
      out += base64_encode(p.data);
    } else {
      out += encode_frame(p);
    }
  }
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out(3 * (text.size() / 4), '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding as decoded zero bytes.
  std::size_t size = static_cast<std::size_t>(n);
  for (std::size_t i = text.size(); i > 0 && text[i - 1] == '=' && size > 0; --i) --size;
  out.resize(size);
  return out;
}

}  // namespace aas::realtime::engineio
