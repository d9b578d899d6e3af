#pragma once
// A Socket.IO 5 server over engine.hpp: namespaces with connection middleware (auth), sockets
// with event handlers and acknowledgements, binary attachments, rooms and broadcasts. The
// application registers namespaces before serving; everything else is thread-safe.
//
// Broadcasts go through a Relay when one is set (the Redis adapter: the other replicas and the
// monolith's own Socket.IO servers deliver to their sockets) and are always delivered to this
// process's sockets; deliver() is how a relay hands in what others broadcast.
#include "realtime/socketio/engine.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aas::realtime::socketio {

struct Packet;

struct Options {
  // A client that joins no namespace within this is closed.
  std::chrono::milliseconds connect_timeout{45000};
  // Per socket: events over this rate (a token bucket of `event_burst`) are refused (an ack, if
  // asked for, says rate_limited); a socket that keeps flooding (a whole burst refused in a row)
  // is disconnected. 0: no limit.
  double events_per_second = 0;
  double event_burst = 0;
};

// An event's arguments (without its name), and the bytes of its binary attachments: placeholders
// {"_placeholder":true,"num":n} in `args` stand for attachments[n].
struct Message {
  boost::json::array args;
  std::vector<std::string> attachments;
};

class Socket;
// Acknowledges an event (empty when the client asked for no acknowledgement). Once.
using Ack = std::function<void(Message)>;
using EventHandler = std::function<void(const std::shared_ptr<Socket>&, Message, const Ack&)>;

// Why a connection to a namespace was refused: the client's connect_error (err.message, err.data).
struct ConnectRefusal {
  std::string message;
  boost::json::value data;
};
// Runs before a socket joins its namespace (authentication); a refusal ends the attempt.
using Middleware =
    std::function<boost::asio::awaitable<std::optional<ConnectRefusal>>(const std::shared_ptr<Socket>&)>;

class Socket {
 public:
  virtual ~Socket() = default;
  virtual const std::string& id() const = 0;
  virtual const std::string& nsp() const = 0;
  // The CONNECT payload (socket.io-client's `auth` option), an object ({} when none was sent).
  virtual const boost::json::object& auth() const = 0;
  // Empties auth(): an application that has read what it needs (the token, in a middleware)
  // keeps no copy for the socket's whole life. Only from a middleware (before others read it).
  virtual void release_auth() = 0;
  virtual const engineio::Handshake& handshake() const = 0;
  // Who the socket belongs to, set by a middleware; empty until then.
  virtual void set_user(std::string user_id) = 0;
  virtual std::string user() const = 0;

  virtual void on(std::string event, EventHandler handler) = 0;
  // Called once when the socket leaves (client disconnect, transport close, server disconnect).
  // The number is for off_disconnect: whatever registers one per use of a long-lived socket (a
  // streamed turn) removes it when done, or each use would leave a handler behind.
  virtual std::uint64_t on_disconnect(std::function<void(std::string_view reason)> handler) = 0;
  virtual void off_disconnect(std::uint64_t handler) = 0;
  virtual bool emit(std::string_view event, Message message) = 0;
  // emit() with the arguments after the event's name already JSON text, comma-separated (`{"a":1}`
  // for one object): for hot paths, an answer's every delta, that write their JSON directly.
  virtual bool emit_serialized(std::string_view event, std::string_view args_json) = 0;
  virtual void join(std::string room) = 0;
  virtual void leave(const std::string& room) = 0;
  virtual bool connected() const = 0;
  // Sends DISCONNECT for its namespace (the client does not reconnect on its own).
  virtual void disconnect() = 0;
};

struct Broadcast {
  std::vector<std::string> rooms;   // empty: every socket of the namespace
  std::vector<std::string> except;  // rooms (socket ids included) left out
  bool local = false;               // this process's sockets only (socket.io's `.local`)
};

// Carries broadcasts between processes (the Redis adapter).
class Relay {
 public:
  virtual ~Relay() = default;
  // A broadcast made in this process (already delivered here), for the others.
  virtual void publish(const Packet& packet, const std::vector<std::string>& attachments,
                       const Broadcast& to) = 0;
};

class Namespace {
 public:
  virtual ~Namespace() = default;
  virtual void use(Middleware middleware) = 0;
  virtual void on_connection(std::function<void(const std::shared_ptr<Socket>&)> handler) = 0;
  // To every socket in `to` (this process, and through the relay the others).
  virtual void broadcast(std::string_view event, Message message, const Broadcast& to) = 0;
};

class Server final : public engineio::Listener {
 public:
  Server(boost::asio::any_io_executor executor, engineio::Options engine_options, Options options);
  ~Server() override;

  // The namespace called `name` ("/", "/admin"), created on first use. Register namespaces and
  // their handlers before serving: a client asking for another one is refused.
  Namespace& of(const std::string& name);
  engineio::Server& engine();
  void set_relay(Relay* relay);
  // A broadcast from another process: delivered to this process's sockets only.
  void deliver(const Packet& packet, const std::vector<std::string>& attachments, const Broadcast& to);
  // Sockets connected in this process (any namespace).
  std::size_t socket_count() const;

  void on_open(const std::shared_ptr<engineio::Session>& session) override;
  boost::asio::awaitable<bool> on_message(const std::shared_ptr<engineio::Session>& session, std::string data,
                                          bool binary) override;
  void on_close(const std::shared_ptr<engineio::Session>& session, std::string_view reason) override;

  struct State;

 private:
  std::shared_ptr<State> state_;
  std::unique_ptr<engineio::Server> engine_;
};

}  // namespace aas::realtime::socketio
