#include "http/sse.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>


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
    : out_(out), wake_(ex, asio::steady_timer::time_point::max()),
      gone_(ex, asio::steady_timer::time_point::max()), heartbeat_(heartbeat),
      max_pending_(max_pending) {}

bool SseChannel::send(std::string_view encoded) {
  if (gone_flag_) return false;
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

asio::awaitable<void> SseChannel::pump() {
  using namespace asio::experimental::awaitable_operators;
  // The client's departure is watched once for the whole stream, not raced anew at every wait
  // (a parallel group per token was a good part of relaying one).
  co_await (write_loop() || watch_client());
}

asio::awaitable<void> SseChannel::write_loop() {
  while (!gone_flag_) {
    if (!pending_.empty()) {
      // Two buffers swapped, both kept: no allocation per event once they have grown.
      writing_.swap(pending_);
      const bool ok = co_await out_.write(writing_);
      writing_.clear();
      if (!ok) mark_gone();
      continue;
    }
    if (finished_) co_return;
    // The queue is checked before every wait, all on one strand, so no wake-up is lost.
    wake_.expires_after(heartbeat_);
    auto [ec] = co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!ec) pending_.append(kSseHeartbeat);  // the timer ran out: nothing was said
  }
}

asio::awaitable<void> SseChannel::watch_client() {
  co_await out_.closed();
  mark_gone();
}

asio::awaitable<void> SseChannel::gone() {
  if (gone_flag_) co_return;
  co_await gone_.async_wait(asio::as_tuple(asio::use_awaitable));
}

void SseChannel::mark_gone() {
  gone_flag_ = true;
  gone_.cancel();
}

}  // namespace aas::http
