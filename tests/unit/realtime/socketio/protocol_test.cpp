// The Socket.IO layer of socketio::Server as a client sees it, over WebSocket-only Engine.IO
// sessions on one io_context driven by the test (every frame handled before the next is sent):
// namespaces refused or joined, middleware refusals, events and their acknowledgements, binary
// attachments, disconnects from either side, rooms, broadcasts and the relay, and a flood of events.
// Protocol errors close the session: the recording connection shows it.
#include "realtime/socketio/server.hpp"

#include "realtime/socketio/packet.hpp"
#include "realtime/socketio/recording_connection.hpp"

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <memory>
#include <string>
#include <vector>

namespace aas::realtime::socketio {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

using ::aas::testing::RecordingConnection;

// One Engine.IO session over a recorded WebSocket.
struct Client {
  std::shared_ptr<http::WebSocketHandler> handler;
  std::shared_ptr<RecordingConnection> conn = std::make_shared<RecordingConnection>();

  // The frames sent so far but the Engine.IO open packet.
  std::vector<std::string> frames() const {
    auto all = conn->sent();
    if (!all.empty() && all.front().starts_with("0{")) all.erase(all.begin());
    return all;
  }
  std::string last() const {
    const auto all = frames();
    return all.empty() ? std::string() : all.back();
  }
};

// Broadcasts the relay was given.
class RecordingRelay final : public Relay {
 public:
  void publish(const Packet& packet, const std::vector<std::string>& attachments, const Broadcast& to) override {
    published.push_back(encode(packet) + " to " + std::to_string(to.rooms.size()) + " room(s), " +
                        std::to_string(attachments.size()) + " attachment(s)");
  }
  std::vector<std::string> published;
};

class SocketIoProtocolTest : public ::testing::Test {
 protected:
  explicit SocketIoProtocolTest(Options options = {})
      : server_(ioc_.get_executor(), engineio::Options{}, options) {
    server_.of("/").on_connection([this](const std::shared_ptr<Socket>& s) {
      sockets_.push_back(s);
      s->on("echo", [](const std::shared_ptr<Socket>&, Message m, const Ack& ack) {
        if (!ack) return;
        ack(m);
        ack(Message{json::array{"twice"}, {}});  // an ack is sent once
      });
      s->on_disconnect([this](std::string_view reason) { disconnects_.emplace_back(reason); });
    });
  }
  ~SocketIoProtocolTest() override { server_.engine().close_all(); }

  Client open() {
    Client c;
    c.handler = ::aas::testing::open_websocket(server_.engine(), c.conn);
    return c;
  }
  // A frame from the client, handled to its end.
  void send(const Client& c, std::string frame, bool binary = false) {
    asio::co_spawn(ioc_, c.handler->on_message(std::move(frame), binary), asio::detached);
    ioc_.restart();
    ioc_.poll();
  }
  // A client joined to the main namespace; its socket is sockets_.back().
  Client joined() {
    Client c = open();
    send(c, "40");
    EXPECT_TRUE(c.last().starts_with("40{\"sid\":")) << c.last();
    return c;
  }

