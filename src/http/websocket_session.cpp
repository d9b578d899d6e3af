#include "http/websocket_session.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/websocket.hpp>

#include <sys/socket.h>
#include <sys/uio.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace aas::http::detail {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

using WriteHandler = asio::any_completion_handler<void(beast::error_code, std::size_t)>;

// The write side of one WebSocket, shared by every thread that sends on it.
//
// Why not Beast's async_write on the connection's strand: a message sent from another thread (a
// broadcast to a room, a streamed answer's every delta) then costs a post to the strand, a
// wake-up of the writer, Beast's composed write and its completion, i.e. several hand-offs
// between threads per message. Here the sender frames the message itself (a server's frames are
// unmasked: a 2-10 byte header before the shared payload) and, when nothing is queued before it,
// writes it straight into the socket with one non-blocking sendmsg, under this object's lock.
// Only what the socket does not take at once waits in the queue, written in order (several frames
// per sendmsg) when the socket is writable again.
//
// Beast still owns the protocol: reads, the handshake's 101, pings, pongs and the close handshake.
// Its writes reach the socket through Gate (below), i.e. through this same queue, so no byte of
// Beast's can land inside a frame of ours and the close frame follows every message sent before it.
//
// The descriptor is written from any thread, so it is closed only under the lock (or after
// writing stopped for good, for Beast's teardown): a sendmsg can never hit a descriptor number
// that was closed and reused by another connection.
class Wire final : public std::enable_shared_from_this<Wire> {
 public:
  Wire(tcp::socket socket, std::size_t max_queued_bytes)
      : socket_(std::move(socket)), max_queued_bytes_(max_queued_bytes) {}

  // For reads and for asynchronous operations: only on the connection's strand.
  tcp::socket& socket() { return socket_; }

  // Frames `message` and writes or queues it. From any thread. Its number (for written()), or 0
  // when refused: closing, failed, or over the queue bound (the connection is then closed).
  std::uint64_t send(SharedMessage message, bool binary) {
    std::lock_guard lock(mu_);
    if (!accepting_) return 0;
    Entry e;
    e.payload = std::move(message);
    frame_header(e, binary);
    const std::uint64_t number = ++enqueued_;
    std::size_t sent = 0;
    if (head_ == queue_.size() && !held_) {
      // Nothing before it: straight to the socket, no queue entry unless the socket is full.
      iovec iov[2] = {{e.head, e.head_size}, {const_cast<char*>(e.payload->data()), e.payload->size()}};
      const ssize_t n = write_locked(iov, 2);
      if (n < 0) return 0;  // the connection failed
      sent = static_cast<std::size_t>(n);
      if (sent == e.head_size + e.payload->size()) {
        ++written_;
        if (flush_waiter_ && written_ >= flush_target_) wake_flush_waiter_locked();
        return number;
      }
    }
    queued_bytes_ += e.payload->size();
    if (queued_bytes_ > max_queued_bytes_) {
      spdlog::warn("websocket closed: its reader fell {} bytes behind", queued_bytes_);
      fail_locked({});
      return 0;
    }
    if (head_ == queue_.size()) offset_ = sent;
    queue_.push_back(std::move(e));
    if (head_ + 1 == queue_.size() && !held_) wait_writable_locked();  // the socket is full
    return number;
  }

  // Bytes Beast writes (the 101, pings, pongs, close frames): on the strand, one write at a time
  // (Beast's own write lock). They are small: copied, then queued behind what was sent before
  // them, or, while the handshake is still going, before the application's messages.
  template <class ConstBufferSequence>
  void write_control(const ConstBufferSequence& buffers, WriteHandler handler) {
    const std::size_t size = asio::buffer_size(buffers);
    std::lock_guard lock(mu_);
    if (!writable_ || size == 0) {
      complete_locked(std::move(handler), writable_ ? beast::error_code{} : asio::error::broken_pipe, 0);
      return;
    }
    control_bytes_.resize(size);
    asio::buffer_copy(asio::buffer(control_bytes_), buffers);
    // (swap: Boost 1.81's move assignment of any_completion_handler wraps the handler in itself.)
    control_handler_.swap(handler);
    // While held, no message has been written: the front is whole.
    const auto at = held_ ? queue_.begin() + static_cast<std::ptrdiff_t>(head_) : queue_.end();
    queue_.insert(at, Entry{});
    flush_locked();
  }

  // The handshake's 101 is out: the application's messages follow it.
  void release() {
    std::lock_guard lock(mu_);
    held_ = false;
    flush_locked();
  }

