// Streamed responses (Response::stream, Server-Sent Events) through a real Server on loopback.
#include "http/server.hpp"

#include "auth/jwt.hpp"
#include "http/dispatcher.hpp"
#include "http/error_response.hpp"
#include "http/loopback_server.hpp"
#include "http/sse.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <future>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace aas::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A blocking client over its own io_context that reads a chunked body one chunk at a time, so a
// test sees exactly when each chunk arrives. Every read has a timeout: a broken server fails the
// test instead of hanging it.
class StreamClient {
 public:
  explicit StreamClient(std::uint16_t port) {
    stream_.socket().connect({asio::ip::make_address("127.0.0.1"), port}, connect_error_);
    on_chunk_ = [this](std::uint64_t remain, std::string_view body, beast::error_code& ec) {
      // The last piece of a chunk: stop reading so that the chunk is handed out on its own.
      if (remain == body.size()) ec = bhttp::error::end_of_chunk;
      chunk_.append(body);
      return body.size();
    };
    next_response();
  }

  // Reads the next response on this connection from here on (after a body was complete).
  void next_response() {
    parser_.emplace();
    parser_->on_chunk_body(on_chunk_);
  }

  std::uint16_t local_port() const { return stream_.socket().local_endpoint().port(); }

  void send(std::string_view raw) { asio::write(stream_.socket(), asio::buffer(raw)); }

  bool read_head(std::chrono::milliseconds timeout = 5000ms) {
    stream_.expires_after(timeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [this](beast::error_code ec, std::size_t) { error_ = ec; });
    run();
    return !error_;
  }

  const bhttp::response<bhttp::string_body>& head() const { return parser_->get(); }

  // The next whole chunk; nullopt once the body is complete (body_complete()) or the connection
  // failed or timed out first.
  std::optional<std::string> next_chunk(std::chrono::milliseconds timeout = 5000ms) {
    if (parser_->is_done()) return std::nullopt;
    chunk_.clear();
    stream_.expires_after(timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      [this](beast::error_code ec, std::size_t) { error_ = ec; });
    run();
    if (error_ == bhttp::error::end_of_chunk) return chunk_;
    return std::nullopt;
  }

  // True once the last chunk has arrived.
  bool body_complete() const { return parser_->is_done(); }

  // Everything the server sends until it closes the connection (head included).
  std::string read_until_closed(std::chrono::milliseconds timeout = 5000ms) {
    std::string out;
    char data[4096];
    stream_.expires_after(timeout);
    std::function<void(beast::error_code, std::size_t)> on_read;
    on_read = [&](beast::error_code ec, std::size_t n) {
      out.append(data, n);
      error_ = ec;
      if (!ec) stream_.async_read_some(asio::buffer(data), on_read);
    };
    stream_.async_read_some(asio::buffer(data), on_read);
    run();
    return out;
  }

  const beast::error_code& last_error() const { return error_; }

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

  void close() {
    beast::error_code ec;
    stream_.socket().close(ec);
  }

 private:
  void run() {
    ioc_.restart();
    ioc_.run();
  }

  asio::io_context ioc_;
  beast::tcp_stream stream_{ioc_};
  beast::flat_buffer buffer_;
  std::optional<bhttp::response_parser<bhttp::string_body>> parser_;
  std::function<std::size_t(std::uint64_t, std::string_view, beast::error_code&)> on_chunk_;
  std::string chunk_;
  beast::error_code connect_error_;
  beast::error_code error_;
};

// Lets the test thread release a producer at a known point. The producer polls the flag because
// a timer must not be touched from another thread; it waits for the event, not for a guess.
class Gate {
 public:
  void open() { open_ = true; }
  asio::awaitable<void> wait() {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    while (!open_) {
      timer.expires_after(5ms);
      co_await timer.async_wait(asio::use_awaitable);
    }
  }

 private:
  std::atomic<bool> open_{false};
};

asio::awaitable<void> sleep_for(Clock::duration d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(asio::use_awaitable);
}


