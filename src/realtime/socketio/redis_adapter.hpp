#pragma once
// Socket.IO's Redis adapter, wire-compatible with @socket.io/redis-adapter 8 and
// @socket.io/redis-emitter 5, so that this service, its replicas and the monolith's own Socket.IO
// servers (with the redis adapter) share rooms: a broadcast here reaches their sockets, theirs
// reach ours. Each broadcast is one PUBLISH of msgpack
//   [uid, {type: 2, data: [event, ...args], nsp}, {rooms: [...], except: [...], flags: {}}]
// on "<key>#<nsp>#", or "<key>#<nsp>#<room>#" when it names exactly one room; every node
// PSUBSCRIBEs "<key>#<nsp>#*" and drops its own messages (same uid). Binary attachments do not
// cross (this service sends none; received binaries arrive as null). msgpack is libmsgpuck
// (Debian's libmsgpuck-dev; libmsgpack-cxx-dev would pull Boost 1.74 in against our 1.81).
#include "realtime/socketio/packet.hpp"
#include "realtime/socketio/server.hpp"
#include "redis/client.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace aas::realtime::socketio {

struct RedisMessage {
  std::string uid;
  Packet packet;
  Broadcast to;
};

// The wire format, pure (tests/unit/realtime/socketio/redis_adapter_test.cpp).
std::string encode_redis_message(std::string_view uid, const Packet& packet, const Broadcast& to);
std::optional<RedisMessage> decode_redis_message(std::string_view bytes);
std::string redis_channel(std::string_view key, std::string_view nsp, const Broadcast& to);

class RedisAdapter final : public Relay {
 public:
  // Publishes on `publisher` (one PUBLISH per broadcast, off the I/O threads on `blocking`, in
  // order) and delivers what others publish in namespace "/" to `server`'s sockets.
  RedisAdapter(Server& server, redis::Client& redis, std::string key, const boost::asio::any_io_executor& blocking);
  ~RedisAdapter() override;
  void publish(const Packet& packet, const std::vector<std::string>& attachments, const Broadcast& to) override;
  bool subscribed() const;
  const std::string& uid() const { return uid_; }

 private:
  Server& server_;
  redis::Client& redis_;
  const std::string key_;
  const std::string uid_;
  boost::asio::any_io_executor strand_;
  std::unique_ptr<redis::Subscriber> subscriber_;  // last: stopped first
};

}  // namespace aas::realtime::socketio