  // A close frame is on its way (ours or the peer's): later messages would follow it, so they are
  // refused. What is queued is still written.
  void stop_accepting() {
    std::lock_guard lock(mu_);
    accepting_ = false;
  }

  // Beast's teardown: the socket is shut down and closed by Beast from now on; nothing more is
  // written to it.
  void stop_writing() {
    std::lock_guard lock(mu_);
    stop_locked(asio::error::operation_aborted);
  }

  // Closes the socket (Beast's close_socket, or ours on an error): on the strand.
  void close_socket() {
    std::lock_guard lock(mu_);
    stop_locked(asio::error::operation_aborted);
    beast::error_code ignored;
    socket_.close(ignored);
  }

  // True once message `number` is written to the socket; false when the connection ended first.
  // Only on the strand; `waiter` is a timer of the strand's.
  asio::awaitable<bool> written(std::uint64_t number) {
    auto waiter = std::make_shared<asio::steady_timer>(socket_.get_executor(), asio::steady_timer::time_point::max());
    for (;;) {
      {
        std::lock_guard lock(mu_);
        if (written_ >= number) co_return true;
        if (!writable_) co_return false;
        flush_waiter_ = waiter;
        flush_target_ = number;
      }
      co_await waiter->async_wait(use_tuple);
    }
  }

 private:
  // One frame of the application's (payload set), or Beast's bytes in control_bytes_.
  struct Entry {
    SharedMessage payload;
    std::uint8_t head[10];
    std::uint8_t head_size = 0;
    std::size_t size(const std::string& control) const {
      return payload ? head_size + payload->size() : control.size();
    }
  };

  static void frame_header(Entry& e, bool binary) {
    const std::size_t n = e.payload->size();
    e.head[0] = 0x80 | (binary ? 0x2 : 0x1);  // FIN, text or binary; unmasked (a server's)
    if (n < 126) {
      e.head[1] = static_cast<std::uint8_t>(n);
      e.head_size = 2;
    } else if (n <= 0xFFFF) {
      e.head[1] = 126;
      e.head[2] = static_cast<std::uint8_t>(n >> 8);
      e.head[3] = static_cast<std::uint8_t>(n);
      e.head_size = 4;
    } else {
      e.head[1] = 127;
      for (int i = 0; i < 8; ++i) e.head[2 + i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(n) >> (56 - 8 * i));
      e.head_size = 10;
    }
  }

  // Under mu_. Writes what is queued, as far as the socket takes it without blocking.
  void flush_locked() {
    while (writable_ && head_ < queue_.size()) {
      iovec iov[kMaxIov];
      int count = 0;
      std::size_t skip = offset_;
      for (std::size_t i = head_; i < queue_.size() && count + 2 <= kMaxIov; ++i) {
        const Entry& e = queue_[i];
        if (held_ && e.payload) break;  // the application's messages wait for the 101
        const auto add = [&](const void* data, std::size_t size) {
          if (skip >= size) {
            skip -= size;
            return;
          }
          iov[count].iov_base = const_cast<char*>(static_cast<const char*>(data) + skip);
          iov[count].iov_len = size - skip;
          ++count;
          skip = 0;
        };
        if (e.payload) {
          add(e.head, e.head_size);
          add(e.payload->data(), e.payload->size());
        } else {
          add(control_bytes_.data(), control_bytes_.size());
        }
      }
      if (count == 0) return;
      const ssize_t n = write_locked(iov, count);
      if (n < 0) return;  // failed
      if (n == 0) {
        wait_writable_locked();
        return;
      }
      consume_locked(static_cast<std::size_t>(n));
    }
    if (head_ == queue_.size() && head_ > 0) {
      // Drained: a burst's storage is not kept by an idle connection.
      queue_.clear();
      if (queue_.capacity() > 4) queue_.shrink_to_fit();
      head_ = 0;
    }
  }