constexpr std::string_view kGetStream = "GET /stream HTTP/1.1\r\nHost: test\r\n\r\n";
constexpr std::string_view kGetStreamThenClose = "GET /stream HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";

class ServerStreamTest : public LoopbackServerTest {
 protected:
  // GET /stream answers with `body_`, the test's producer.
  Router make_router() {
    Router r;
    r.add({"GET", "/stream", Access::open, [this](Context&) -> asio::awaitable<Result<Response>> {
             co_return sse_response(body_);
           }});
    return r;
  }

  void start(ServerOptions options = {}, DispatcherOptions dispatcher_options = {}) {
    start_server(make_router(), options, std::move(dispatcher_options));
  }

  StreamBody body_;
};

TEST_F(ServerStreamTest, SendsEventStreamHeadersChunkedWithoutLength) {
  body_ = [](BodyWriter& out) -> asio::awaitable<void> {
    co_await out.write(sse_event("delta", R"({"text":"hi"})"));
  };
  start();
  StreamClient client(server_->port());
  client.send(kGetStreamThenClose);
  ASSERT_TRUE(client.read_head());
  const auto& head = client.head();
  EXPECT_EQ(head.result_int(), 200);
  EXPECT_EQ(head[bhttp::field::content_type], "text/event-stream; charset=utf-8");
  EXPECT_EQ(head[bhttp::field::transfer_encoding], "chunked");
  EXPECT_EQ(head.count(bhttp::field::content_length), 0u);
  EXPECT_EQ(head[bhttp::field::connection], "close");
  EXPECT_EQ(head[bhttp::field::cache_control], "no-cache");
  EXPECT_EQ(head["x-accel-buffering"], "no");
  EXPECT_FALSE(head["x-request-id"].empty());
  EXPECT_EQ(head[bhttp::field::server], "ai-agent-service");

  EXPECT_EQ(client.next_chunk(), "event: delta\ndata: {\"text\":\"hi\"}\n\n");
  EXPECT_EQ(client.next_chunk(), std::nullopt);
  EXPECT_TRUE(client.body_complete());
  EXPECT_TRUE(client.closed_by_server());
}

TEST_F(ServerStreamTest, EachWriteReachesTheClientAtOnce) {
  Gate second;
  std::atomic<bool> wrote_second{false};
  std::promise<std::vector<bool>> results;
  body_ = [&](BodyWriter& out) -> asio::awaitable<void> {
    std::vector<bool> ok;
    ok.push_back(co_await out.write(sse_event("delta", "1")));
    ok.push_back(co_await out.write(""));  // nothing to send; must not end the body
    co_await second.wait();
    wrote_second = true;
    ok.push_back(co_await out.write(sse_event("delta", "2")));
    results.set_value(ok);
  };
  start();
  StreamClient client(server_->port());
  client.send(kGetStreamThenClose);
  ASSERT_TRUE(client.read_head());
  // The producer is parked before its second write, so this chunk was not held back for it.
  EXPECT_EQ(client.next_chunk(), "event: delta\ndata: 1\n\n");
  EXPECT_FALSE(wrote_second);
  second.open();
  EXPECT_EQ(client.next_chunk(), "event: delta\ndata: 2\n\n");
  EXPECT_EQ(client.next_chunk(), std::nullopt);
  EXPECT_TRUE(client.body_complete());
  EXPECT_TRUE(client.closed_by_server());
  auto written = results.get_future();
  ASSERT_EQ(written.wait_for(30s), std::future_status::ready);
  EXPECT_EQ(written.get(), (std::vector<bool>{true, true, true}));
}

