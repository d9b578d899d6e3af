#include "http/sse.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <variant>

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
  while (!gone_flag_) {
    if (!pending_.empty()) {
      const std::string chunk = std::move(pending_);
      pending_.clear();
      if (!co_await out_.write(chunk)) mark_gone();
      continue;
    }
    if (finished_) co_return;
    // The queue is checked before every wait, all on one strand, so no wake-up is lost.
    wake_.expires_after(heartbeat_);
    auto woke = co_await (wake_.async_wait(asio::as_tuple(asio::use_awaitable)) || out_.closed());
    if (woke.index() == 1) {
      mark_gone();
    } else if (!std::get<0>(std::get<0>(woke))) {  // the timer ran out: nothing was said
      pending_.append(kSseHeartbeat);
    }
  }
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