  // Under mu_. One non-blocking sendmsg: the bytes written (0: the socket is full), or -1 when
  // the connection failed (then stopped).
  ssize_t write_locked(iovec* iov, int count) {
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<std::size_t>(count);
    for (;;) {
      const ssize_t n = ::sendmsg(socket_.native_handle(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n >= 0) return n;
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      const beast::error_code ec(errno, boost::system::system_category());
      spdlog::debug("websocket write failed: {}", ec.message());
      fail_locked(ec);
      return -1;
    }
  }

  // Under mu_: `n` bytes of the queue went out.
  void consume_locked(std::size_t n) {
    while (n > 0 && head_ < queue_.size()) {
      Entry& e = queue_[head_];
      const std::size_t left = e.size(control_bytes_) - offset_;
      if (n < left) {
        offset_ += n;
        return;
      }
      n -= left;
      offset_ = 0;
      ++head_;
      if (e.payload) {
        queued_bytes_ -= e.payload->size();
        e.payload.reset();
        ++written_;
        if (flush_waiter_ && written_ >= flush_target_) wake_flush_waiter_locked();
      } else {
        complete_locked(std::move(control_handler_), {}, control_bytes_.size());
        control_bytes_.clear();
      }
    }
  }

  // Under mu_. The socket is full: the rest is written when it is writable again. The wait is
  // started on the strand (an Asio socket's operations are started there).
  void wait_writable_locked() {
    if (waiting_) return;
    waiting_ = true;
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      self->socket_.async_wait(tcp::socket::wait_write, [self](const beast::error_code& ec) {
        std::lock_guard lock(self->mu_);
        self->waiting_ = false;
        if (!self->writable_) return;
        if (ec) {
          self->fail_locked(ec);
          return;
        }
        self->flush_locked();
      });
    });
  }

  // Under mu_. Writing failed (or a reader fell too far behind): nothing more is written, and the
  // socket is closed on the strand, which ends the connection's reads.
  void fail_locked(beast::error_code ec) {
    if (!writable_) return;
    stop_locked(ec ? ec : asio::error::broken_pipe);
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->close_socket(); });
  }

  // Under mu_. Drops the queue; Beast's pending write (if any) fails.
  void stop_locked(beast::error_code ec) {
    accepting_ = false;
    writable_ = false;
    if (control_handler_) complete_locked(std::move(control_handler_), ec, 0);
    queue_.clear();
    queue_.shrink_to_fit();
    head_ = 0;
    offset_ = 0;
    queued_bytes_ = 0;
    control_bytes_.clear();
    if (flush_waiter_) wake_flush_waiter_locked();
  }

  // Under mu_. Beast's handler runs on the strand, never inside the call that started the write.
  void complete_locked(WriteHandler handler, beast::error_code ec, std::size_t n) {
    if (!handler) return;
    asio::post(socket_.get_executor(),
               [h = std::move(handler), ec, n]() mutable { std::move(h)(ec, n); });
  }

  void wake_flush_waiter_locked() {
    auto waiter = std::move(flush_waiter_);
    flush_waiter_.reset();
    asio::post(waiter->get_executor(), [waiter] { waiter->cancel(); });
  }

  static constexpr int kMaxIov = 64;

  tcp::socket socket_;
  const std::size_t max_queued_bytes_;
  std::mutex mu_;
  // Not yet (wholly) written, from head_ on; offset_ bytes of the first are out. A vector rather
  // than a deque, whose empty form already holds a 512-byte block.
  std::vector<Entry> queue_;
  std::size_t head_ = 0;
  std::size_t offset_ = 0;
  std::size_t queued_bytes_ = 0;
  std::string control_bytes_;   // Beast's write under way (one at a time)
  WriteHandler control_handler_;
  std::uint64_t enqueued_ = 0;  // messages ever queued / written (send_flushed waits for its number)
  std::uint64_t written_ = 0;
  std::shared_ptr<asio::steady_timer> flush_waiter_;
  std::uint64_t flush_target_ = 0;
  bool held_ = true;        // until the 101 is out
  bool accepting_ = true;   // the application's messages are taken
  bool writable_ = true;    // the socket is written to
  bool waiting_ = false;    // a wait for writability is under way
};

// The WebSocket stream's next layer: reads go to the socket, every write through the Wire.
class Gate {
 public:
  using executor_type = tcp::socket::executor_type;

  explicit Gate(std::shared_ptr<Wire> wire) : wire_(std::move(wire)) {}

  executor_type get_executor() noexcept { return wire_->socket().get_executor(); }
  Wire& wire() { return *wire_; }

  template <class MutableBufferSequence, class ReadHandler>
  auto async_read_some(const MutableBufferSequence& buffers, ReadHandler&& handler) {
    return wire_->socket().async_read_some(buffers, std::forward<ReadHandler>(handler));
  }

  template <class ConstBufferSequence, class Handler>
  auto async_write_some(const ConstBufferSequence& buffers, Handler&& handler) {
    return asio::async_initiate<Handler, void(beast::error_code, std::size_t)>(
        [](auto h, Wire* wire, const ConstBufferSequence& b) { wire->write_control(b, WriteHandler(std::move(h))); },
        handler, wire_.get(), buffers);
  }

