#pragma once
// Server-Sent Events (text/event-stream), for streamed answers.
#include "http/message.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace aas::http {

// "event: <name>\ndata: <data>\n\n". `data` must be one line (serialized JSON is).
std::string sse_event(std::string_view name, std::string_view data);
// "data: <data>\n\n" (unnamed events, as OpenAI's stream uses).
std::string sse_data(std::string_view data);

// A comment line: keeps proxies and browsers from timing out an idle stream.
inline constexpr std::string_view kSseHeartbeat = ": ping\n\n";

// A 200 text/event-stream response with the headers that keep proxies from buffering it
// (Cache-Control: no-cache, X-Accel-Buffering: no), its body produced by `body`.
Response sse_response(StreamBody body);

// Decouples producing events (synchronous, e.g. from a model's chunk callback) from writing them
// (asynchronous, one write at a time). Runs on the connection's strand: send() writes an event
// straight into the socket when nothing is queued or in flight and the socket has room (the
// common case of a reader that keeps up), else queues it; pump() writes what is queued and a
// heartbeat when nothing was sent for a while, until finish() or
// the client leaves (the writer's on_closed, registered for the channel's lifetime). A reader
// that falls more than `max_pending` bytes behind is treated as gone, so a stalled client cannot
// make memory grow.
class SseChannel {
 public:
  SseChannel(BodyWriter& out, const boost::asio::any_io_executor& ex,
             std::chrono::milliseconds heartbeat = std::chrono::seconds(15),
             std::size_t max_pending = 1024 * 1024);
  ~SseChannel();
  SseChannel(const SseChannel&) = delete;
  SseChannel& operator=(const SseChannel&) = delete;

  // Queues an encoded event; false once the client is gone (nothing is queued then).
  bool send(std::string_view encoded);
  // No more events: pump() returns once the queue is written.
  void finish();
  boost::asio::awaitable<void> pump();
  // Calls `f` once when the client is gone (left, stopped reading, or a write failed), at once
  // when it is gone already; nullptr unregisters. Runs on the channel's strand.
  void on_gone(std::function<void()> f);
  bool is_gone() const { return gone_flag_; }

 private:
  void mark_gone();

  BodyWriter& out_;
  boost::asio::steady_timer wake_;
  std::function<void()> on_gone_;
  std::chrono::milliseconds heartbeat_;
  std::size_t max_pending_;
  std::string pending_;  // queued by send()
  std::string writing_;  // being written
  bool finished_ = false;
  bool gone_flag_ = false;
  bool pumping_ = false;  // pump() runs: the body writer is alive and its body not ended
  bool flush_ = false;    // a direct send left bytes in the writer: the pump writes them
  bool said_ = false;     // an event went out directly since the pump last waited
};

}  // namespace aas::http
