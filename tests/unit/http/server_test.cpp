#include "http/server.hpp"

#include "auth/jwt.hpp"
#include "http/dispatcher.hpp"
#include "http/loopback_server.hpp"

#include <gtest/gtest.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <atomic>
#include <future>
#include <thread>

namespace aas::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace json = boost::json;
using namespace std::chrono_literals;

using ClientResponse = bhttp::response<bhttp::string_body>;

// A blocking test client over its own io_context, so every read has a timeout and a broken
// server fails the test instead of hanging it.
class Client {
 public:
  explicit Client(std::uint16_t port) {
    stream_.socket().connect({asio::ip::make_address("127.0.0.1"), port}, connect_error_);
  }

  const beast::error_code& connect_error() const { return connect_error_; }

  void send(std::string_view raw) { asio::write(stream_.socket(), asio::buffer(raw)); }

  std::optional<ClientResponse> read(std::chrono::milliseconds timeout = 5000ms,
                                     bool head = false) {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.skip(head);
    stream_.expires_after(timeout);
    bhttp::async_read(stream_, buffer_, parser,
                      [this](beast::error_code ec, std::size_t) { error_ = ec; });
    run();
    if (error_) return std::nullopt;
    return parser.release();
  }

  // True when the server closes the connection within the timeout (and sends nothing more).
  bool closed_by_server(std::chrono::milliseconds timeout = 3000ms) {
    if (buffer_.size() > 0) return false;
    char byte;
    stream_.expires_after(timeout);
    stream_.async_read_some(asio::buffer(&byte, 1),
                            [this](beast::error_code ec, std::size_t) { error_ = ec; });
    run();
    return error_ == asio::error::eof || error_ == asio::error::connection_reset;
  }

 private:
  void run() {
    ioc_.restart();
    ioc_.run();
  }

  asio::io_context ioc_;
  beast::tcp_stream stream_{ioc_};
  beast::flat_buffer buffer_;
  beast::error_code connect_error_;
  beast::error_code error_;
};

json::object body_of(const ClientResponse& res) { return json::parse(res.body()).as_object(); }

constexpr std::string_view kGetHealth = "GET /health HTTP/1.1\r\nHost: test\r\n\r\n";

class ServerTest : public LoopbackServerTest {
 protected:
  Router make_router() {
    Router r;
    r.add({"GET", "/health", Access::open, [](Context&) -> asio::awaitable<Result<Response>> {
             Response res;
             res.body = R"({"status":"ok"})";
             co_return res;
           }});
    r.add({"POST", "/echo", Access::open, [](Context& ctx) -> asio::awaitable<Result<Response>> {
             Response res;
             res.body = ctx.request.body;
             co_return res;
           }});
    r.add(
        {"GET", "/items/:id", Access::open, [](Context& ctx) -> asio::awaitable<Result<Response>> {
           Response res;
           res.body = json::serialize(
               json::object{{"id", ctx.param("id")}, {"q", ctx.request.query("q").value_or("")}});
           co_return res;
         }});
    r.add({"GET", "/slow", Access::open, [this](Context&) -> asio::awaitable<Result<Response>> {
             slow_started_.set_value();
             asio::steady_timer timer(co_await asio::this_coro::executor, 300ms);
             co_await timer.async_wait(asio::use_awaitable);
             Response res;
             res.body = R"({"slow":true})";
             co_return res;
           }});
    return r;
  }

  void start(ServerOptions options = {}) { start_server(make_router(), options); }

  std::promise<void> slow_started_;
};

TEST_F(ServerTest, ServesTwoRequestsOnOneKeepAliveConnection) {
  start();
  Client client(server_->port());
  ASSERT_FALSE(client.connect_error());
  for (int i = 0; i < 2; ++i) {
    client.send(kGetHealth);
    const auto res = client.read();
    ASSERT_TRUE(res) << "request " << i;
    EXPECT_EQ(res->result_int(), 200);
    EXPECT_EQ(res->body(), R"({"status":"ok"})");
    EXPECT_EQ((*res)[bhttp::field::server], "ai-agent-service");
    EXPECT_EQ((*res)[bhttp::field::content_type], "application/json");
    EXPECT_FALSE((*res)["x-request-id"].empty());
    EXPECT_TRUE(res->keep_alive());
  }
}