  asio::io_context ioc_;
  Server server_;
  std::vector<std::shared_ptr<Socket>> sockets_;
  std::vector<std::string> disconnects_;
};

TEST_F(SocketIoProtocolTest, AnUnknownNamespaceIsRefusedAndTheSessionStaysForAnother) {
  Client c = open();
  send(c, "40/nope,");
  EXPECT_EQ(c.last(), "44/nope,{\"message\":\"Invalid namespace\"}");
  EXPECT_FALSE(c.conn->closed());
  send(c, "40{\"token\":\"t\"}");
  EXPECT_TRUE(c.last().starts_with("40{\"sid\":")) << c.last();
  ASSERT_EQ(sockets_.size(), 1u);
  EXPECT_EQ(json::serialize(sockets_[0]->auth()), "{\"token\":\"t\"}");
  send(c, "40");  // a second CONNECT while connected is ignored
  EXPECT_EQ(sockets_.size(), 1u);
  EXPECT_EQ(c.frames().size(), 2u);
  EXPECT_EQ(server_.socket_count(), 1u);
}

TEST_F(SocketIoProtocolTest, AMiddlewareRefusalIsTheClientsConnectErrorWithItsData) {
  server_.of("/private").use([](const std::shared_ptr<Socket>&) -> asio::awaitable<std::optional<ConnectRefusal>> {
    co_return ConnectRefusal{"not allowed", json::object{{"reason", "no token"}}};
  });
  server_.of("/plain").use([](const std::shared_ptr<Socket>&) -> asio::awaitable<std::optional<ConnectRefusal>> {
    co_return ConnectRefusal{"go away", nullptr};
  });
  std::string user;
  server_.of("/open").use([](const std::shared_ptr<Socket>& s) -> asio::awaitable<std::optional<ConnectRefusal>> {
    s->set_user("u1");
    s->release_auth();
    co_return std::nullopt;
  });
  server_.of("/open").on_connection([&](const std::shared_ptr<Socket>& s) { user = s->user() + s->nsp(); });
  Client c = open();
  send(c, "40/private,");
  EXPECT_EQ(c.last(), "44/private,{\"message\":\"not allowed\",\"data\":{\"reason\":\"no token\"}}");
  send(c, "40/plain,");
  EXPECT_EQ(c.last(), "44/plain,{\"message\":\"go away\"}");
  EXPECT_EQ(server_.socket_count(), 0u);
  send(c, "40/open,{\"token\":\"secret\"}");
  EXPECT_TRUE(c.last().starts_with("40/open,{\"sid\":")) << c.last();
  EXPECT_EQ(user, "u1/open");
  EXPECT_FALSE(c.conn->closed());
}

TEST_F(SocketIoProtocolTest, AnEventReachesItsHandlerAndIsAcknowledgedOnce) {
  Client c = joined();
  send(c, "427[\"echo\",1,\"a\"]");
  EXPECT_EQ(c.last(), "437[1,\"a\"]");
  send(c, "42[\"echo\",2]");           // no ack asked for: nothing sent
  send(c, "428[\"nobody listens\"]");  // no handler: no ack, as in socket.io
  send(c, "42/other,[\"echo\",3]");    // a namespace not joined: dropped
  send(c, "431[\"ack from a client\"]");  // this server asks for none: ignored
  EXPECT_EQ(c.frames().size(), 2u) << c.last();
  EXPECT_FALSE(c.conn->closed());

  ASSERT_EQ(sockets_.size(), 1u);
  EXPECT_TRUE(sockets_[0]->emit_serialized("delta", "{\"text\":\"hi\"}"));
  EXPECT_EQ(c.last(), "42[\"delta\",{\"text\":\"hi\"}]");
  EXPECT_TRUE(sockets_[0]->emit("plain", Message{json::array{1, 2}, {}}));
  EXPECT_EQ(c.last(), "42[\"plain\",1,2]");
}

TEST_F(SocketIoProtocolTest, BinaryAttachmentsTravelWithTheirEventBothWays) {
  std::vector<std::string> received;
  Client c = joined();
  sockets_[0]->on("upload", [&](const std::shared_ptr<Socket>&, Message m, const Ack& ack) {
    received = m.attachments;
    ack(Message{json::array{json::object{{"_placeholder", true}, {"num", 0}}}, {"back"}});
  });
  send(c, "452-3[\"upload\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]");
  send(c, "one", true);
  EXPECT_TRUE(received.empty()) << "handled before its second attachment came";
  send(c, "two", true);
  EXPECT_EQ(received, (std::vector<std::string>{"one", "two"}));
  const auto frames = c.frames();
  ASSERT_GE(frames.size(), 2u);
  EXPECT_EQ(frames[frames.size() - 2], "461-3[{\"_placeholder\":true,\"num\":0}]");
  EXPECT_EQ(frames.back(), "<binary>back");

  EXPECT_TRUE(sockets_[0]->emit("file", Message{json::array{json::object{{"_placeholder", true}, {"num", 0}}}, {"xyz"}}));
  const auto after = c.frames();
  EXPECT_EQ(after[after.size() - 2], "451-[\"file\",{\"_placeholder\":true,\"num\":0}]");
  EXPECT_EQ(after.back(), "<binary>xyz");
  EXPECT_FALSE(c.conn->closed());
}

TEST_F(SocketIoProtocolTest, ProtocolErrorsCloseTheSession) {
  Client unannounced = joined();
  send(unannounced, "bytes nobody announced", true);
  EXPECT_TRUE(unannounced.conn->closed());

  Client overtaking = joined();
  send(overtaking, "451-[\"upload\",{\"_placeholder\":true,\"num\":0}]");
  EXPECT_FALSE(overtaking.conn->closed());
  send(overtaking, "42[\"echo\"]");  // a packet before the previous one's attachments
  EXPECT_TRUE(overtaking.conn->closed());

  Client server_only = joined();
  send(server_only, "44{\"message\":\"only servers send this\"}");
  EXPECT_TRUE(server_only.conn->closed());

  Client garbage = joined();
  send(garbage, "4x");
  EXPECT_TRUE(garbage.conn->closed());

  EXPECT_EQ(server_.socket_count(), 0u) << "every socket left with its session";
  EXPECT_EQ(disconnects_.size(), 4u);
}

TEST_F(SocketIoProtocolTest, EitherSideMayLeaveTheNamespace) {
  Client by_client = joined();
  send(by_client, "41");
  EXPECT_EQ(disconnects_, std::vector<std::string>{"client namespace disconnect"});
  EXPECT_FALSE(sockets_[0]->connected());
  EXPECT_FALSE(sockets_[0]->emit("late", {}));
  EXPECT_FALSE(sockets_[0]->emit_serialized("late", "1"));
  send(by_client, "41");  // again: nobody left to disconnect
  EXPECT_EQ(disconnects_.size(), 1u);
  EXPECT_FALSE(by_client.conn->closed()) << "the session outlives its namespace";

  Client by_server = joined();
  sockets_[1]->disconnect();
  EXPECT_EQ(by_server.last(), "41");
  EXPECT_EQ(disconnects_.back(), "server namespace disconnect");
  sockets_[1]->disconnect();  // once
  EXPECT_EQ(by_server.frames().size(), 2u);
  EXPECT_EQ(server_.socket_count(), 0u);
  sockets_[1]->join("after");  // a closed socket joins nothing
  server_.of("/").broadcast("x", {}, Broadcast{{"after"}, {}, true});
  EXPECT_EQ(by_server.frames().size(), 2u);
}

TEST_F(SocketIoProtocolTest, BroadcastsReachTheChosenRoomsOnceAndSkipTheExcepted) {
  Client a = joined(), b = joined(), c = joined();
  const auto& sa = sockets_[0];
  const auto& sb = sockets_[1];
  const auto& sc = sockets_[2];
  sa->join("r1");
  sa->join("r2");
  sb->join("r2");
  sc->join("r3");
  sc->join(sc->id());  // its own room: always in it
  RecordingRelay relay;
  server_.set_relay(&relay);
  const auto events = [](const Client& cl) {
    std::vector<std::string> out;
    for (const auto& f : cl.frames())
      if (f.starts_with("42[\"n\"")) out.push_back(f.substr(7, f.size() - 8));
    return out;
  };
  Namespace& ns = server_.of("/");
  ns.broadcast("n", Message{json::array{1}, {}}, Broadcast{{"r1", "r2"}, {sb->id()}, false});
  ns.broadcast("n", Message{json::array{2}, {}}, Broadcast{{}, {"r3"}, true});
  ns.broadcast("n", Message{json::array{3}, {}}, Broadcast{{sc->id()}, {}, true});
  sa->leave("r1");
  sb->leave("r9");  // never joined
  ns.broadcast("n", Message{json::array{4}, {}}, Broadcast{{"r1"}, {}, true});
  ns.broadcast("n", Message{json::array{5}, {}}, Broadcast{{"nobody"}, {}, true});
  EXPECT_EQ(events(a), (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(events(b), (std::vector<std::string>{"2"}));
  EXPECT_EQ(events(c), (std::vector<std::string>{"3"}));
  // Only the broadcast that was not local went to the other processes.
  EXPECT_EQ(relay.published, std::vector<std::string>{"2[\"n\",1] to 2 room(s), 0 attachment(s)"});

  // What another process broadcast reaches this one's sockets only; an unknown namespace nobody.
  Packet p;
  p.nsp = "/";
  p.data = json::array{"n", 6};
  server_.deliver(p, {}, Broadcast{{"r2"}, {}, false});
  p.nsp = "/elsewhere";
  server_.deliver(p, {}, Broadcast{});
  EXPECT_EQ(events(a), (std::vector<std::string>{"1", "2", "6"}));
  EXPECT_EQ(events(b), (std::vector<std::string>{"2", "6"}));
  EXPECT_EQ(relay.published.size(), 1u);
  server_.set_relay(nullptr);
}

class SocketIoFloodTest : public SocketIoProtocolTest {
 protected:
  // A burst of 2 and a refill far slower than the test: the third event in a row is refused.
  SocketIoFloodTest() : SocketIoProtocolTest(Options{std::chrono::milliseconds{45000}, 0.001, 2}) {}
};

TEST_F(SocketIoFloodTest, EventsBeyondTheBurstAreRefusedAndAFloodDisconnects) {
  Client c = joined();
  send(c, "421[\"echo\",1]");
  send(c, "422[\"echo\",2]");
  EXPECT_EQ(c.last(), "432[2]");
  send(c, "423[\"echo\",3]");
  EXPECT_EQ(c.last(), "433[{\"error\":{\"code\":\"rate_limited\",\"message\":\"too many events; slow down\"}}]");
  send(c, "42[\"echo\",4]");  // refused without an ack to say so
  EXPECT_EQ(c.last(), "433[{\"error\":{\"code\":\"rate_limited\",\"message\":\"too many events; slow down\"}}]");
  EXPECT_TRUE(sockets_[0]->connected());
  send(c, "425[\"echo\",5]");  // a whole burst refused in a row, and more: a flood
  EXPECT_EQ(c.last(), "41");
  EXPECT_FALSE(sockets_[0]->connected());
  EXPECT_EQ(disconnects_, std::vector<std::string>{"server namespace disconnect"});
}

}  // namespace
}  // namespace aas::realtime::socketio