// A direct send (try_write) that the socket takes only in part keeps the rest, and the next write
// sends it first: a reader that reads nothing until the socket is full gets every event whole
// and in order.
TEST_F(ServerStreamTest, DirectSendsThatFillTheSocketArriveWholeAndInOrder) {
  const auto event = [](std::size_t i) {
    std::string e = "data: " + std::to_string(i) + " ";
    e.resize(8 * 1024, 'x');
    return e + "\n\n";
  };
  struct Outcome {
    std::size_t events = 0;
    std::size_t direct = 0;  // all sent by try_write
    bool ok = true;
  };
  std::promise<void> socket_full;
  std::promise<Outcome> outcome;
  body_ = [&](BodyWriter& out) -> asio::awaitable<void> {
    Outcome o;
    o.ok = co_await out.write(event(o.events++));  // the head goes with the first write
    bool kept = false;
    std::size_t after = 0;  // events after the socket was full
    while (o.ok && after < 20 && o.events < 8192) {
      const std::string e = event(o.events++);
      const BodyWriter::TryWrite r = out.try_write(e);
      if (r == BodyWriter::TryWrite::written) ++o.direct;
      if (r == BodyWriter::TryWrite::kept && !kept) {
        kept = true;
        socket_full.set_value();  // now the client starts reading
      }
      if (r == BodyWriter::TryWrite::busy) o.ok = co_await out.write(e);
      if (r == BodyWriter::TryWrite::closed) o.ok = false;
      if (kept) ++after;
    }
    outcome.set_value(o);
  };
  start();
  StreamClient client(server_->port());
  client.send(kGetStreamThenClose);
  ASSERT_EQ(socket_full.get_future().wait_for(30s), std::future_status::ready)
      << "the socket never filled: no direct send was cut short";
  ASSERT_TRUE(client.read_head());
  std::size_t received = 0;
  while (auto chunk = client.next_chunk()) {
    ASSERT_EQ(*chunk, event(received)) << "event " << received;
    ++received;
  }
  EXPECT_TRUE(client.body_complete());
  auto result = outcome.get_future();
  ASSERT_EQ(result.wait_for(30s), std::future_status::ready);
  const Outcome o = result.get();
  EXPECT_TRUE(o.ok);
  EXPECT_EQ(received, o.events);
  EXPECT_GT(o.direct, 0u) << "events went out by try_write while the socket had room";
}

TEST_F(ServerStreamTest, ClientLeavingCompletesClosedAndLaterWritesFail) {
  struct Outcome {
    bool closed_flag;
    bool later_write;
  };
  std::promise<void> closed_done;
  std::promise<Outcome> outcome;
  body_ = [&](BodyWriter& out) -> asio::awaitable<void> {
    co_await out.write(sse_event("delta", "1"));
    co_await client_gone(out);
    closed_done.set_value();
    const bool later = co_await out.write(sse_event("delta", "2"));
    outcome.set_value({out.is_closed(), later});
  };
  start();
  StreamClient client(server_->port());
  client.send(kGetStream);
  ASSERT_TRUE(client.read_head());
  ASSERT_EQ(client.next_chunk(), "event: delta\ndata: 1\n\n");
  client.close();

  EXPECT_EQ(closed_done.get_future().wait_for(30s), std::future_status::ready);
  auto result = outcome.get_future();
  ASSERT_EQ(result.wait_for(30s), std::future_status::ready);
  const Outcome o = result.get();
  EXPECT_TRUE(o.closed_flag);
  EXPECT_FALSE(o.later_write);
}

TEST_F(ServerStreamTest, ClosedCancelsWorkRacedAgainstIt) {
  using namespace asio::experimental::awaitable_operators;
  std::promise<std::size_t> winner;
  body_ = [&](BodyWriter& out) -> asio::awaitable<void> {
    co_await out.write(sse_event("start", "{}"));
    // Upstream work far longer than the test: only the client leaving can end it in time.
    auto first = co_await (sleep_for(60s) || client_gone(out));
    winner.set_value(first.index());
  };
  start();
  StreamClient client(server_->port());
  client.send(kGetStream);
  ASSERT_TRUE(client.read_head());
  ASSERT_EQ(client.next_chunk(), "event: start\ndata: {}\n\n");
  client.close();

  // The race's winner says what ended it (no clock read); the deadline is only for a hang.
  auto result = winner.get_future();
  ASSERT_EQ(result.wait_for(30s), std::future_status::ready);
  EXPECT_EQ(result.get(), 1u) << "the client leaving won, not the 60 s of work";
}