TEST_F(ServerTest, AnswersPipelinedRequestsInOrder) {
  start();
  Client client(server_->port());
  client.send(std::string(kGetHealth) + "GET /items/a%20b?q=x+y HTTP/1.1\r\nHost: test\r\n\r\n");
  const auto first = client.read();
  const auto second = client.read();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->body(), R"({"status":"ok"})");
  EXPECT_EQ(body_of(*second).at("id"), "a b");  // the router sees the decoded path
  EXPECT_EQ(body_of(*second).at("q"), "x y");
}

TEST_F(ServerTest, HttpOneZeroAndConnectionCloseEndTheConnection) {
  start();
  Client client(server_->port());
  client.send("GET /health HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
  const auto res = client.read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result_int(), 200);
  EXPECT_FALSE(res->keep_alive());
  EXPECT_TRUE(client.closed_by_server());

  Client old(server_->port());
  old.send("GET /health HTTP/1.0\r\n\r\n");
  const auto old_res = old.read();
  ASSERT_TRUE(old_res);
  EXPECT_EQ(old_res->result_int(), 200);
  EXPECT_TRUE(old.closed_by_server());
}

TEST_F(ServerTest, HeadGetsHeadersWithoutBody) {
  start();
  Client client(server_->port());
  client.send("HEAD /health HTTP/1.1\r\nHost: test\r\n\r\n");
  const auto res = client.read(5000ms, /*head=*/true);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result_int(), 200);
  EXPECT_EQ((*res)[bhttp::field::content_length], "15");
  EXPECT_TRUE(res->body().empty());
  // The connection is still in sync: the next response parses.
  client.send(kGetHealth);
  const auto next = client.read();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->body(), R"({"status":"ok"})");
}

TEST_F(ServerTest, EchoesBodyAndHonoursExpectContinue) {
  start();
  Client client(server_->port());
  client.send(
      "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
      "Content-Length: 7\r\nExpect: 100-continue\r\n\r\n");
  const auto interim = client.read();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->result_int(), 100);
  client.send(R"({"a":1})");
  const auto res = client.read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result_int(), 200);
  EXPECT_EQ(res->body(), R"({"a":1})");
}

TEST_F(ServerTest, BodyOverTheLimitIs413AndCloses) {
  ServerOptions options;
  options.max_body_bytes = 1024;
  start(options);
  Client client(server_->port());
  client.send(
      "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
      "Content-Length: 4096\r\n\r\n" +
      std::string(4096, 'x'));
  const auto res = client.read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result_int(), 413);
  EXPECT_EQ(body_of(*res).at("success"), false);
  EXPECT_EQ(body_of(*res).at("error").at("code"), "payload_too_large");
  EXPECT_FALSE((*res)["x-request-id"].empty());
  EXPECT_FALSE(res->keep_alive());
  EXPECT_TRUE(client.closed_by_server());
}

TEST_F(ServerTest, ChunkedBodyOverTheLimitIs413) {
  ServerOptions options;
  options.max_body_bytes = 1024;
  start(options);
  Client client(server_->port());
  client.send(
      "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n800\r\n" +
      std::string(2048, 'x') + "\r\n0\r\n\r\n");
  const auto res = client.read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result_int(), 413);
  EXPECT_EQ(body_of(*res).at("error").at("code"), "payload_too_large");
}

TEST_F(ServerTest, OversizedHeaderIs413) {
  ServerOptions options;
  options.max_header_bytes = 2048;
  start(options);
  Client client(server_->port());
  client.send("GET /health HTTP/1.1\r\nHost: test\r\nX-Big: " + std::string(4000, 'a') +
              "\r\n\r\n");
  const auto res = client.read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result_int(), 413);
  EXPECT_EQ(body_of(*res).at("error").at("code"), "payload_too_large");
  EXPECT_FALSE(res->keep_alive());
}

