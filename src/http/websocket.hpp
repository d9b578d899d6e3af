#pragma once
// WebSocket connections served by http::Server: the request of an upgrade (RFC 6455) goes to the
// server's UpgradeHandler, which refuses it with an ordinary response or accepts it with a
// WebSocketHandler. Beast stays inside src/http: this header knows our own types only.
#include "http/message.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <variant>

namespace aas::http {

struct WebSocketOptions {
  // A bigger message fails the read and closes the connection (close code 1009).
  std::size_t max_message_bytes = 1024 * 1024;
  // Messages waiting to be written: a client that reads slower than it is sent to is closed once
  // this many bytes are queued, so a stalled reader cannot make memory grow.
  std::size_t max_queued_bytes = 4 * 1024 * 1024;
  // The opening handshake and the closing one must finish within this.
  std::chrono::milliseconds handshake_timeout{10000};
  // Nothing received for this long (the server pings at half of it): the peer is gone. Zero: no
  // idle timer, for an application with a heartbeat of its own (Engine.IO's), which saves each
  // idle connection a pending timer.
  std::chrono::milliseconds idle_timeout{60000};
};

// A message encoded once and written to many connections (a broadcast to a room): each queue
// holds the one buffer, none a copy.
using SharedMessage = std::shared_ptr<const std::string>;

// The sending side of one accepted WebSocket, owned by the server. Every member may be called
// from any thread; the server's one writer per connection sends the queue in order.
class WebSocketConnection {
 public:
  virtual ~WebSocketConnection() = default;
  // Queues one message (a text or a binary frame). False once the connection is closing or
  // closed, or when the queue went over max_queued_bytes (the connection is then closed).
  virtual bool send(SharedMessage message, bool binary) = 0;
  bool send(std::string message, bool binary) {
    return send(std::make_shared<const std::string>(std::move(message)), binary);
  }
  // send(), then completes once this message (and so everything queued before it) is written to
  // the socket, or the connection ended. For a reply that must be on the wire before the
  // handler's next message is read, whatever other connections do meanwhile (Engine.IO's probe
  // answer, which must not be overtaken by an HTTP response on another connection). Only from
  // on_message (the connection's strand). False as for send(), or when the connection ended first.
  virtual boost::asio::awaitable<bool> send_flushed(std::string message, bool binary) = 0;
  // Writes what is queued, then the close frame (normal closure, or 1001 going away while the
  // server shuts down), then closes. Further sends are refused.
  virtual void close() = 0;
};

// What an application does with an accepted WebSocket. Called on the connection's strand, one at
// a time: on_open once, just before the handshake's 101 is written (what it sends goes out after
// it), on_message for each message in order (the next read waits for it, which is the
// back-pressure on a fast sender), on_closed once at the end, whoever closed it (also when the
// handshake failed after on_open).
class WebSocketHandler {
 public:
  virtual ~WebSocketHandler() = default;
  virtual void on_open(std::shared_ptr<WebSocketConnection> connection) = 0;
  virtual boost::asio::awaitable<void> on_message(std::string message, bool binary) = 0;
  virtual void on_closed() = 0;
};

// Refuse (any status but 101; the response is sent as is and the connection closes) or accept.
using UpgradeDecision = std::variant<Response, std::shared_ptr<WebSocketHandler>>;
// Decides about one upgrade request (a GET with "Upgrade: websocket"). Runs on an I/O thread and
// must not block.
using UpgradeHandler = std::function<UpgradeDecision(const Request& request)>;

}  // namespace aas::http
