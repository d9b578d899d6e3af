#include "http/websocket_session.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

#include <atomic>
#include <cstdint>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace aas::http::detail {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// One accepted WebSocket. Everything but send()/close()'s first lines runs on the stream's strand.
class Session final : public WebSocketConnection, public std::enable_shared_from_this<Session> {
 public:
  Session(beast::tcp_stream stream, const WebSocketOptions& options)
      : ws_(std::move(stream)),
        options_(options),
        wake_(ws_.get_executor(), asio::steady_timer::time_point::max()),
        progress_(ws_.get_executor(), asio::steady_timer::time_point::max()) {}

  bool send(SharedMessage message, bool binary) override {
    if (closing_) return false;
    asio::post(ws_.get_executor(), [self = shared_from_this(), m = std::move(message), binary]() mutable {
      self->enqueue(std::move(m), binary);
    });
    return true;
  }

  asio::awaitable<bool> send_flushed(std::string message, bool binary) override {
    // On the strand (on_message): enqueued now, so its number is known.
    const std::uint64_t mine = enqueued_ + 1;
    enqueue(std::make_shared<const std::string>(std::move(message)), binary);
    if (enqueued_ != mine) co_return false;  // closing, or over the queue bound
    ++flush_waiters_;
    while (written_ < mine && !writer_finished_) co_await progress_.async_wait(use_tuple);
    --flush_waiters_;
    co_return written_ >= mine;
  }

  void close() override {
    asio::post(ws_.get_executor(), [self = shared_from_this()] { self->begin_close(false); });
  }

  void going_away() { begin_close(true); }

  // The reader. Static, with the session by value: the coroutine keeps it alive, and no other
  // frame (run_websocket's) has to stay around for it.
  static asio::awaitable<void> run(std::shared_ptr<Session> self, beast::http::request<beast::http::string_body> request,
                                   std::shared_ptr<WebSocketHandler> handler,
                                   std::function<void(std::function<void()>)> set_going_away) {
    set_going_away([weak = std::weak_ptr<Session>(self)] {
      if (auto s = weak.lock()) s->going_away();
    });
    co_await self->serve(std::move(request), std::move(handler));
    set_going_away(nullptr);
  }

