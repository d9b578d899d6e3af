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
#include <deque>
#include <string>
#include <tuple>
#include <utility>

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

  bool send(std::string message, bool binary) override {
    if (closing_) return false;
    asio::post(ws_.get_executor(), [self = shared_from_this(), m = std::move(message), binary]() mutable {
      self->enqueue(std::move(m), binary);
    });
    return true;
  }

  asio::awaitable<bool> send_flushed(std::string message, bool binary) override {
    // On the strand (on_message): enqueued now, so its number is known.
    const std::uint64_t mine = enqueued_ + 1;
    enqueue(std::move(message), binary);
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

  asio::awaitable<void> run(beast::http::request<beast::http::string_body> request,
                            std::shared_ptr<WebSocketHandler> handler) {
    // The WebSocket has its own timeouts (handshake, idle with pings); the TCP stream's would cut
    // an idle but healthy connection.
    beast::get_lowest_layer(ws_).expires_never();
    websocket::stream_base::timeout timeout;
    timeout.handshake_timeout = options_.handshake_timeout;
    timeout.idle_timeout = options_.idle_timeout;
    timeout.keep_alive_pings = true;
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

    beast::flat_buffer buffer;
    beast::error_code ec;
    for (;;) {
      std::tie(ec, std::ignore) = co_await ws_.async_read(buffer, use_tuple);
      if (ec) break;
      const bool binary = !ws_.got_text();
      std::string message = beast::buffers_to_string(buffer.data());
      buffer.consume(buffer.size());
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

 private:
  void enqueue(std::string message, bool binary) {
    if (closing_) return;
    queued_bytes_ += message.size();
    if (queued_bytes_ > options_.max_queued_bytes) {
      spdlog::warn("websocket closed: its reader fell {} bytes behind", queued_bytes_);
      closing_ = true;
      abort();
      wake_.cancel();
      return;
    }
    queue_.emplace_back(std::move(message), binary);
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
      while (!queue_.empty() && !aborted_) {
        auto& [message, binary] = queue_.front();
        ws_.binary(binary);
        auto [ec, n] = co_await ws_.async_write(asio::buffer(message), use_tuple);
        queued_bytes_ -= message.size();
        queue_.pop_front();
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
    writer_finished_ = true;
    progress_.cancel();
  }

  websocket::stream<beast::tcp_stream> ws_;
  const WebSocketOptions options_;
  std::deque<std::pair<std::string, bool>> queue_;
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
                                    const std::function<void(std::function<void()>)>& set_going_away) {
  auto session = std::make_shared<Session>(std::move(stream), options);
  set_going_away([weak = std::weak_ptr<Session>(session)] {
    if (auto s = weak.lock()) s->going_away();
  });
  co_await session->run(std::move(request), std::move(handler));
  set_going_away(nullptr);
}

}  // namespace aas::http::detail