TEST_F(ServerStreamTest, ClosedLosingARaceIsCancelledWithoutClosing) {
  using namespace asio::experimental::awaitable_operators;
  std::promise<std::vector<std::size_t>> winners;
  body_ = [&](BodyWriter& out) -> asio::awaitable<void> {
    std::vector<std::size_t> seen;
    // Each round cancels a wait for on_closed; the stream must carry on as if nothing happened.
    for (int round = 0; round < 3; ++round) {
      auto winner = co_await (sleep_for(20ms) || client_gone(out));
      seen.push_back(winner.index());
      if (out.is_closed() || !co_await out.write(sse_event("round", std::to_string(round)))) break;
    }
    winners.set_value(seen);
  };
  start();
  StreamClient client(server_->port());
  client.send(kGetStream);
  ASSERT_TRUE(client.read_head());
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(client.next_chunk(), "event: round\ndata: " + std::to_string(round) + "\n\n");
  }
  EXPECT_EQ(client.next_chunk(), std::nullopt);
  EXPECT_TRUE(client.body_complete());

  auto result = winners.get_future();
  ASSERT_EQ(result.wait_for(30s), std::future_status::ready);
  EXPECT_EQ(result.get(), (std::vector<std::size_t>{0, 0, 0}));
}

TEST_F(ServerStreamTest, ReaderThatNeverReadsMakesWritesFailWithBoundedMemory) {
  constexpr std::size_t kPiece = 64 * 1024;
  constexpr std::size_t kLimit = 64 * 1024 * 1024;
  struct Outcome {
    bool failed;
    std::size_t sent;
    bool closed_flag;
  };
  std::promise<Outcome> outcome;
  body_ = [&](BodyWriter& out) -> asio::awaitable<void> {
    const std::string piece(kPiece, 'x');
    std::size_t sent = 0;
    bool failed = false;
    while (sent < kLimit) {
      if (!co_await out.write(piece)) {
        failed = true;
        break;
      }
      sent += piece.size();
    }
    // Once failed, a write returns false at once instead of waiting again, and on_closed
    // has completed (or this would hang and the test time out).
    const bool again = co_await out.write(piece);
    co_await client_gone(out);
    outcome.set_value({failed && !again, sent, out.is_closed()});
  };
  ServerOptions options;
  options.write_timeout = 300ms;
  start(options);
  StreamClient client(server_->port());
  client.send(kGetStream);  // and never read a byte

  auto result = outcome.get_future();
  ASSERT_EQ(result.wait_for(30s), std::future_status::ready);
  const Outcome o = result.get();
  EXPECT_TRUE(o.failed);
  // What was accepted fits the socket buffers: the server queues nothing of its own.
  EXPECT_LT(o.sent, kLimit) << "bytes accepted before the write failed";
  std::cout << "[ info ] a client that never reads took " << o.sent << " bytes\n";
  EXPECT_TRUE(o.closed_flag);
}

TEST_F(ServerStreamTest, LongStreamOutlivesTheRequestTimeout) {
  body_ = [](BodyWriter& out) -> asio::awaitable<void> {
    co_await out.write(sse_event("delta", "1"));
    co_await sleep_for(400ms);
    co_await out.write(sse_event("delta", "2"));
  };
  DispatcherOptions dispatcher_options;
  dispatcher_options.request_timeout = 100ms;
  start({}, dispatcher_options);
  StreamClient client(server_->port());
  client.send(kGetStream);
  ASSERT_TRUE(client.read_head());
  EXPECT_EQ(client.head().result_int(), 200);
  EXPECT_EQ(client.next_chunk(), "event: delta\ndata: 1\n\n");
  EXPECT_EQ(client.next_chunk(), "event: delta\ndata: 2\n\n");
  EXPECT_EQ(client.next_chunk(), std::nullopt);
  EXPECT_TRUE(client.body_complete());
}