TEST_F(ServerTest, GarbageIs400AndCloses) {
  start();
  Client client(server_->port());
  client.send("\x01\x02 this is not http\r\n\r\n");
  const auto res = client.read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result_int(), 400);
  EXPECT_EQ(body_of(*res).at("error").at("code"), "invalid_request");
  EXPECT_TRUE(client.closed_by_server());
}

// The bytes after a head with an unknown Transfer-Encoding are no request of their own.
TEST_F(ServerTest, UnknownTransferEncodingIs400AndTheSmuggledRequestIsNeverAnswered) {
  start();
  Client client(server_->port());
  client.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
              "Transfer-Encoding: chunked, identity\r\n\r\n" + std::string(kGetHealth));
  const auto res = client.read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result_int(), 400);
  EXPECT_EQ(body_of(*res).at("error").at("message"), "only the chunked transfer coding is accepted");
  EXPECT_FALSE(res->keep_alive());
  EXPECT_TRUE(client.closed_by_server());
}

TEST_F(ServerTest, DuplicateAuthorizationIs400) {
  start();
  Client client(server_->port());
  client.send("GET /health HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\n\r\n");
  const auto res = client.read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result_int(), 400);
  EXPECT_EQ(body_of(*res).at("error").at("message"), "duplicate Authorization header");
  EXPECT_TRUE(client.closed_by_server());
}

TEST_F(ServerTest, IdleConnectionsAreClosed) {
  ServerOptions options;
  options.idle_timeout = 200ms;
  start(options);

  Client used(server_->port());
  used.send(kGetHealth);
  ASSERT_TRUE(used.read());
  Client silent(server_->port());

  // closed_by_server is true only for the server's EOF or reset, never for its own read timeout
  // (kept far longer than the idle timeout, so a loaded machine cannot make it fire first): the
  // idle timeout closed them, with no clock read here.
  EXPECT_TRUE(used.closed_by_server(60s));
  EXPECT_TRUE(silent.closed_by_server(60s));
}

TEST_F(ServerTest, ShutdownFinishesInFlightRequestsAndRefusesNewOnes) {
  start();
  Client idle(server_->port());
  idle.send(kGetHealth);
  ASSERT_TRUE(idle.read());

  Client busy(server_->port());
  busy.send("GET /slow HTTP/1.1\r\nHost: test\r\n\r\n");
  ASSERT_EQ(slow_started_.get_future().wait_for(30s), std::future_status::ready);

  std::promise<bool> drained;
  server_->shutdown([&drained](bool ok) { drained.set_value(ok); });

  EXPECT_TRUE(idle.closed_by_server());
  const auto res = busy.read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result_int(), 200);
  EXPECT_EQ(res->body(), R"({"slow":true})");
  EXPECT_EQ((*res)[bhttp::field::connection], "close");
  EXPECT_TRUE(busy.closed_by_server());

  auto done = drained.get_future();
  ASSERT_EQ(done.wait_for(30s), std::future_status::ready);
  EXPECT_TRUE(done.get());

  EXPECT_TRUE(refuses_connections());
}

TEST_F(ServerTest, ShutdownWithNoConnectionsDrainsAtOnce) {
  start();
  std::promise<bool> drained;
  server_->shutdown([&drained](bool ok) { drained.set_value(ok); });
  auto done = drained.get_future();
  ASSERT_EQ(done.wait_for(30s), std::future_status::ready);
  EXPECT_TRUE(done.get());
}

TEST_F(ServerTest, StartFailsWhenThePortIsTaken) {
  start();
  ServerOptions options;
  options.host = "127.0.0.1";
  options.port = server_->port();
  Server second(ioc_, options, *dispatcher_);
  EXPECT_THROW(second.start(), std::runtime_error);
}

}  // namespace
}  // namespace aas::http