 private:
  asio::awaitable<void> serve(beast::http::request<beast::http::string_body> request,
                              std::shared_ptr<WebSocketHandler> handler) {
    // The WebSocket has its own timeouts (handshake, idle with pings); the TCP stream's would cut
    // an idle but healthy connection.
    beast::get_lowest_layer(ws_).expires_never();
    websocket::stream_base::timeout timeout;
    timeout.handshake_timeout = options_.handshake_timeout;
    if (options_.idle_timeout.count() > 0) {
      timeout.idle_timeout = options_.idle_timeout;
      timeout.keep_alive_pings = true;
    } else {
      timeout.idle_timeout = websocket::stream_base::none();
      timeout.keep_alive_pings = false;
    }
    ws_.set_option(timeout);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(beast::http::field::server, "ai-agent-service"); }));
    ws_.read_message_max(options_.max_message_bytes);

    // Opened before the 101 goes out: once the client sees the connection open, the application
    // knows it (an Engine.IO probe is registered before a second one can race it), and what
    // on_open sends is queued for the writer that starts after the handshake.
    handler->on_open(shared_from_this());
    auto [accept_ec] = co_await ws_.async_accept(request, use_tuple);
    // This frame lives as long as the connection: the request's headers are of no more use.
    request = {};
    if (accept_ec) {
      spdlog::debug("websocket handshake failed: {}", accept_ec.message());
      closing_ = true;
      handler->on_closed();
      co_return;
    }
    asio::co_spawn(ws_.get_executor(), [self = shared_from_this()] { return self->write_loop(); },
                   asio::detached);

    // A message's first bytes are read into this frame's own small array, the rest (if any)
    // straight into the message: an idle connection's pending read holds no heap buffer (Beast
    // prepares a whole frame's worth, 1.5 KB, in a dynamic buffer before the first byte comes),
    // and no message is copied out of a buffer.
    char first[kFirstRead];
    beast::error_code ec;
    for (;;) {
      std::size_t n = 0;
      std::tie(ec, n) = co_await ws_.async_read_some(asio::buffer(first), use_tuple);
      if (ec) break;
      const bool binary = !ws_.got_text();
      std::string message(first, n);
      while (!ws_.is_message_done()) {
        auto rest = asio::dynamic_buffer(message);
        std::tie(ec, std::ignore) = co_await ws_.async_read_some(rest, 0, use_tuple);
        if (ec) break;
      }
      if (ec) break;
      co_await handler->on_message(std::move(message), binary);
    }
    if (ec == websocket::error::message_too_big)
      spdlog::debug("websocket closed: a message over {} bytes", options_.max_message_bytes);
    else if (ec != websocket::error::closed)
      spdlog::debug("websocket read ended: {}", ec.message());
    // The close handshake is over (closed) or the connection failed: either way the writer stops;
    // a failed connection is closed so that a write waiting on it ends now.
    closing_ = true;
    if (ec != websocket::error::closed) abort();
    wake_.cancel();
    while (!writer_finished_) co_await progress_.async_wait(use_tuple);
    handler->on_closed();
  }

  void enqueue(SharedMessage message, bool binary) {
    if (closing_) return;
    queued_bytes_ += message->size();
    if (queued_bytes_ > options_.max_queued_bytes) {
      spdlog::warn("websocket closed: its reader fell {} bytes behind", queued_bytes_);
      closing_ = true;
      abort();
      wake_.cancel();
      return;
    }
    queue_.push_back({std::move(message), binary});
    ++enqueued_;
    wake_.cancel();
  }

  void begin_close(bool going_away) {
    if (closing_) return;
    going_away_ = going_away;
    closing_ = true;
    wake_.cancel();
  }

  void abort() {
    aborted_ = true;
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

  // The one writer: the queue in order, then (when closing) the close frame.
  asio::awaitable<void> write_loop() {
    for (;;) {
      while (head_ < queue_.size() && !aborted_) {
        // By value: enqueue() may grow the vector while the write is under way.
        const Queued item = queue_[head_];
        ws_.binary(item.binary);
        auto [ec, n] = co_await ws_.async_write(asio::buffer(*item.message), use_tuple);
        queued_bytes_ -= item.message->size();
        queue_[head_++].message.reset();
        if (head_ == queue_.size()) {
          // Drained: a burst's storage is not kept by an idle connection.
          queue_.clear();
          if (queue_.capacity() > 4) queue_.shrink_to_fit();
          head_ = 0;
        }
        if (!ec) ++written_;
        if (flush_waiters_ > 0) progress_.cancel();
        if (ec) {
          spdlog::debug("websocket write failed: {}", ec.message());
          closing_ = true;
          abort();
        }
      }
      if (closing_) break;
      co_await wake_.async_wait(use_tuple);  // never expires: cancelled by enqueue / close
    }
    if (!aborted_ && ws_.is_open()) {
      const auto code = going_away_ ? websocket::close_code::going_away : websocket::close_code::normal;
      auto [ec] = co_await ws_.async_close(code, use_tuple);
      if (ec) abort();
    }
    queue_.clear();
    head_ = 0;
    writer_finished_ = true;
    progress_.cancel();
  }

  // Enough for Engine.IO's heartbeat answers and most events in one read.
  static constexpr std::size_t kFirstRead = 256;

  struct Queued {
    SharedMessage message;
    bool binary = false;
  };

  websocket::stream<beast::tcp_stream> ws_;
  const WebSocketOptions options_;
  // Written from head_ on; a vector rather than a deque, whose empty form already holds a
  // 512-byte block.
  std::vector<Queued> queue_;
  std::size_t head_ = 0;
  std::size_t queued_bytes_ = 0;
  asio::steady_timer wake_;         // never expires; cancelled when the writer has work
  // Never expires; cancelled when the writer ends, and after each write while send_flushed waits.
  asio::steady_timer progress_;
  std::uint64_t enqueued_ = 0;  // messages ever queued / written: send_flushed waits for its number
  std::uint64_t written_ = 0;
  int flush_waiters_ = 0;
  // Read by send() on any thread; written on the strand, like the rest.
  std::atomic<bool> closing_{false};
  bool going_away_ = false;
  bool aborted_ = false;
  bool writer_finished_ = false;
};

}  // namespace

asio::awaitable<void> run_websocket(beast::tcp_stream stream,
                                    beast::http::request<beast::http::string_body> request,
                                    std::shared_ptr<WebSocketHandler> handler, const WebSocketOptions& options,
                                    std::function<void(std::function<void()>)> set_going_away) {
  auto session = std::make_shared<Session>(std::move(stream), options);
  return Session::run(std::move(session), std::move(request), std::move(handler), std::move(set_going_away));
}

}  // namespace aas::http::detail