TEST_F(ServerStreamTest, ShutdownWaitsForTheStreamToFinish) {
  Gate finish;
  body_ = [&](BodyWriter& out) -> asio::awaitable<void> {
    co_await out.write(sse_event("delta", "1"));
    co_await finish.wait();
    co_await out.write(sse_event("done", "{}"));
  };
  start();
  StreamClient client(server_->port());
  client.send(kGetStream);
  ASSERT_TRUE(client.read_head());
  ASSERT_EQ(client.next_chunk(), "event: delta\ndata: 1\n\n");

  std::promise<bool> drained;
  server_->shutdown([&drained](bool ok) { drained.set_value(ok); });
  auto done = drained.get_future();
  // The producer is parked at the gate, so the stream cannot be over yet.
  EXPECT_EQ(done.wait_for(100ms), std::future_status::timeout);
  EXPECT_TRUE(refuses_connections());

  finish.open();
  EXPECT_EQ(client.next_chunk(), "event: done\ndata: {}\n\n");
  EXPECT_EQ(client.next_chunk(), std::nullopt);
  EXPECT_TRUE(client.body_complete());
  ASSERT_EQ(done.wait_for(30s), std::future_status::ready);
  EXPECT_TRUE(done.get());
}

TEST_F(ServerStreamTest, ShutdownGivesUpOnAStreamAfterTheGracePeriod) {
  Gate finish;
  std::promise<void> ended;
  body_ = [&](BodyWriter& out) -> asio::awaitable<void> {
    co_await out.write(sse_event("delta", "1"));
    co_await finish.wait();
    ended.set_value();
  };
  ServerOptions options;
  options.shutdown_grace = 200ms;
  start(options);
  StreamClient client(server_->port());
  client.send(kGetStream);
  ASSERT_TRUE(client.read_head());
  ASSERT_EQ(client.next_chunk(), "event: delta\ndata: 1\n\n");

  std::promise<bool> drained;
  server_->shutdown([&drained](bool ok) { drained.set_value(ok); });
  auto done = drained.get_future();
  ASSERT_EQ(done.wait_for(30s), std::future_status::ready);
  EXPECT_FALSE(done.get());

  // The stream was not killed: its producer still ends it.
  finish.open();
  EXPECT_EQ(ended.get_future().wait_for(30s), std::future_status::ready);
  EXPECT_EQ(client.next_chunk(), std::nullopt);
  EXPECT_TRUE(client.body_complete());
}

