#include "realtime/socketio/redis_adapter.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <openssl/rand.h>

#define MP_SOURCE 1  // msgpuck's functions are defined in this one translation unit
#include <msgpuck.h>

#include <cstring>

namespace aas::realtime::socketio {

namespace json = boost::json;

namespace {

constexpr int kMaxDepth = 32;

void append_header(std::string& out, char* (*encode)(char*, std::uint32_t), std::uint32_t n) {
  char buf[9];
  out.append(buf, static_cast<std::size_t>(encode(buf, n) - buf));
}

void encode_value(std::string& out, const json::value& v) {
  char buf[16];
  switch (v.kind()) {
    case json::kind::null:
      out.append(buf, static_cast<std::size_t>(mp_encode_nil(buf) - buf));
      break;
    case json::kind::bool_:
      out.append(buf, static_cast<std::size_t>(mp_encode_bool(buf, v.get_bool()) - buf));
      break;
    case json::kind::int64: {
      const std::int64_t i = v.get_int64();
      char* end = i >= 0 ? mp_encode_uint(buf, static_cast<std::uint64_t>(i)) : mp_encode_int(buf, i);
      out.append(buf, static_cast<std::size_t>(end - buf));
      break;
    }
    case json::kind::uint64:
      out.append(buf, static_cast<std::size_t>(mp_encode_uint(buf, v.get_uint64()) - buf));
      break;
    case json::kind::double_:
      out.append(buf, static_cast<std::size_t>(mp_encode_double(buf, v.get_double()) - buf));
      break;
    case json::kind::string:
      append_header(out, mp_encode_strl, static_cast<std::uint32_t>(v.get_string().size()));
      out.append(v.get_string().data(), v.get_string().size());
      break;
    case json::kind::array:
      append_header(out, mp_encode_array, static_cast<std::uint32_t>(v.get_array().size()));
      for (const auto& e : v.get_array()) encode_value(out, e);
      break;
    case json::kind::object:
      append_header(out, mp_encode_map, static_cast<std::uint32_t>(v.get_object().size()));
      for (const auto& [k, e] : v.get_object()) {
        append_header(out, mp_encode_strl, static_cast<std::uint32_t>(k.size()));
        out.append(k.data(), k.size());
        encode_value(out, e);
      }
      break;
  }
}

// After mp_check: the bytes are one well-formed value.
std::optional<json::value> decode_value(const char** p, int depth) {
  if (depth > kMaxDepth) return std::nullopt;
  switch (mp_typeof(**p)) {
    case MP_NIL:
      mp_decode_nil(p);
      return json::value(nullptr);
    case MP_BOOL:
      return json::value(mp_decode_bool(p));
    case MP_UINT:
      return json::value(mp_decode_uint(p));
    case MP_INT:
      return json::value(mp_decode_int(p));
    case MP_FLOAT:
      return json::value(static_cast<double>(mp_decode_float(p)));
    case MP_DOUBLE:
      return json::value(mp_decode_double(p));
    case MP_STR: {
      std::uint32_t len = 0;
      const char* s = mp_decode_str(p, &len);
      return json::value(json::string_view(s, len));
    }
    case MP_ARRAY: {
      const std::uint32_t n = mp_decode_array(p);
      json::array a;
      a.reserve(n);
      for (std::uint32_t i = 0; i < n; ++i) {
        auto e = decode_value(p, depth + 1);
        if (!e) return std::nullopt;
        a.push_back(std::move(*e));
      }
      return json::value(std::move(a));
    }
    case MP_MAP: {
      const std::uint32_t n = mp_decode_map(p);
      json::object o;
      for (std::uint32_t i = 0; i < n; ++i) {
        if (mp_typeof(**p) != MP_STR) return std::nullopt;
        std::uint32_t len = 0;
        const char* k = mp_decode_str(p, &len);
        auto e = decode_value(p, depth + 1);
        if (!e) return std::nullopt;
        o[json::string_view(k, len)] = std::move(*e);
      }
      return json::value(std::move(o));
    }
    case MP_BIN:
    case MP_EXT:
      mp_next(p);  // binaries do not cross (see the header)
      return json::value(nullptr);
  }
  return std::nullopt;
}

json::array strings(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

std::optional<std::vector<std::string>> strings_of(const json::object& o, std::string_view key) {
  std::vector<std::string> out;
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return out;
  if (!v->is_array()) return std::nullopt;
  for (const auto& e : v->get_array()) {
    if (e.is_string()) out.emplace_back(e.get_string());
    else if (e.is_number()) out.push_back(json::serialize(e));  // socket.io allows numeric rooms
    else return std::nullopt;
  }
  return out;
}

std::string new_uid() {
  unsigned char bytes[6];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("RAND_bytes failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (unsigned char b : bytes) {
    id.push_back(kHex[b >> 4]);
    id.push_back(kHex[b & 15]);
  }
  return id;
}

}  // namespace

std::string encode_redis_message(std::string_view uid, const Packet& packet, const Broadcast& to) {
  json::object p{{"type", static_cast<int>(packet.type)}, {"data", packet.data}, {"nsp", packet.nsp}};
  json::object opts{{"rooms", strings(to.rooms)}, {"except", strings(to.except)}, {"flags", json::object{}}};
  std::string out;
  append_header(out, mp_encode_array, 3);
  encode_value(out, json::value(json::string_view(uid.data(), uid.size())));
  encode_value(out, p);
  encode_value(out, opts);
  return out;
}

std::optional<RedisMessage> decode_redis_message(std::string_view bytes) {
  const char* p = bytes.data();
  const char* check = p;
  if (bytes.empty() || mp_check(&check, bytes.data() + bytes.size()) != 0) return std::nullopt;
  auto v = decode_value(&p, 0);
  if (!v || !v->is_array() || v->get_array().size() < 3) return std::nullopt;
  const json::array& a = v->get_array();
  if (!a[0].is_string() || !a[1].is_object() || !a[2].is_object()) return std::nullopt;
  const json::object& packet = a[1].get_object();
  const json::object& opts = a[2].get_object();
  RedisMessage m;
  m.uid = std::string(a[0].get_string());
  const json::value* type = packet.if_contains("type");
  const json::value* data = packet.if_contains("data");
  if (!type || !type->is_number() || !data) return std::nullopt;
  const auto t = type->to_number<int>();
  // Only events are broadcast (a binary event's bytes do not cross: it arrives as an event).
  if (t != static_cast<int>(PacketType::event) && t != static_cast<int>(PacketType::binary_event)) return std::nullopt;
  m.packet.type = PacketType::event;
  m.packet.data = *data;
  if (!m.packet.data.is_array() || m.packet.data.get_array().empty()) return std::nullopt;
  const json::value* nsp = packet.if_contains("nsp");
  m.packet.nsp = nsp && nsp->is_string() ? std::string(nsp->get_string()) : "/";
  auto rooms = strings_of(opts, "rooms");
  auto except = strings_of(opts, "except");
  if (!rooms || !except) return std::nullopt;
  m.to.rooms = std::move(*rooms);
  m.to.except = std::move(*except);
  return m;
}

std::string redis_channel(std::string_view key, std::string_view nsp, const Broadcast& to) {
  std::string channel = std::string(key) + "#" + std::string(nsp) + "#";
  if (to.rooms.size() == 1) channel += to.rooms.front() + "#";
  return channel;
}

RedisAdapter::RedisAdapter(Server& server, redis::Client& redis, std::string key,
                           const boost::asio::any_io_executor& blocking)
    : server_(server),
      redis_(redis),
      key_(std::move(key)),
      uid_(new_uid()),
      strand_(boost::asio::make_strand(blocking)) {
  const std::string prefix = key_ + "#/#";
  subscriber_ = std::make_unique<redis::Subscriber>(
      redis_.options(), std::vector<std::string>{prefix + "*"},
      [this, prefix](const std::string& channel, const std::string& payload) {
        if (!channel.starts_with(prefix)) return;
        auto m = decode_redis_message(payload);
        if (!m) {
          spdlog::debug("socket.io redis adapter: an undecodable message on {}", channel);
          return;
        }
        if (m->uid == uid_ || m->packet.nsp != "/") return;
        server_.deliver(m->packet, {}, m->to);
      },
      /*patterns=*/true);
}

RedisAdapter::~RedisAdapter() { subscriber_.reset(); }

void RedisAdapter::publish(const Packet& packet, const std::vector<std::string>& attachments, const Broadcast& to) {
  if (!attachments.empty()) {
    spdlog::warn("socket.io redis adapter: a broadcast with binary attachments stays in this process");
    return;
  }
  boost::asio::post(strand_, [this, channel = redis_channel(key_, packet.nsp, to),
                              message = encode_redis_message(uid_, packet, to)] {
    if (auto r = redis_.command({"PUBLISH", channel, message}); !r)
      spdlog::warn("socket.io redis adapter: publish failed ({}); the broadcast reached this replica only",
                   r.error().detail);
  });
}

bool RedisAdapter::subscribed() const { return subscriber_ && subscriber_->subscribed(); }

}  // namespace aas::realtime::socketio
