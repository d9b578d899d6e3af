// SseChannel: the queue between a model's chunk callback and the client's socket. Issue 18's audit
// found its slow-client overflow never exercised (nor, it turned out, a failed write); here a
// BodyWriter whose writes stall until the test releases them stands for a client that stopped
// reading, so the paths run without a socket and without waiting on the clock.
#include "http/sse.hpp"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <string>
#include <utility>

namespace aas::http {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// Records what is written. While `stall` is set a write waits until release(); `ok` is what a
// write answers (false: the client is gone); leave() is the client closing the connection.
class FakeWriter final : public BodyWriter {
 public:
  explicit FakeWriter(asio::io_context& io) : release_(io, asio::steady_timer::time_point::max()) {}

  asio::awaitable<bool> write(std::string_view bytes) override {
    written += std::exchange(held, {});  // what a direct send left goes first
    written += bytes;
    ++writes;
    if (stall) co_await release_.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return ok;
  }
  void on_closed(std::function<void()> f) override {
    if (left && f) return f();
    on_closed_ = std::move(f);
  }
  bool is_closed() const override { return left; }
  asio::awaitable<bool> replace(Response) override { co_return false; }
  // `direct`: what a direct send answers (busy: as a writer that cannot, the default); written
  // and kept record the bytes, kept as if the socket took only the first half (the rest held).
  TryWrite try_write(std::string_view bytes) override {
    ++tries;
    if (direct == TryWrite::written) written += bytes;
    if (direct == TryWrite::kept) {
      written += bytes.substr(0, bytes.size() / 2);
      held += bytes.substr(bytes.size() / 2);
    }
    return direct;
  }

  void release() {
    stall = false;
    release_.cancel();
  }
  void leave() {
    left = true;
    if (on_closed_) std::exchange(on_closed_, nullptr)();
  }
  bool registered() const { return static_cast<bool>(on_closed_); }

  std::string written;
  std::string held;  // kept by a direct send, for the next write
  int writes = 0;
  int tries = 0;
  TryWrite direct = TryWrite::busy;
  bool stall = false;
  bool ok = true;
  bool left = false;

