#include "realtime/socketio/packet.hpp"

#include "core/json_numbers.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

namespace aas::realtime::socketio {

namespace {

namespace json = boost::json;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// The names socket.io reserves for its own events.
bool reserved_event(std::string_view name) {
  static constexpr std::array<std::string_view, 6> kReserved = {
      "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"};
  return std::find(kReserved.begin(), kReserved.end(), name) != kReserved.end();
}

bool payload_valid(PacketType type, const json::value& data, bool present) {
  switch (type) {
    case PacketType::connect:
      return !present || data.is_object();
    case PacketType::disconnect:
      return !present;
    case PacketType::connect_error:
      return present && (data.is_string() || data.is_object());
    case PacketType::event:
    case PacketType::binary_event: {
      if (!present || !data.is_array() || data.as_array().empty()) return false;
      const json::value& name = data.as_array().front();
      if (name.is_number()) return true;
      return name.is_string() && !reserved_event(name.as_string());
    }
    case PacketType::ack:
    case PacketType::binary_ack:
      return present && data.is_array();
  }
  return false;
}

template <class T>
std::optional<T> parse_number(std::string_view digits) {
  T value{};
  const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || ptr != digits.data() + digits.size()) return std::nullopt;
  return value;
}

}  // namespace

std::optional<Packet> decode(std::string_view text) {
  if (text.empty() || text.front() < '0' || text.front() > '6') return std::nullopt;
  Packet p;
  p.type = static_cast<PacketType>(text.front() - '0');
  std::size_t i = 1;

  if (p.type == PacketType::binary_event || p.type == PacketType::binary_ack) {
    const std::size_t start = i;
    while (i < text.size() && is_digit(text[i])) ++i;
    if (i == start || i >= text.size() || text[i] != '-') return std::nullopt;
    const auto count = parse_number<std::size_t>(text.substr(start, i - start));
    if (!count || *count > kMaxAttachments) return std::nullopt;
    p.attachments = *count;
    ++i;  // '-'
  }

  if (i < text.size() && text[i] == '/') {
    const std::size_t comma = text.find(',', i);
    const std::size_t end = comma == std::string_view::npos ? text.size() : comma;
    p.nsp = std::string(text.substr(i, end - i));
    i = comma == std::string_view::npos ? text.size() : comma + 1;
  }

  if (i < text.size() && is_digit(text[i])) {
    const std::size_t start = i;
    while (i < text.size() && is_digit(text[i])) ++i;
    // More digits than any 64-bit id: refused rather than wrapped.
    p.id = parse_number<std::uint64_t>(text.substr(start, i - start));
    if (!p.id) return std::nullopt;
  }

  const bool present = i < text.size();
  if (present) {
    boost::system::error_code ec;
    p.data = json::parse(text.substr(i), ec);
    // 1e999 parses as infinity, which encode() would write as `Infinity` (not JSON) to every
    // socket the event is relayed to.
    if (ec || has_non_finite_number(p.data)) return std::nullopt;
  }
  if (!payload_valid(p.type, p.data, present)) return std::nullopt;
  return p;
}

std::string encode(const Packet& packet) {
  std::string out;
  encode_to(packet, out);
  return out;
}

void encode_to(const Packet& packet, std::string& out) {
  out.push_back(static_cast<char>('0' + static_cast<int>(packet.type)));
  if (packet.type == PacketType::binary_event || packet.type == PacketType::binary_ack) {
    out += std::to_string(packet.attachments);
    out.push_back('-');
  }
  if (packet.nsp != "/") {
    out += packet.nsp;
    out.push_back(',');
  }
  if (packet.id) out += std::to_string(*packet.id);
  if (!packet.data.is_null()) out += json::serialize(packet.data);
}

void encode_event_to(std::string& out, std::string_view nsp, std::string_view event, std::string_view args_json) {
  out.push_back('0' + static_cast<int>(PacketType::event));
  if (nsp != "/") {
    out += nsp;
    out.push_back(',');
  }
  out.push_back('[');
  out += json::serialize(json::string_view(event.data(), event.size()));
  if (!args_json.empty()) {
    out.push_back(',');
    out += args_json;
  }
  out.push_back(']');
}

}  // namespace aas::realtime::socketio
