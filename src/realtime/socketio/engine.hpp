#pragma once
// An Engine.IO 4 server: sessions over HTTP long-polling, upgraded to WebSocket or WebSocket
// from the start, with the server's heartbeat (ping every ping_interval, closed when the pong is
// ping_timeout late). It hands each session's messages to a Listener (the Socket.IO layer, or the
// echo of the protocol test server) and sends what the listener sends, on whichever transport the
// session uses at the time. Mounted by whoever owns the HTTP side: handle_polling answers the
// GET/POST requests at the path, handle_upgrade decides WebSocket upgrades there.
#include "http/message.hpp"
#include "http/websocket.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace aas::realtime::engineio {

struct Options {
  std::chrono::milliseconds ping_interval{25000};
  std::chrono::milliseconds ping_timeout{20000};
  // Largest message (and polling POST body); announced to the client as maxPayload.
  std::size_t max_payload = 1'000'000;
  // Packets waiting for the client's next poll: a client that stops polling is closed once this
  // many bytes wait for it (the WebSocket transport has the server's own queue bound).
  std::size_t max_buffered_bytes = 4 * 1024 * 1024;
};

// What the request that opened a session said (the Socket.IO layer authenticates with it).
struct Handshake {
  std::string authorization;  // the Authorization header, empty when absent
  std::string query;          // raw query string of the opening request
  std::string remote_address;
};

// One Engine.IO session (one client connection, whatever its transport). Thread-safe.
class Session {
 public:
  virtual ~Session() = default;
  virtual const std::string& id() const = 0;
  virtual const Handshake& handshake() const = 0;
  // Queues a message; false once the session is closed.
  virtual bool send(std::string data, bool binary) = 0;
  // Queues a message already encoded as an Engine.IO frame (the type digit and the data, or a
  // binary message's bytes), shared with other sessions: a broadcast encodes once and every
  // WebSocket writes the same buffer.
  virtual bool send_frame(const http::SharedMessage& frame, bool binary) = 0;
  // Closes the session (the client sees its transport close and may reconnect).
  virtual void close() = 0;
};

class Listener {
 public:
  virtual ~Listener() = default;
  virtual void on_open(const std::shared_ptr<Session>& session) = 0;
  // One message at a time per session, in order. Returning false (a message the listener cannot
  // parse) closes the session.
  virtual boost::asio::awaitable<bool> on_message(const std::shared_ptr<Session>& session, std::string data,
                                                  bool binary) = 0;
  virtual void on_close(const std::shared_ptr<Session>& session, std::string_view reason) = 0;
};

class Server {
 public:
  Server(boost::asio::any_io_executor executor, Options options, Listener& listener);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // A GET (handshake or poll) or POST (packets) at the Engine.IO path; anything else is 400.
  boost::asio::awaitable<http::Response> handle_polling(const http::Request& request);
  // An upgrade request at the Engine.IO path: a new WebSocket session, or the upgrade of a
  // polling session (sid=).
  http::UpgradeDecision handle_upgrade(const http::Request& request);
  // Closes every session (server shutdown): pending polls answer at once, WebSockets close.
  void close_all();
  std::size_t session_count() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace aas::realtime::engineio
