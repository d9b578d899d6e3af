#pragma once
#include "http/websocket.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <string>

namespace boost::asio { class io_context; }

namespace aas::http {

class Dispatcher;

struct ServerOptions {
  std::string host = "0.0.0.0";
  std::uint16_t port = 4002;  // 0 picks a free port (tests)
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 1024 * 1024;      // larger bodies get 413
  // A larger limit for the few routes that take uploads (method, target -> limit; nullopt: the
  // default), decided from the request line before the body is read.
  std::function<std::optional<std::size_t>(std::string_view method, std::string_view target)> body_limit_for;
  std::chrono::milliseconds idle_timeout{60000};  // keep-alive wait for the next request
  std::chrono::milliseconds read_timeout{30000};  // reading one whole request
  std::chrono::milliseconds write_timeout{30000};
  std::chrono::milliseconds shutdown_grace{10000};
  // A streaming client gone without a word is dropped after about this long (socket_options.hpp).
  std::chrono::seconds dead_peer_timeout{30};
  WebSocketOptions websocket;  // limits of upgraded connections
  // Connections over these caps are answered 503 at once and closed (connection_gate.hpp).
  std::size_t max_connections = 0;             // the whole server; 0: no cap
  std::size_t max_connections_per_client = 0;  // per client address (IPv6: per /64); 0: no cap
};

// Beast listener and keep-alive sessions, one coroutine per connection on its own strand.
// Its coroutines use the Dispatcher until they end: stop the io_context (after shutdown) before
// destroying the Dispatcher, the Server or the io_context. shutdown() may be called from any thread.
class Server {
 public:
  // `upgrades` decides about WebSocket upgrade requests (websocket.hpp); without one they are
  // ordinary requests for the dispatcher.
  Server(boost::asio::io_context& ioc, ServerOptions options, Dispatcher& dispatcher,
         UpgradeHandler upgrades = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts accepting; throws std::runtime_error when the address cannot be bound.
  void start();
  std::uint16_t port() const;
  // Connections open now (HTTP, streams and WebSockets alike).
  std::size_t connection_count() const;
  // Stops accepting, closes idle keep-alive connections, lets requests in flight finish (their
  // responses carry Connection: close), closes WebSockets with 1001 (going away) after what
  // was queued for them. Calls on_done(true) once no connection is left, or
  // on_done(false) when the grace period ran out first.
  void shutdown(std::function<void(bool drained)> on_done);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace aas::http