  friend void beast_close_socket(Gate& gate) { gate.wire_->close_socket(); }

 private:
  std::shared_ptr<Wire> wire_;
};

// Beast's teardown of the TCP connection (after the close handshake): writing stops for good, then
// Beast's own teardown of the socket (shutdown, read to the end, close). Only the asynchronous
// form: this stream is never used synchronously.
template <class TeardownHandler>
void async_teardown(beast::role_type role, Gate& gate, TeardownHandler&& handler) {
  gate.wire().stop_writing();
  websocket::async_teardown(role, gate.wire().socket(), std::forward<TeardownHandler>(handler));
}

// One accepted WebSocket. Everything but send()'s writes and close()'s post runs on the stream's
// strand.
class Session final : public WebSocketConnection, public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const WebSocketOptions& options)
      : wire_(std::make_shared<Wire>(std::move(socket), options.max_queued_bytes)), ws_(wire_), options_(options) {}

  bool send(SharedMessage message, bool binary) override {
    if (closing_) return false;
    return wire_->send(std::move(message), binary) != 0;
  }

  asio::awaitable<bool> send_flushed(std::string message, bool binary) override {
    // On the strand (on_message).
    if (closing_) co_return false;
    const std::uint64_t number = wire_->send(std::make_shared<const std::string>(std::move(message)), binary);
    if (number == 0) co_return false;
    co_return co_await wire_->written(number);
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
    // A close frame from the peer is answered by Beast with ours: no message may follow it.
    ws_.control_callback([wire = wire_.get()](websocket::frame_type kind, beast::string_view) {
      if (kind == websocket::frame_type::close) wire->stop_accepting();
    });

    // Opened before the 101 goes out: once the client sees the connection open, the application
    // knows it (an Engine.IO probe is registered before a second one can race it), and what
    // on_open sends waits in the Wire until the 101 is written.
    handler->on_open(shared_from_this());
    auto [accept_ec] = co_await ws_.async_accept(request, use_tuple);
    // This frame lives as long as the connection: the request's headers are of no more use.
    request = {};
    if (accept_ec) {
      spdlog::debug("websocket handshake failed: {}", accept_ec.message());
      closing_ = true;
      wire_->close_socket();
      handler->on_closed();
      co_return;
    }
    accepted_ = true;
    wire_->release();
    if (closing_) start_close();  // close() was called during the handshake

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
    // The close handshake is over (closed) or the connection failed: a failed connection is
    // closed so that nothing more is written to it.
    closing_ = true;
    if (ec != websocket::error::closed) wire_->close_socket();
    handler->on_closed();
  }

  // On the strand.
  void begin_close(bool going_away) {
    if (closing_) return;
    going_away_ = going_away;
    closing_ = true;
    if (accepted_) start_close();
  }

  // On the strand, once: the close frame follows whatever was sent before (the Wire's order).
  void start_close() {
    wire_->stop_accepting();
    asio::co_spawn(ws_.get_executor(), [self = shared_from_this()] { return self->close_frame(); }, asio::detached);
  }

  asio::awaitable<void> close_frame() {
    const auto code = going_away_ ? websocket::close_code::going_away : websocket::close_code::normal;
    auto [ec] = co_await ws_.async_close(code, use_tuple);
    if (ec) wire_->close_socket();
  }

  // Enough for Engine.IO's heartbeat answers and most events in one read.
  static constexpr std::size_t kFirstRead = 256;

  std::shared_ptr<Wire> wire_;
  websocket::stream<Gate> ws_;
  const WebSocketOptions options_;
  // Read by send() on any thread; written on the strand, like the rest.
  std::atomic<bool> closing_{false};
  bool accepted_ = false;
  bool going_away_ = false;
};

}  // namespace

asio::awaitable<void> run_websocket(beast::tcp_stream stream,
                                    beast::http::request<beast::http::string_body> request,
                                    std::shared_ptr<WebSocketHandler> handler, const WebSocketOptions& options,
                                    std::function<void(std::function<void()>)> set_going_away) {
  // The WebSocket has its own timeouts (handshake, idle with pings); the TCP stream's timer is
  // left behind with it.
  auto session = std::make_shared<Session>(stream.release_socket(), options);
  return Session::run(std::move(session), std::move(request), std::move(handler), std::move(set_going_away));
}

}  // namespace aas::http::detail
