// WebSocket upgrades of http::Server on a real loopback socket, with Beast's client: the handler
// decides, messages go both ways, the limits hold, and a shutdown says "going away".
#include "http/server.hpp"

#include "http/loopback_server.hpp"

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <future>
#include <thread>

namespace aas::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using namespace std::chrono_literals;

// Sends every message back as it came (text or binary).
class Echo final : public WebSocketHandler {
 public:
  void on_open(std::shared_ptr<WebSocketConnection> c) override { connection_ = std::move(c); }
  asio::awaitable<void> on_message(std::string message, bool binary) override {
    connection_->send(std::move(message), binary);
    co_return;
  }
  void on_closed() override { connection_.reset(); }

 private:
  std::shared_ptr<WebSocketConnection> connection_;
};

// Greets in on_open (before the 101 is written); answers "flush" with a flushed send and then
// tells the test, which looks at the client's socket before reading anything.
class Flusher final : public WebSocketHandler {
 public:
  explicit Flusher(std::promise<bool>& flushed) : flushed_(flushed) {}
  void on_open(std::shared_ptr<WebSocketConnection> c) override {
    connection_ = std::move(c);
    connection_->send("hello", false);
  }
  asio::awaitable<void> on_message(std::string, bool) override {
    const bool ok = co_await connection_->send_flushed("flushed", false);
    flushed_.set_value(ok);
  }
  void on_closed() override { connection_.reset(); }

 private:
  std::promise<bool>& flushed_;
  std::shared_ptr<WebSocketConnection> connection_;
};

// A client on its own io_context; every operation is bounded by run_for.
class WsClient {
 public:
  beast::error_code connect(std::uint16_t port, const std::string& target) {
    beast::error_code ec;
    beast::get_lowest_layer(ws_).socket().connect({asio::ip::make_address("127.0.0.1"), port}, ec);
    if (ec) return ec;
    ws_.async_handshake(response_, "127.0.0.1", target, [&](beast::error_code e) { ec = e; });
    run();
    return ec;
  }
  unsigned refused_status() const { return response_.result_int(); }

  void write(const std::string& data, bool binary) {
    ws_.binary(binary);
    ws_.async_write(asio::buffer(data), [](beast::error_code, std::size_t) {});
    run();
  }
  // The next message, or the error that ended the connection.
  std::pair<beast::error_code, std::string> read() {
    beast::error_code ec;
    buffer_.clear();
    ws_.async_read(buffer_, [&](beast::error_code e, std::size_t) { ec = e; });
    run();
    return {ec, beast::buffers_to_string(buffer_.data())};
  }
  bool got_binary() const { return !ws_.got_text(); }
  // Bytes the kernel holds for this client, none of them read yet.
  std::size_t unread_bytes() { return beast::get_lowest_layer(ws_).socket().available(); }
  websocket::close_code close_code() const { return static_cast<websocket::close_code>(ws_.reason().code); }

 private:
  void run() {
    ioc_.restart();
    ioc_.run_for(5s);
  }
  asio::io_context ioc_;
  websocket::stream<beast::tcp_stream> ws_{ioc_};
  websocket::response_type response_;
  beast::flat_buffer buffer_;
};

class WebSocketTest : public LoopbackServerTest {
 protected:
  void start(ServerOptions options = {}) {
    start_server(Router{}, options, {}, [this](const Request& req) -> UpgradeDecision {
      if (req.path == "/ws") return std::make_shared<Echo>();
      if (req.path == "/flush") return std::make_shared<Flusher>(flushed_);
      Response refusal;
      refusal.status = 403;
      refusal.body = R"({"refused":true})";
      return refusal;
    });
  }
  std::promise<bool> flushed_;
};

TEST_F(WebSocketTest, WhatOnOpenSendsComesFirstAndAFlushedSendIsOnTheWireWhenItCompletes) {
  start();
  WsClient client;
  ASSERT_FALSE(client.connect(server_->port(), "/flush"));
  EXPECT_EQ(client.read().second, "hello");
  client.write("flush please", false);
  auto flushed = flushed_.get_future();
  ASSERT_EQ(flushed.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(flushed.get());
  // Written before send_flushed completed: already here, though the client has not read since.
  EXPECT_GT(client.unread_bytes(), 0u);
  EXPECT_EQ(client.read().second, "flushed");
}

TEST_F(WebSocketTest, EchoesTextAndBinaryMessages) {
  start();
  WsClient client;
  ASSERT_FALSE(client.connect(server_->port(), "/ws"));
  client.write("hello", false);
  auto [ec, text] = client.read();
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(text, "hello");
  EXPECT_FALSE(client.got_binary());
  client.write(std::string("\x00\x01\x02", 3), true);
  auto [ec2, bytes] = client.read();
  ASSERT_FALSE(ec2) << ec2.message();
  EXPECT_EQ(bytes, std::string("\x00\x01\x02", 3));
  EXPECT_TRUE(client.got_binary());
}

TEST_F(WebSocketTest, ARefusedUpgradeGetsTheHandlersResponse) {
  start();
  WsClient client;
  EXPECT_TRUE(client.connect(server_->port(), "/elsewhere"));
  EXPECT_EQ(client.refused_status(), 403u);
}

TEST_F(WebSocketTest, AnOversizeMessageClosesTheConnectionWith1009) {
  ServerOptions options;
  options.websocket.max_message_bytes = 1024;
  start(options);
  WsClient client;
  ASSERT_FALSE(client.connect(server_->port(), "/ws"));
  client.write(std::string(1024, 'a'), false);  // at the limit: fine
  EXPECT_EQ(client.read().second.size(), 1024u);
  client.write(std::string(1025, 'a'), false);
  auto [ec, rest] = client.read();
  EXPECT_EQ(ec, websocket::error::closed);
  EXPECT_EQ(client.close_code(), websocket::close_code::too_big);
}

TEST_F(WebSocketTest, ShutdownClosesWebSocketsAsGoingAway) {
  start();
  WsClient client;
  ASSERT_FALSE(client.connect(server_->port(), "/ws"));
  client.write("still here", false);
  ASSERT_EQ(client.read().second, "still here");
  std::promise<bool> drained;
  server_->shutdown([&drained](bool ok) { drained.set_value(ok); });
  auto [ec, rest] = client.read();
  EXPECT_EQ(ec, websocket::error::closed);
  EXPECT_EQ(client.close_code(), websocket::close_code::going_away);
  auto result = drained.get_future();
  ASSERT_EQ(result.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(result.get());
}

}  // namespace
}  // namespace aas::http