TEST_F(ServerStreamTest, HttpOneZeroGetsACloseDelimitedBody) {
  body_ = [](BodyWriter& out) -> asio::awaitable<void> {
    co_await out.write(sse_event("delta", "1"));
    co_await out.write(sse_event("done", "{}"));
  };
  start();
  StreamClient client(server_->port());
  client.send("GET /stream HTTP/1.0\r\n\r\n");
  const std::string raw = client.read_until_closed();
  EXPECT_EQ(client.last_error(), asio::error::eof);
  const std::size_t end_of_head = raw.find("\r\n\r\n");
  ASSERT_NE(end_of_head, std::string::npos) << raw;
  const std::string head = raw.substr(0, end_of_head + 2);
  const std::string body = raw.substr(end_of_head + 4);
  EXPECT_EQ(head.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << head;
  EXPECT_NE(head.find("Content-Type: text/event-stream"), std::string::npos) << head;
  EXPECT_NE(head.find("Connection: close\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.find("Transfer-Encoding"), std::string::npos) << head;
  EXPECT_EQ(head.find("Content-Length"), std::string::npos) << head;
  EXPECT_EQ(body, "event: delta\ndata: 1\n\nevent: done\ndata: {}\n\n");
}

TEST_F(ServerStreamTest, HeadGetsTheHeadersWithoutRunningTheStream) {
  std::atomic<bool> ran{false};
  body_ = [&](BodyWriter& out) -> asio::awaitable<void> {
    ran = true;
    co_await out.write(sse_event("delta", "1"));
  };
  start();
  StreamClient client(server_->port());
  client.send("HEAD /stream HTTP/1.1\r\nHost: test\r\n\r\n");
  const std::string raw = client.read_until_closed();
  EXPECT_EQ(raw.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << raw;
  EXPECT_NE(raw.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << raw;
  EXPECT_EQ(raw.substr(raw.find("\r\n\r\n") + 4), "");
  EXPECT_FALSE(ran);
}

TEST_F(ServerStreamTest, ProducerThatThrowsEndsTheStreamWithoutTheLastChunk) {
  body_ = [](BodyWriter& out) -> asio::awaitable<void> {
    co_await out.write(sse_event("delta", "1"));
    throw std::runtime_error("upstream exploded");
  };
  start();
  StreamClient client(server_->port());
  client.send(kGetStream);
  ASSERT_TRUE(client.read_head());
  EXPECT_EQ(client.next_chunk(), "event: delta\ndata: 1\n\n");
  EXPECT_EQ(client.next_chunk(), std::nullopt);
  // A truncated chunked body, not a clean end: the client can tell the answer is incomplete.
  EXPECT_FALSE(client.body_complete());
  EXPECT_EQ(client.last_error(), bhttp::error::partial_message);
}

TEST_F(ServerStreamTest, NothingIsSentBeforeTheFirstWriteSoTheBodyCanStillAnswerWithAStatus) {
  Gate fail;
  std::promise<void> entered;
  body_ = [&](BodyWriter& out) -> asio::awaitable<void> {
    entered.set_value();
    co_await fail.wait();
    Response r = error_response(make_error(errc::upstream_timeout, "the model did not answer"), "rid");
    r.headers.push_back({"retry-after", "7"});
    const bool replaced = co_await out.replace(std::move(r));
    EXPECT_TRUE(replaced);
    EXPECT_FALSE(co_await out.write(sse_event("delta", "too late"))) << "the stream is over";
  };
  DispatcherOptions cors;
  cors.cors_origins = {"https://app.example"};
  std::promise<int> counted;
  cors.observer = [&](std::string_view, std::string_view route, int status, double) {
    if (route == "/stream") counted.set_value(status);
  };
  start({}, cors);
  StreamClient client(server_->port());
  client.send("GET /stream HTTP/1.1\r\nHost: test\r\nOrigin: https://app.example\r\n\r\n");
  // The body decides after the request is in and the body runs (an event, not a sleep): a 200
  // head sent before or meanwhile would show below.
  entered.get_future().wait();
  fail.open();
  const std::string raw = client.read_until_closed();
  EXPECT_EQ(raw.rfind("HTTP/1.1 504 Gateway Timeout\r\n", 0), 0u) << raw;
  EXPECT_NE(raw.find("Content-Type: application/json"), std::string::npos) << raw;
  EXPECT_NE(raw.find("retry-after: 7\r\n"), std::string::npos) << raw;
  EXPECT_NE(raw.find("access-control-allow-origin: https://app.example\r\n"), std::string::npos)
      << "the stream's own headers stay: " << raw;
  EXPECT_NE(raw.find("x-request-id: "), std::string::npos) << raw;
  EXPECT_EQ(raw.find("HTTP/1.1", 1), std::string::npos) << "one response, nothing after it: " << raw;
  EXPECT_EQ(raw.find("text/event-stream"), std::string::npos) << raw;
  EXPECT_EQ(raw.find("chunked"), std::string::npos) << raw;
  EXPECT_NE(raw.find(R"("code":"upstream_timeout")"), std::string::npos) << raw;
  EXPECT_EQ(counted.get_future().get(), 504) << "the access log and metrics count what was sent";
}

TEST_F(ServerStreamTest, OnceTheStreamHasStartedItCannotBeReplaced) {
  std::promise<bool> replaced;
  body_ = [&](BodyWriter& out) -> asio::awaitable<void> {
    co_await out.write(sse_event("delta", "1"));
    replaced.set_value(co_await out.replace(error_response(make_error(errc::internal, "x"), "rid")));
  };
  DispatcherOptions observed;
  std::promise<int> counted;
  observed.observer = [&](std::string_view, std::string_view route, int status, double) {
    if (route == "/stream") counted.set_value(status);
  };
  start({}, observed);
  StreamClient client(server_->port());
  client.send(kGetStream);
  ASSERT_TRUE(client.read_head());
  EXPECT_EQ(client.head().result_int(), 200);
  EXPECT_EQ(client.next_chunk(), "event: delta\ndata: 1\n\n");
  EXPECT_FALSE(replaced.get_future().get());
  EXPECT_EQ(counted.get_future().get(), 200);
  EXPECT_EQ(client.next_chunk(), std::nullopt);
  EXPECT_TRUE(client.body_complete());
}

TEST_F(ServerStreamTest, ProducerThatThrowsBeforeWritingGetsA500) {
  body_ = [](BodyWriter&) -> asio::awaitable<void> {
    throw std::runtime_error("exploded before the first byte");
    co_return;
  };
  start();
  StreamClient client(server_->port());
  client.send(kGetStream);
  const std::string raw = client.read_until_closed();
  EXPECT_EQ(raw.rfind("HTTP/1.1 500 Internal Server Error\r\n", 0), 0u) << raw;
  EXPECT_NE(raw.find(R"("code":"internal")"), std::string::npos) << raw;
  EXPECT_EQ(raw.find("exploded"), std::string::npos) << "no internals: " << raw;
}

// The server's socket for a client: in this process, the TCP socket whose peer is that client.
int server_socket_for(std::uint16_t client_port) {
  for (int fd = 3; fd < 4096; ++fd) {
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) == 0 && peer.sin_family == AF_INET &&
        ntohs(peer.sin_port) == client_port)
      return fd;
  }
  return -1;
}

TEST_F(ServerStreamTest, AStreamedConnectionDetectsAClientThatVanished) {
  Gate done;
  std::promise<int> keepalive;
  std::promise<int> user_timeout;
  std::atomic<std::uint16_t> client_port{0};
  body_ = [&](BodyWriter& out) -> asio::awaitable<void> {
    co_await out.write(sse_event("delta", "1"));
    const int fd = server_socket_for(client_port.load());
    int on = -1, ms = -1;
    socklen_t len = sizeof on;
    getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, &len);
    len = sizeof ms;
    getsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, &len);
    keepalive.set_value(on);
    user_timeout.set_value(ms);
    co_await done.wait();
  };
  ServerOptions options;
  options.dead_peer_timeout = std::chrono::seconds(12);
  start(options);
  StreamClient client(server_->port());
  client_port = client.local_port();
  client.send(kGetStream);
  ASSERT_TRUE(client.read_head());
  EXPECT_EQ(keepalive.get_future().get(), 1);
  EXPECT_EQ(user_timeout.get_future().get(), 12000);
  done.open();
}

// Keep-alive after a stream: an SDK that streams call after call on one connection.
TEST_F(ServerStreamTest, AKeptAliveConnectionServesTheNextRequestAfterAStream) {
  std::atomic<int> streams{0};
  body_ = [&](BodyWriter& out) -> asio::awaitable<void> {
    co_await out.write(sse_event("delta", std::to_string(++streams)));
  };
  start();
  StreamClient client(server_->port());
  client.send(kGetStream);
  ASSERT_TRUE(client.read_head());
  EXPECT_EQ(client.head().count(bhttp::field::connection), 0u) << "HTTP/1.1 keeps the connection by default";
  EXPECT_EQ(client.next_chunk(), "event: delta\ndata: 1\n\n");
  EXPECT_EQ(client.next_chunk(), std::nullopt);
  ASSERT_TRUE(client.body_complete());

  client.next_response();
  client.send(kGetStreamThenClose);
  ASSERT_TRUE(client.read_head()) << client.last_error().message();
  EXPECT_EQ(client.head()[bhttp::field::connection], "close");
  EXPECT_EQ(client.next_chunk(), "event: delta\ndata: 2\n\n");
  EXPECT_EQ(client.next_chunk(), std::nullopt);
  EXPECT_TRUE(client.body_complete());
  EXPECT_TRUE(client.closed_by_server());
}

// The watcher that learns of a departed client reads what the client sends during the stream:
// those bytes are the next request's, not lost.
TEST_F(ServerStreamTest, ARequestSentDuringAStreamIsServedAfterIt) {
  Gate finish;
  std::atomic<int> streams{0};
  body_ = [&](BodyWriter& out) -> asio::awaitable<void> {
    const int n = ++streams;
    co_await out.write(sse_event("delta", std::to_string(n)));
    if (n == 1) co_await finish.wait();
  };
  start();
  StreamClient client(server_->port());
  client.send(kGetStream);
  ASSERT_TRUE(client.read_head());
  ASSERT_EQ(client.next_chunk(), "event: delta\ndata: 1\n\n");
  // The first stream is still running (parked at the gate) when the next request arrives, in
  // two pieces, the first of them smaller than one read of the watcher.
  client.send("GET /stream HTTP/1.1\r\n");
  client.send("Host: test\r\nX-Filler: " + std::string(200, 'x') + "\r\nConnection: close\r\n\r\n");
  finish.open();
  EXPECT_EQ(client.next_chunk(), std::nullopt);
  ASSERT_TRUE(client.body_complete());

  client.next_response();
  ASSERT_TRUE(client.read_head()) << client.last_error().message();
  EXPECT_EQ(client.head().result_int(), 200);
  EXPECT_EQ(client.next_chunk(), "event: delta\ndata: 2\n\n");
  EXPECT_EQ(client.next_chunk(), std::nullopt);
  EXPECT_TRUE(client.closed_by_server());
}

// Requests pipelined behind a streamed one (read with it, before the stream began) are served too.
TEST_F(ServerStreamTest, RequestsPipelinedBehindAStreamAreServedInOrder) {
  std::atomic<int> streams{0};
  body_ = [&](BodyWriter& out) -> asio::awaitable<void> {
    co_await out.write(sse_event("delta", std::to_string(++streams)));
  };
  start();
  StreamClient client(server_->port());
  client.send(std::string(kGetStream) + std::string(kGetStreamThenClose));
  for (const char* expected : {"event: delta\ndata: 1\n\n", "event: delta\ndata: 2\n\n"}) {
    ASSERT_TRUE(client.read_head()) << client.last_error().message();
    EXPECT_EQ(client.next_chunk(), expected);
    EXPECT_EQ(client.next_chunk(), std::nullopt);
    ASSERT_TRUE(client.body_complete());
    client.next_response();
  }
  EXPECT_TRUE(client.closed_by_server());
}

// What a client sends during a stream is kept up to a request head's limit; more costs the
// connection, not memory. (Whether the watcher read the bytes or the next request's parser did,
// the oversized request is not served: closed after the stream, or answered 413 and closed.)
TEST_F(ServerStreamTest, MoreThanARequestHeadSentDuringAStreamIsNotServed) {
  Gate finish;
  body_ = [&](BodyWriter& out) -> asio::awaitable<void> {
    co_await out.write(sse_event("delta", "1"));
    co_await finish.wait();
  };
  ServerOptions options;
  options.max_header_bytes = 1024;
  start(options);
  StreamClient client(server_->port());
  client.send(kGetStream);
  ASSERT_TRUE(client.read_head());
  ASSERT_EQ(client.next_chunk(), "event: delta\ndata: 1\n\n");
  client.send("GET /stream HTTP/1.1\r\nHost: test\r\nX-Filler: " + std::string(2000, 'x') + "\r\n\r\n");
  finish.open();
  EXPECT_EQ(client.next_chunk(), std::nullopt);
  ASSERT_TRUE(client.body_complete());
  const std::string after = client.read_until_closed();
  EXPECT_EQ(after.find("200 OK"), std::string::npos) << after;
  EXPECT_EQ(client.last_error(), asio::error::eof) << client.last_error().message();
}

TEST_F(ServerStreamTest, AnEmptyBodyStillGetsItsHeadAndLastChunk) {
  body_ = [](BodyWriter&) -> asio::awaitable<void> { co_return; };
  start();
  StreamClient client(server_->port());
  client.send(kGetStream);
  ASSERT_TRUE(client.read_head());
  EXPECT_EQ(client.head().result_int(), 200);
  EXPECT_EQ(client.next_chunk(), std::nullopt);
  EXPECT_TRUE(client.body_complete());
}

}  // namespace
}  // namespace aas::http
