#include "http/sse.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <utility>

namespace aas::http {

namespace asio = boost::asio;

std::string sse_event(std::string_view name, std::string_view data) {
  std::string out;
  out.reserve(name.size() + data.size() + 16);
  out.append("event: ").append(name).append("\ndata: ").append(data).append("\n\n");
  return out;
}

std::string sse_data(std::string_view data) {
  std::string out;
  out.reserve(data.size() + 8);
  out.append("data: ").append(data).append("\n\n");
  return out;
}

Response sse_response(StreamBody body) {
  Response r;
  r.status = 200;
  r.content_type = "text/event-stream; charset=utf-8";
  r.headers.push_back({"cache-control", "no-cache"});
  r.headers.push_back({"x-accel-buffering", "no"});
  r.stream = std::move(body);
  return r;
}

SseChannel::SseChannel(BodyWriter& out, const asio::any_io_executor& ex,
                       std::chrono::milliseconds heartbeat, std::size_t max_pending)
    : out_(out), wake_(ex, asio::steady_timer::time_point::max()), heartbeat_(heartbeat),
      max_pending_(max_pending) {
  out_.on_closed([this] { mark_gone(); });
}

SseChannel::~SseChannel() { out_.on_closed(nullptr); }

bool SseChannel::send(std::string_view encoded) {
  if (gone_flag_) return false;
  // Straight into the socket when nothing is queued before it: no wake-up of the pump, no timer
  // re-armed. Only while the pump runs, i.e. inside the stream's body: once it has returned the
  // body may have ended, and the writer may be gone.
  if (pumping_ && !finished_ && pending_.empty() && !flush_) {
    switch (out_.try_write(encoded)) {
      case BodyWriter::TryWrite::written:
        said_ = true;
        return true;
      case BodyWriter::TryWrite::kept:  // the pump sends the rest
        said_ = true;
        flush_ = true;
        wake_.cancel();
        return true;
      case BodyWriter::TryWrite::closed:
        mark_gone();
        return false;
      case BodyWriter::TryWrite::busy:
        break;
    }
  }
  pending_.append(encoded);
  if (pending_.size() > max_pending_) {
    mark_gone();
    return false;
  }
  wake_.cancel();
  return true;
}

void SseChannel::finish() {
  finished_ = true;
  wake_.cancel();
}

// The client's departure reaches this loop through mark_gone(), which wakes it: no second
// coroutine raced against it (a parallel group per token was a good part of relaying one, and
// one per stream ~2 KB of a held stream's memory).
asio::awaitable<void> SseChannel::pump() {
  pumping_ = true;
  // Cleared however this ends (the coroutine destroyed while waiting, too).
  const struct Stopped {
    bool& pumping;
    ~Stopped() { pumping = false; }
  } stopped{pumping_};
  while (!gone_flag_) {
    if (!pending_.empty() || flush_) {
      // Two buffers swapped. The written one is given back: a held stream's events mostly go out
      // directly (send()), so kept buffers would be ~0.5 KB of idle capacity per stream, and a
      // queued write (the head, a reader that fell behind) is rare. (An empty write sends what a
      // direct send left.)
      flush_ = false;
      writing_.swap(pending_);
      const bool ok = co_await out_.write(writing_);
      writing_.clear();
      writing_.shrink_to_fit();
      if (!ok) mark_gone();
      continue;
    }
    if (finished_) co_return;
    // The queue is checked before every wait, all on one strand, so no wake-up is lost.
    said_ = false;
    wake_.expires_after(heartbeat_);
    auto [ec] = co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
    // The timer ran out: a heartbeat, unless events went out directly meanwhile (then the next
    // wait starts the quiet period again).
    if (!ec && !said_) pending_.append(kSseHeartbeat);
  }
}

void SseChannel::on_gone(std::function<void()> f) {
  if (gone_flag_ && f) return f();
  on_gone_ = std::move(f);
}

void SseChannel::mark_gone() {
  gone_flag_ = true;
  wake_.cancel();  // the pump, waiting for something to write, ends
  if (on_gone_) std::exchange(on_gone_, nullptr)();
}

}  // namespace aas::http
