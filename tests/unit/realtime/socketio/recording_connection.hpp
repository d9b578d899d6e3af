#pragma once
// A WebSocket connection that records what the server writes to it (from any thread) and whether the
// server closed it: the client side of the socketio server tests.
#include "http/websocket.hpp"
#include "realtime/socketio/engine.hpp"

#include <gtest/gtest.h>

#include <boost/asio/awaitable.hpp>

#include <mutex>
#include <string>
#include <vector>

namespace aas::testing {

class RecordingConnection final : public http::WebSocketConnection {
 public:
  using http::WebSocketConnection::send;
  bool send(http::SharedMessage message, bool binary) override {
    std::lock_guard lock(mu_);
    sent_.push_back(binary ? "<binary>" + *message : *message);
    return true;
  }
  boost::asio::awaitable<bool> send_flushed(std::string message, bool binary) override {
    co_return send(std::move(message), binary);
  }
  void close() override {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  // Text frames as sent, binary ones prefixed with "<binary>".
  std::vector<std::string> sent() const {
    std::lock_guard lock(mu_);
    return sent_;
  }
  bool closed() const {
    std::lock_guard lock(mu_);
    return closed_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> sent_;
  bool closed_ = false;
};

// A WebSocket-only Engine.IO session of `engine` (no polling first), opened on `conn`: its handler,
// to which the test hands the client's frames.
inline std::shared_ptr<http::WebSocketHandler> open_websocket(realtime::engineio::Server& engine,
                                                              const std::shared_ptr<RecordingConnection>& conn) {
  http::Request req;
  req.method = "GET";
  req.query_string = "EIO=4&transport=websocket";
  auto decision = engine.handle_upgrade(req);
  auto* handler = std::get_if<std::shared_ptr<http::WebSocketHandler>>(&decision);
  EXPECT_TRUE(handler) << "the upgrade was refused";
  if (!handler) return nullptr;
  (*handler)->on_open(conn);
  return *handler;
}

}  // namespace aas::testing
