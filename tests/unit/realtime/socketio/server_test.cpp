// Broadcasts of socketio::Server to a room of many sockets (WebSocket-only clients over a recording
// connection): a broadcast is written to several hundred sockets by the caller and the I/O threads
// together (FanOut in server.cpp), and still
//   - reaches every socket exactly once,
//   - is on every socket's connection when broadcast() returns (so what the caller sends next
//     follows it on each socket), and broadcasts made one after another arrive in that order,
//   - is written whole by the caller alone when no I/O thread runs.
// And a disconnect handler taken back (a streamed turn's, on a socket that outlives it) is not
// called when the socket leaves.
#include "realtime/socketio/server.hpp"

#include "realtime/socketio/recording_connection.hpp"

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace aas::realtime::socketio {
namespace {

namespace asio = boost::asio;

using ::aas::testing::RecordingConnection;

class BroadcastTest : public ::testing::Test {
 protected:
  BroadcastTest() : server_(ioc_.get_executor(), engineio::Options{}, Options{}) {
    server_.of("/").on_connection([this](const std::shared_ptr<Socket>& s) {
      s->join("room");
      std::lock_guard lock(mu_);
      sockets_.push_back(s);
    });
  }
  ~BroadcastTest() override {
    stop_threads();
    server_.engine().close_all();
  }

  void start_threads(int n) {
    for (int i = 0; i < n; ++i) threads_.emplace_back([this] { ioc_.run(); });
  }
  void stop_threads() {
    work_.reset();
    ioc_.stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  // A WebSocket-only Engine.IO client joined to the main namespace (and so to "room").
  std::shared_ptr<RecordingConnection> connect() {
    auto conn = std::make_shared<RecordingConnection>();
    auto handler = ::aas::testing::open_websocket(server_.engine(), conn);
    asio::co_spawn(ioc_, handler->on_message("40", false), asio::use_future).get();
    handlers_.push_back(handler);
    return conn;
  }

  // The event frames (Engine.IO message + Socket.IO EVENT) a connection got, in order.
  static std::vector<std::string> events(const RecordingConnection& c) {
    std::vector<std::string> out;
    for (const std::string& f : c.sent())
      if (f.rfind("42", 0) == 0) out.push_back(f);
    return out;
  }

  void broadcast(int n) {
    server_.of("/").broadcast("tick", Message{boost::json::array{n}, {}}, Broadcast{{"room"}, {}, false});
  }

  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{ioc_.get_executor()};
  std::vector<std::thread> threads_;
  Server server_;
  std::vector<std::shared_ptr<http::WebSocketHandler>> handlers_;
  std::mutex mu_;
  std::vector<std::shared_ptr<Socket>> sockets_;
};

TEST_F(BroadcastTest, ARoomOfManySocketsGetsEachBroadcastOnceInOrderBeforeBroadcastReturns) {
  start_threads(3);
  std::vector<std::shared_ptr<RecordingConnection>> conns;
  for (int i = 0; i < 700; ++i) conns.push_back(connect());
  ASSERT_EQ(server_.socket_count(), 700u);

  std::vector<std::string> expected;
  for (int n = 0; n < 20; ++n) {
    broadcast(n);
    expected.push_back("42[\"tick\"," + std::to_string(n) + "]");
    // Already on every connection: nothing of this broadcast is left to a helper thread.
    for (const auto& c : conns) ASSERT_EQ(events(*c).size(), expected.size());
  }
  for (const auto& c : conns) EXPECT_EQ(events(*c), expected);
}

TEST_F(BroadcastTest, WithNoThreadRunningTheCallerWritesTheWholeRoom) {
  start_threads(1);
  std::vector<std::shared_ptr<RecordingConnection>> conns;
  for (int i = 0; i < 300; ++i) conns.push_back(connect());
  stop_threads();  // the helpers the broadcast asks for never run

  broadcast(7);
  for (const auto& c : conns) EXPECT_EQ(events(*c), std::vector<std::string>{"42[\"tick\",7]"});
}

TEST_F(BroadcastTest, ADisconnectHandlerTakenBackIsNotCalled) {
  start_threads(1);
  connect();
  ASSERT_EQ(sockets_.size(), 1u);
  std::vector<std::string> called;
  const auto first = sockets_[0]->on_disconnect([&](std::string_view) { called.push_back("first"); });
  const auto second = sockets_[0]->on_disconnect([&](std::string_view) { called.push_back("second"); });
  EXPECT_NE(first, second);
  sockets_[0]->off_disconnect(first);
  stop_threads();
  handlers_[0]->on_closed();  // the transport closed: the socket leaves
  EXPECT_EQ(called, std::vector<std::string>{"second"});
}

}  // namespace
}  // namespace aas::realtime::socketio