 private:
  asio::steady_timer release_;
  std::function<void()> on_closed_;
};

asio::awaitable<void> pump(SseChannel& channel, bool& done) {
  co_await channel.pump();
  done = true;
}

TEST(SseChannel, AReaderTooFarBehindIsGoneAndWhatOverflowedIsNeverWritten) {
  asio::io_context io;
  FakeWriter out(io);
  out.stall = true;  // the client stopped reading: the first write never completes by itself
  SseChannel channel(out, io.get_executor(), 1h, /*max_pending=*/64);
  bool pumped = false, gone = false;
  asio::co_spawn(io, pump(channel, pumped), asio::detached);
  channel.on_gone([&gone] { gone = true; });

  ASSERT_TRUE(channel.send(std::string(40, 'a')));
  io.poll();  // the pump takes it and waits in its write
  ASSERT_EQ(out.writes, 1);
  EXPECT_TRUE(channel.send(std::string(40, 'b'))) << "40 bytes queued: within the bound";
  EXPECT_FALSE(channel.send(std::string(40, 'c'))) << "80 bytes queued: over the bound of 64";
  EXPECT_TRUE(channel.is_gone());
  EXPECT_FALSE(channel.send("d")) << "nothing is queued once the reader is gone";
  EXPECT_TRUE(gone) << "on_gone's callback is told (the turn stops its upstream)";

  out.release();  // the stalled write ends (in the server: its write timeout)
  io.run();
  EXPECT_TRUE(pumped);
  EXPECT_EQ(out.written, std::string(40, 'a')) << "the queue of a departed reader is dropped";
}

TEST(SseChannel, AHeartbeatIsWrittenWhenNothingWasSentThenFinishFlushesTheQueue) {
  asio::io_context io;
  FakeWriter out(io);
  SseChannel channel(out, io.get_executor(), 1ms);
  bool pumped = false;
  asio::co_spawn(io, pump(channel, pumped), asio::detached);
  // Waits for the event (a heartbeat written), however long the loaded machine takes.
  while (out.written.find(kSseHeartbeat) == std::string::npos) io.run_one();
  ASSERT_TRUE(channel.send(sse_event("done", "{}")));
  channel.finish();
  io.run();
  EXPECT_TRUE(pumped);
  EXPECT_TRUE(out.written.starts_with(kSseHeartbeat));
  EXPECT_TRUE(out.written.ends_with("event: done\ndata: {}\n\n")) << out.written;
}

TEST(SseChannel, AFailedWriteMarksTheReaderGone) {
  asio::io_context io;
  FakeWriter out(io);
  out.ok = false;
  SseChannel channel(out, io.get_executor(), 1h);
  bool pumped = false, gone = false;
  asio::co_spawn(io, pump(channel, pumped), asio::detached);
  channel.on_gone([&gone] { gone = true; });
  ASSERT_TRUE(channel.send(sse_event("delta", "1")));
  io.run();
  EXPECT_TRUE(pumped) << "the pump ends with the write that failed";
  EXPECT_TRUE(gone);
  EXPECT_FALSE(channel.send(sse_event("delta", "2")));
  EXPECT_EQ(out.writes, 1);
}

TEST(SseChannel, TheClientLeavingEndsAnIdlePumpAndOnGoneCallsAtOnceAfterwards) {
  asio::io_context io;
  FakeWriter out(io);
  SseChannel channel(out, io.get_executor(), 1h);
  bool pumped = false;
  asio::co_spawn(io, pump(channel, pumped), asio::detached);
  io.poll();
  EXPECT_FALSE(pumped) << "nothing to write, not finished: the pump waits";
  out.leave();
  io.run();
  EXPECT_TRUE(pumped);
  EXPECT_TRUE(channel.is_gone());
  bool gone = false;
  channel.on_gone([&gone] { gone = true; });
  EXPECT_TRUE(gone) << "registered after the client left: told at once";
  EXPECT_EQ(out.writes, 0);
}

TEST(SseChannel, OnGoneTellsOnceAndNotAfterItIsUnregistered) {
  asio::io_context io;
  FakeWriter out(io);
  SseChannel channel(out, io.get_executor(), 1h);
  int told = 0;
  channel.on_gone([&told] { ++told; });
  channel.on_gone(nullptr);
  out.leave();
  EXPECT_EQ(told, 0) << "unregistered before the client left";
  int late = 0;
  channel.on_gone([&late] { ++late; });
  EXPECT_FALSE(channel.send("x"));
  EXPECT_EQ(late, 1) << "told at once, and once";
}

TEST(SseChannel, ListensForTheClientLeavingOnlyWhileItExists) {
  asio::io_context io;
  FakeWriter out(io);
  {
    SseChannel channel(out, io.get_executor(), 1h);
    EXPECT_TRUE(out.registered());
  }
  EXPECT_FALSE(out.registered()) << "a client leaving after the stream ended must not reach a destroyed channel";
  out.leave();

  // A channel made for a writer whose client is gone already is gone from the start.
  SseChannel late(out, io.get_executor(), 1h);
  EXPECT_TRUE(late.is_gone());
  EXPECT_FALSE(late.send("x"));
}

TEST(SseChannel, AnEventGoesStraightToTheSocketWhileThePumpWaitsAndNeverAfterItEnded) {
  asio::io_context io;
  FakeWriter out(io);
  out.direct = BodyWriter::TryWrite::written;
  SseChannel channel(out, io.get_executor(), 1h);
  EXPECT_TRUE(channel.send("early "));
  EXPECT_EQ(out.tries, 0) << "no direct send before the pump runs (the body may not have started)";
  bool pumped = false;
  asio::co_spawn(io, pump(channel, pumped), asio::detached);
  io.poll();
  ASSERT_EQ(out.writes, 1) << "the queued event goes out by the pump";
  EXPECT_TRUE(channel.send("direct "));
  EXPECT_EQ(out.tries, 1);
  EXPECT_EQ(out.written, "early direct ") << "sent at once, without the pump";
  io.poll();
  EXPECT_EQ(out.writes, 1) << "the pump was not woken for it";

  channel.finish();
  io.run();
  ASSERT_TRUE(pumped);
  EXPECT_TRUE(channel.send("late"));
  EXPECT_EQ(out.tries, 1) << "after the pump returned the body may have ended: no direct send";
  EXPECT_EQ(out.written, "early direct ");
}

TEST(SseChannel, WhatADirectSendCouldNotWriteIsFlushedByThePumpBeforeLaterEvents) {
  asio::io_context io;
  FakeWriter out(io);
  SseChannel channel(out, io.get_executor(), 1h);
  bool pumped = false;
  asio::co_spawn(io, pump(channel, pumped), asio::detached);
  io.poll();
  out.direct = BodyWriter::TryWrite::kept;
  ASSERT_TRUE(channel.send("abcdef"));
  EXPECT_EQ(out.written, "abc");
  out.direct = BodyWriter::TryWrite::written;
  ASSERT_TRUE(channel.send("XYZ"));
  EXPECT_EQ(out.tries, 1) << "while the writer holds bytes, later events queue behind them";
  io.poll();
  EXPECT_EQ(out.written, "abcdefXYZ") << "in order";
  EXPECT_TRUE(out.held.empty());
  channel.finish();
  io.run();
  EXPECT_TRUE(pumped);
}

TEST(SseChannel, ABusyWriterGetsTheEventQueuedAndAClosedOneMarksTheReaderGone) {
  asio::io_context io;
  FakeWriter out(io);
  SseChannel channel(out, io.get_executor(), 1h);
  bool pumped = false, gone = false;
  asio::co_spawn(io, pump(channel, pumped), asio::detached);
  channel.on_gone([&gone] { gone = true; });
  io.poll();
  ASSERT_TRUE(channel.send("one"));  // busy (the default): queued
  EXPECT_EQ(out.tries, 1);
  EXPECT_EQ(out.written, "");
  io.poll();
  EXPECT_EQ(out.written, "one");
  out.direct = BodyWriter::TryWrite::closed;
  EXPECT_FALSE(channel.send("two"));
  EXPECT_TRUE(gone);
  io.run();
  EXPECT_TRUE(pumped);
  EXPECT_EQ(out.written, "one");
}

TEST(Sse, EventsAndTheResponsesHeaders) {
  EXPECT_EQ(sse_event("delta", R"({"t":"x"})"), "event: delta\ndata: {\"t\":\"x\"}\n\n");
  EXPECT_EQ(sse_data("[DONE]"), "data: [DONE]\n\n");
  const Response r = sse_response([](BodyWriter&) -> asio::awaitable<void> { co_return; });
  EXPECT_TRUE(r.content_type.starts_with("text/event-stream"));
  bool no_cache = false, no_buffering = false;
  for (const Header& h : r.headers) {
    no_cache |= h.name == "cache-control" && h.value == "no-cache";
    no_buffering |= h.name == "x-accel-buffering" && h.value == "no";
  }
  EXPECT_TRUE(no_cache);
  EXPECT_TRUE(no_buffering);
  EXPECT_TRUE(r.stream);
}

}  // namespace
}  // namespace aas::http
