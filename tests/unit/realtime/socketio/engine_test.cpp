// The polling → WebSocket upgrade of engineio::Server, driven step by step on one io_context with
// a WebSocket connection that records what is sent and flushes only when the test says so: the
// probe's answer is on the wire before the next frame is handled (the race the official suite's
// "ignores HTTP requests with same sid after upgrade" hit now and then), and what waited for a
// poll goes over the WebSocket, in order, once the upgrade completes.
#include "realtime/socketio/engine.hpp"

#include <gtest/gtest.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>

#include <optional>
#include <string>
#include <vector>

namespace aas::realtime::engineio {
namespace {

namespace asio = boost::asio;

class Recorder final : public Listener {
 public:
  void on_open(const std::shared_ptr<Session>& s) override { session = s; }
  asio::awaitable<bool> on_message(const std::shared_ptr<Session>&, std::string data, bool) override {
    received.push_back(std::move(data));
    co_return true;
  }
  void on_close(const std::shared_ptr<Session>&, std::string_view) override {}

  std::shared_ptr<Session> session;
  std::vector<std::string> received;
};

// What the server sends on the WebSocket; a flushed send completes when release() is called.
class FakeConnection final : public http::WebSocketConnection {
 public:
  explicit FakeConnection(asio::io_context& ioc) : release_(ioc, asio::steady_timer::time_point::max()) {}
  using http::WebSocketConnection::send;
  bool send(http::SharedMessage message, bool) override {
    sent.push_back(*message);
    return true;
  }
  asio::awaitable<bool> send_flushed(std::string message, bool) override {
    sent.push_back(message);
    co_await release_.async_wait(asio::as_tuple(asio::use_awaitable));
    flushed.push_back(std::move(message));
    co_return true;
  }
  void close() override { closed = true; }
  void release() { release_.cancel(); }

  std::vector<std::string> sent;
  std::vector<std::string> flushed;
  bool closed = false;

 private:
  asio::steady_timer release_;
};

class EngineUpgradeTest : public ::testing::Test {
 protected:
  EngineUpgradeTest() : server_(ioc_.get_executor(), Options{}, listener_) {}

  // Runs a request as far as it goes: its answer, or nullopt while it waits.
  std::optional<http::Response> request(std::string method, std::string query) {
    auto req = std::make_shared<http::Request>();
    req->method = std::move(method);
    req->query_string = std::move(query);
    auto out = std::make_shared<std::optional<http::Response>>();
    asio::co_spawn(
        ioc_, [this, req]() { return server_.handle_polling(*req); },
        [out](std::exception_ptr e, http::Response r) {
          if (!e) *out = std::move(r);
        });
    run();
    return *out;
  }
  void run() {
    ioc_.restart();
    ioc_.poll();
  }
  std::string open_polling_session() {
    auto res = request("GET", "EIO=4&transport=polling");
    EXPECT_TRUE(res && res->status == 200);
    return std::string(boost::json::parse(res->body.substr(1)).as_object().at("sid").as_string());
  }
  std::shared_ptr<http::WebSocketHandler> upgrade(const std::string& sid) {
    http::Request req;
    req.method = "GET";
    req.query_string = "EIO=4&transport=websocket&sid=" + sid;
    auto decision = server_.handle_upgrade(req);
    auto* handler = std::get_if<std::shared_ptr<http::WebSocketHandler>>(&decision);
    EXPECT_TRUE(handler);
    return handler ? *handler : nullptr;
  }
  // Delivers a frame; true once the handler is done with it (the next frame may be read).
  std::shared_ptr<bool> frame(const std::shared_ptr<http::WebSocketHandler>& handler, std::string text) {
    auto done = std::make_shared<bool>(false);
    asio::co_spawn(ioc_, handler->on_message(std::move(text), false), [done](std::exception_ptr) { *done = true; });
    run();
    return done;
  }

  asio::io_context ioc_;
  Recorder listener_;
  Server server_;
};

TEST_F(EngineUpgradeTest, TheProbeAnswerIsFlushedBeforeTheNextFrameIsRead) {
  const std::string sid = open_polling_session();
  auto ws = std::make_shared<FakeConnection>(ioc_);
  auto handler = upgrade(sid);
  ASSERT_TRUE(handler);
  handler->on_open(ws);

  auto probe = frame(handler, "2probe");
  EXPECT_EQ(ws->sent, std::vector<std::string>{"3probe"});
  EXPECT_FALSE(*probe) << "the probe's frame is done before its answer is written";
  ws->release();
  run();
  EXPECT_TRUE(*probe);
  EXPECT_EQ(ws->flushed, std::vector<std::string>{"3probe"});

  ASSERT_TRUE(*frame(handler, "5"));
  auto poll = request("GET", "EIO=4&transport=polling&sid=" + sid);
  ASSERT_TRUE(poll);
  EXPECT_EQ(poll->status, 400) << "the session is on the WebSocket now";
  EXPECT_TRUE(*frame(handler, "4hello"));
  EXPECT_EQ(listener_.received, std::vector<std::string>{"hello"});
}

TEST_F(EngineUpgradeTest, WhatWaitedForAPollGoesOverTheWebSocketInOrderAfterTheUpgrade) {
  const std::string sid = open_polling_session();
  ASSERT_TRUE(listener_.session);
  auto ws = std::make_shared<FakeConnection>(ioc_);
  auto handler = upgrade(sid);
  ASSERT_TRUE(handler);
  handler->on_open(ws);
  auto probe = frame(handler, "2probe");
  ws->release();
  run();
  ASSERT_TRUE(*probe);

  // Sent while the client pauses polling: kept for the transport that wins.
  EXPECT_TRUE(listener_.session->send("a", false));
  EXPECT_TRUE(listener_.session->send("b", false));
  EXPECT_EQ(ws->sent, std::vector<std::string>{"3probe"});
  ASSERT_TRUE(*frame(handler, "5"));
  EXPECT_EQ(ws->sent, (std::vector<std::string>{"3probe", "4a", "4b"}));
  EXPECT_TRUE(listener_.session->send("c", false));
  EXPECT_EQ(ws->sent.back(), "4c");
  EXPECT_FALSE(ws->closed);
}

TEST_F(EngineUpgradeTest, ASecondProbeOfTheSameSessionIsClosed) {
  const std::string sid = open_polling_session();
  auto first = std::make_shared<FakeConnection>(ioc_);
  auto second = std::make_shared<FakeConnection>(ioc_);
  auto h1 = upgrade(sid);
  auto h2 = upgrade(sid);
  ASSERT_TRUE(h1 && h2);
  h1->on_open(first);
  h2->on_open(second);
  EXPECT_FALSE(first->closed);
  EXPECT_TRUE(second->closed);
}

}  // namespace
}  // namespace aas::realtime::engineio
