// WebSocket upgrades of http::Server on a real loopback socket, with Beast's client: the handler
// decides, messages go both ways, the limits hold, and a shutdown says "going away".
#include "http/server.hpp"

#include "http/loopback_server.hpp"

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <atomic>
#include <cstdio>
#include <future>
#include <map>
#include <thread>
#include <vector>

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

// "close" closes the connection; anything else: `threads` threads (none of them the server's)
// send `count` messages each at once ("<thread>:<i>:" padded with '.' to `size` bytes), and the
// promise gets how many sends were refused.
struct BurstPlan {
  int threads = 4;
  int count = 100;
  std::size_t size = 64;
};
class Burst final : public WebSocketHandler {
 public:
  Burst(BurstPlan plan, std::promise<int>& done) : plan_(plan), done_(done) {}
  void on_open(std::shared_ptr<WebSocketConnection> c) override { connection_ = std::move(c); }
  asio::awaitable<void> on_message(std::string message, bool) override {
    if (message == "close") {
      connection_->close();
      co_return;
    }
    std::thread([c = connection_, plan = plan_, &done = done_] {
      std::atomic<int> refused{0};
      std::vector<std::thread> senders;
      for (int t = 0; t < plan.threads; ++t)
        senders.emplace_back([&, t] {
          for (int i = 0; i < plan.count; ++i) {
            std::string m = std::to_string(t) + ":" + std::to_string(i) + ":";
            m.resize(plan.size, '.');
            if (!c->send(std::move(m), false)) ++refused;
          }
        });
      for (auto& s : senders) s.join();
      done.set_value(refused.load());
    }).detach();
    co_return;
  }
  void on_closed() override { connection_.reset(); }

 private:
  BurstPlan plan_;
  std::promise<int>& done_;
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
  void ping() {
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
      if (kind == websocket::frame_type::pong) ++pongs_;
    });
    ws_.async_ping({}, [](beast::error_code) {});
    run();
  }
  int pongs() const { return pongs_; }
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
  int pongs_ = 0;
};

class WebSocketTest : public LoopbackServerTest {
 protected:
  void start(ServerOptions options = {}) {
    start_server(Router{}, options, {}, [this](const Request& req) -> UpgradeDecision {
      if (req.path == "/ws") return std::make_shared<Echo>();
      if (req.path == "/flush") return std::make_shared<Flusher>(flushed_);
      if (req.path == "/burst") return std::make_shared<Burst>(burst_, burst_done_);
      Response refusal;
      refusal.status = 403;
      refusal.body = R"({"refused":true})";
      return refusal;
    });
  }
  // Reads messages until `expected` came or the connection ended: each sender's messages must
  // come whole and in its order. The number read, and the error that ended the reading (none
  // when all came).
  std::pair<int, beast::error_code> read_burst(WsClient& client, int expected) {
    std::map<int, int> next;
    int got = 0;
    while (got < expected) {
      auto [ec, m] = client.read();
      if (ec) return {got, ec};
      EXPECT_EQ(m.size(), burst_.size);
      int t = -1, i = -1;
      EXPECT_EQ(std::sscanf(m.c_str(), "%d:%d:", &t, &i), 2) << m.substr(0, 40);
      EXPECT_EQ(i, next[t]++) << "sender " << t;
      ++got;
    }
    return {got, {}};
  }

  std::promise<bool> flushed_;
  BurstPlan burst_;
  std::promise<int> burst_done_;
};

TEST_F(WebSocketTest, WhatOnOpenSendsComesFirstAndAFlushedSendIsOnTheWireWhenItCompletes) {
  start();
  WsClient client;
  ASSERT_FALSE(client.connect(server_->port(), "/flush"));
  EXPECT_EQ(client.read().second, "hello");
  client.write("flush please", false);
  auto flushed = flushed_.get_future();
  ASSERT_EQ(flushed.wait_for(30s), std::future_status::ready);
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

TEST_F(WebSocketTest, MessagesSentFromManyThreadsAtOnceArriveWholeAndInEachSendersOrder) {
  burst_ = {.threads = 4, .count = 500, .size = 100};
  start();
  WsClient client;
  ASSERT_FALSE(client.connect(server_->port(), "/burst"));
  client.write("go", false);
  auto [got, ec] = read_burst(client, 4 * 500);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(got, 2000);
  EXPECT_EQ(burst_done_.get_future().get(), 0);
}

// More than the kernel's socket buffers hold, sent while the client reads nothing: the rest
// waits in the connection's queue and goes out as the client reads; the client's ping is answered
// behind it (a pong inside a frame would break the stream), and a close sent last comes last.
TEST_F(WebSocketTest, ABacklogBeyondTheSocketBuffersArrivesInOrderWithPongAndCloseAfterIt) {
  burst_ = {.threads = 4, .count = 300, .size = 8192};
  ServerOptions options;
  options.websocket.max_queued_bytes = 64 * 1024 * 1024;
  start(options);
  WsClient client;
  ASSERT_FALSE(client.connect(server_->port(), "/burst"));
  client.write("go", false);
  auto done = burst_done_.get_future();
  ASSERT_EQ(done.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(done.get(), 0);
  client.ping();
  client.write("close", false);
  auto [got, ec] = read_burst(client, 4 * 300);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(got, 1200);
  auto [end, rest] = client.read();
  EXPECT_EQ(end, websocket::error::closed);
  EXPECT_EQ(client.close_code(), websocket::close_code::normal);
  EXPECT_EQ(client.pongs(), 1);
}

TEST_F(WebSocketTest, AReaderTooFarBehindIsClosedAndFurtherSendsAreRefused) {
  burst_ = {.threads = 2, .count = 500, .size = 8192};
  ServerOptions options;
  options.websocket.max_queued_bytes = 256 * 1024;
  start(options);
  WsClient client;
  ASSERT_FALSE(client.connect(server_->port(), "/burst"));
  client.write("go", false);
  auto done = burst_done_.get_future();
  ASSERT_EQ(done.wait_for(10s), std::future_status::ready);
  EXPECT_GT(done.get(), 0);  // 8 MB against 256 KB of queue (and a few MB of socket buffers)
  auto [got, ec] = read_burst(client, 2 * 500);
  EXPECT_TRUE(ec);
  EXPECT_LT(got, 1000);
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
  ASSERT_EQ(result.wait_for(30s), std::future_status::ready);
  EXPECT_TRUE(result.get());
}

}  // namespace
}  // namespace aas::http
