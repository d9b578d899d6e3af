#include "http/server.hpp"

#include "core/error.hpp"
#include "core/ids.hpp"
#include "core/log_throttle.hpp"
#include "http/connection_gate.hpp"
#include "http/dispatcher.hpp"
#include "http/error_response.hpp"
#include "http/framing.hpp"
#include "http/socket_options.hpp"
#include "http/websocket_session.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/url/parse.hpp>

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <tuple>
#include <unordered_set>
#include <variant>
#include <vector>

namespace aas::http {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

// Expected failures (EOF, timeouts, cancellation) come back as error codes, not exceptions.
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

constexpr std::string_view kServerName = "ai-agent-service";
constexpr auto kDrainPollInterval = std::chrono::milliseconds(25);
constexpr auto kAcceptBackoff = std::chrono::milliseconds(100);
// How long an error answer waits for the client to stop sending before the socket is closed.
constexpr auto kMaxLinger = std::chrono::milliseconds(1000);
// A failure that repeats on every accept (out of descriptors) or every refused connection is
// logged once per this interval, with the count of those held back.
constexpr auto kRepeatedLogInterval = std::chrono::seconds(60);

using BeastRequest = bhttp::request<bhttp::string_body>;
using BeastResponse = bhttp::response<bhttp::string_body>;

struct Connection {
  Connection(tcp::socket socket, asio::ip::address peer_address)
      : executor(socket.get_executor()), stream(std::move(socket)), peer(std::move(peer_address)) {}

  asio::any_io_executor executor;  // the connection's strand (the stream moves out on an upgrade)
  beast::tcp_stream stream;
  const asio::ip::address peer;  // counted by the ConnectionGate until the connection ends
  // Only touched on the connection's strand: false while waiting for the next request, so
  // shutdown knows it may close this connection without losing work.
  bool busy = false;
  // Set (on the strand) while the connection is a WebSocket: what a shutdown calls instead.
  bool upgraded = false;
  std::function<void()> going_away;
};

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Splits the target into a percent-decoded path and the raw query. The common case (an
// origin-form target without escapes in its path) needs no URL parser.
bool split_target(std::string_view target, std::string& path, std::string& query) {
  const std::size_t q = target.find('?');
  const std::string_view raw_path = target.substr(0, q);
  if (!raw_path.empty() && raw_path.front() == '/' &&
      raw_path.find('%') == std::string_view::npos) {
    path.assign(raw_path);
    if (q != std::string_view::npos) query.assign(target.substr(q + 1));
    return true;
  }
  auto url = boost::urls::parse_uri_reference(target);
  if (!url) return false;
  path = url->path();
  query = std::string(url->encoded_query());
  return true;
}

std::optional<Request> to_request(BeastRequest&& msg, const std::string& remote_address) {
  Request req;
  req.method = std::string(msg.method_string());
  req.target = std::string(msg.target());
  if (!split_target(req.target, req.path, req.query_string)) return std::nullopt;
  for (const auto& field : msg) {
    req.headers.push_back({lowercase(field.name_string()), std::string(field.value())});
  }
  req.body = std::move(msg.body());
  req.remote_address = remote_address;
  return req;
}

BeastResponse to_beast(Response&& res, unsigned version, bool keep_alive) {
  BeastResponse msg;
  msg.version(version);
  msg.result(static_cast<unsigned>(res.status));
  msg.set(bhttp::field::server, kServerName);
  if (!res.body.empty() && !res.content_type.empty()) {
    msg.set(bhttp::field::content_type, res.content_type);
  }
  for (const Header& h : res.headers) msg.insert(h.name, h.value);
  msg.body() = std::move(res.body);
  msg.keep_alive(keep_alive);
  msg.prepare_payload();  // throws for a body on 204/304: a handler bug
  return msg;
}

// Errors the server answers itself, before a request reaches the dispatcher: in the shape of the
// request's path when its request line was read (the vendor routes' SDKs type these too).
Response server_error(errc code, std::string message, std::string_view target = {}) {
  const std::string request_id = new_uuid_v7();
  Response res = error_response(make_error(code, std::move(message)), request_id, error_shape_for(target));
  res.headers.push_back({"x-request-id", request_id});
  return res;
}

bool is_http_parse_error(const beast::error_code& ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category();
}

bool expects_continue(const BeastRequest& msg) {
  const auto it = msg.find(bhttp::field::expect);
  return it != msg.end() && beast::iequals(it->value(), "100-continue");
}

std::string_view request_id_of(const Response& res) {
  for (const Header& h : res.headers) {
    if (h.name == "x-request-id") return h.value;
  }
  return "-";
}

// The status line and headers of a streamed response. Its length is unknown up front, so the
// body is chunked (HTTP/1.1) or delimited by closing the connection (HTTP/1.0, which therefore
// closes after the stream). A chunked stream may keep the connection for the client's next
// request (an SDK streaming call after call on one connection).
bhttp::response<bhttp::empty_body> stream_head(const Response& res, unsigned version, bool keep_alive) {
  bhttp::response<bhttp::empty_body> head;
  head.version(version);
  head.result(static_cast<unsigned>(res.status));
  head.set(bhttp::field::server, kServerName);
  if (!res.content_type.empty()) head.set(bhttp::field::content_type, res.content_type);
  for (const Header& h : res.headers) head.insert(h.name, h.value);
  head.erase(bhttp::field::content_length);
  head.keep_alive(keep_alive && version >= 11);
  if (version >= 11) {
    head.chunked(true);
  } else {
    head.erase(bhttp::field::transfer_encoding);
    head.set(bhttp::field::connection, "close");
  }
  return head;
}

// The BodyWriter of a streamed response. Everything here runs on the connection's strand: the
// stream body's writes, its closed() waits, and the watcher that reads from the client.
class StreamWriter final : public BodyWriter {
 public:
  // `pending`: bytes of the client's next request read already (pipelined behind this one);
  // what the watcher reads is added to them, up to `keep_limit` bytes. The head is made here
  // from `res` (stream_head), not passed in: a temporary of the caller's would stay in its
  // coroutine frame for the whole stream.
  StreamWriter(beast::tcp_stream& stream, const Response& res, unsigned version, bool keep_alive,
               std::chrono::milliseconds write_timeout, std::string pending, std::size_t keep_limit)
      : stream_(stream),
        head_(stream_head(res, version, keep_alive)),
        chunked_(head_.chunked()),
        write_timeout_(write_timeout),
        keep_alive_(head_.keep_alive()),
        watcher_done_(stream.get_executor(), asio::steady_timer::time_point::max()),
        next_request_(std::move(pending)),
        keep_limit_(keep_limit) {}

  asio::awaitable<bool> write(std::string_view bytes) override {
    if (closed_ || replaced_) co_return false;
    const bool head_out = co_await send_head();
    if (!head_out) co_return false;
    // What a try_write() left goes first.
    if (!backlog_.empty()) {
      const bool flushed = co_await write_rest(std::array<asio::const_buffer, 1>{asio::buffer(backlog_)});
      backlog_.clear();
      if (!flushed) co_return false;
    }
    // An empty chunk is the last chunk: it would end the body.
    if (bytes.empty()) co_return true;
    // The whole frame is first offered to the socket without waiting: a reader that keeps up has
    // room for it, and then relaying a token costs one send() and no async write, timer or
    // hand-off through the scheduler (those were a good part of a token's CPU). What does not
    // fit goes the usual way below.
    Frame frame(bytes, chunked_);
    const std::optional<std::size_t> sent = offer(frame);
    if (!sent) co_return false;
    if (*sent == frame.size()) co_return true;
    // (`bytes` is the caller's, alive while it awaits this.)
    beast::buffers_suffix<Frame::Buffers> rest(frame.buffers);
    rest.consume(*sent);
    co_return co_await write_rest(rest);
  }

  // A direct send, when nothing of the stream is in flight (the head is out, no async write is
  // pending, nothing is held back): otherwise the caller queues the bytes, which keeps them in order.
  TryWrite try_write(std::string_view bytes) override {
    if (closed_ || replaced_) return TryWrite::closed;
    if (!head_done_ || writing_ || !backlog_.empty()) return TryWrite::busy;
    if (bytes.empty()) return TryWrite::written;
    Frame frame(bytes, chunked_);
    const std::optional<std::size_t> sent = offer(frame);
    if (!sent) return TryWrite::closed;
    if (*sent == frame.size()) return TryWrite::written;
    // The socket is full: the rest of the frame is kept (a copy, the caller's bytes do not live
    // on) and goes out with the next write(), before anything else.
    beast::buffers_suffix<Frame::Buffers> rest(frame.buffers);
    rest.consume(*sent);
    backlog_.resize(asio::buffer_size(rest));
    asio::buffer_copy(asio::buffer(backlog_), rest);
    return TryWrite::kept;
  }

  void on_closed(std::function<void()> f) override {
    if (closed_ && f) return f();
    on_closed_ = std::move(f);
  }

  bool is_closed() const override { return closed_; }

  asio::awaitable<bool> replace(Response res) override {
    if (head_sent_ || replaced_ || closed_) co_return false;
    replaced_ = true;
    // The stream's own headers (request id, CORS) stay; those about its body go.
    for (const auto& field : head_) {
      const auto name = field.name();
      if (name == bhttp::field::content_type || name == bhttp::field::cache_control ||
          name == bhttp::field::transfer_encoding || name == bhttp::field::connection ||
          name == bhttp::field::server || field.name_string() == "x-accel-buffering")
        continue;
      std::string lower(field.name_string());
      for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (std::none_of(res.headers.begin(), res.headers.end(), [&](const Header& h) { return h.name == lower; }))
        res.headers.push_back({lower, std::string(field.value())});
    }
    auto msg = to_beast(std::move(res), head_.version(), /*keep_alive=*/false);
    stream_.expires_after(write_timeout_);
    auto [ec, n] = co_await bhttp::async_write(stream_, msg, use_tuple);
    if (ec) mark_closed();
    co_return !ec;
  }

  // A 500 instead of the stream, for a body that failed while nothing was sent; past the head,
  // the missing last chunk tells the client. A coroutine of its own: the response is not kept
  // in the frame of the stream.
  asio::awaitable<void> fail(std::string_view request_id) {
    co_await replace(error_response(make_error(errc::internal, "internal error"), request_id));
  }

  // The status line and headers, once: before the first byte of the body (or the end of an
  // empty one).
  asio::awaitable<bool> send_head() {
    if (head_sent_) co_return !closed_;
    head_sent_ = true;
    bhttp::response_serializer<bhttp::empty_body> serializer(head_);
    stream_.expires_after(write_timeout_);
    auto [ec, n] = co_await bhttp::async_write_header(stream_, serializer, use_tuple);
    // Nothing reads the head once it is out (replace() is too late then): its fields, a few
    // hundred bytes, are not kept for the rest of the stream.
    head_ = {};
    if (ec) mark_closed();
    head_done_ = !ec;
    co_return !ec;
  }

  // Starts reading from the client: with nothing more to read in this exchange, EOF or a reset
  // is the only news the socket gives of a client that left. A client that half-closes after
  // its request therefore counts as gone, as it does for most SSE servers.
  void watch_client() {
    watching_ = true;
    read_client();
  }

  // Stops the watcher (cancels its read) and waits until its handler has run, so that nothing
  // refers to this writer once it is destroyed.
  asio::awaitable<void> stop_watching() {
    if (!watching_) co_return;
    stopping_ = true;
    beast::error_code ec;
    stream_.socket().cancel(ec);
    while (watching_) co_await watcher_done_.async_wait(use_tuple);
  }

  // After finish() and stop_watching(): the bytes the client sent meanwhile, which start its
  // next request, when the connection can serve one (the head promised keep-alive, the whole
  // body went out, the client is still there and sent no more than a request's head).
  std::optional<std::string> next_request() && {
    if (!keep_alive_ || !finished_ || closed_ || replaced_ || overflowed_) return std::nullopt;
    return std::move(next_request_);
  }

  // Sends the last chunk, which tells the client the body is complete.
  asio::awaitable<void> finish() {
    if (closed_ || replaced_) co_return;
    // (Not folded into the condition above: g++ 12 miscompiles co_await inside || and ?:.)
    const bool head_out = co_await send_head();
    if (!head_out) co_return;
    if (!backlog_.empty()) {  // what a try_write() left
      const bool flushed = co_await write_rest(std::array<asio::const_buffer, 1>{asio::buffer(backlog_)});
      backlog_.clear();
      if (!flushed) co_return;
    }
    if (!chunked_) co_return;
    stream_.expires_after(write_timeout_);
    auto [ec, n] = co_await asio::async_write(stream_, bhttp::make_chunk_last(), use_tuple);
    if (ec) mark_closed();
    finished_ = !ec;
  }

 private:
  // One chunk of the body as three pieces of one sendmsg(): the chunk's size line, the bytes and
  // the CRLF (without chunking, the bytes alone), so no copy of the frame is made per event.
  struct Frame {
    using Buffers = std::array<asio::const_buffer, 3>;
    Frame(std::string_view bytes, bool chunked) {
      std::size_t size_length = 0;
      if (chunked) {
        char* end = std::to_chars(size_line, size_line + sizeof size_line - 2, bytes.size(), 16).ptr;
        *end++ = '\r';
        *end++ = '\n';
        size_length = static_cast<std::size_t>(end - size_line);
      }
      static constexpr char kCrlf[] = "\r\n";
      buffers = {asio::const_buffer(size_line, size_length), asio::buffer(bytes),
                 asio::const_buffer(kCrlf, chunked ? 2 : 0)};
    }
    Frame(const Frame&) = delete;  // `buffers` points into `size_line`
    Frame& operator=(const Frame&) = delete;
    std::size_t size() const { return asio::buffer_size(buffers); }

    char size_line[2 * sizeof(std::size_t) + 2];
    Buffers buffers;
  };

  // One non-blocking sendmsg() of the frame: how many bytes the socket took (0 when it is full),
  // nothing when the client is gone.
  std::optional<std::size_t> offer(const Frame& frame) {
    std::array<iovec, 3> pieces{};
    for (std::size_t i = 0; i < frame.buffers.size(); ++i)
      pieces[i] = iovec{const_cast<void*>(frame.buffers[i].data()), frame.buffers[i].size()};
    msghdr message{};
    message.msg_iov = pieces.data();
    message.msg_iovlen = pieces.size();
    const ssize_t n = ::sendmsg(stream_.socket().native_handle(), &message, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
    spdlog::debug("streamed write failed: {}", std::strerror(errno));
    mark_closed();
    return std::nullopt;
  }

  // The asynchronous write of what the socket did not take at once. With the watcher's read
  // pending this sets the write timer only. A timeout closes the socket, so a client that
  // stopped reading costs at most one write_timeout and the bytes already in the socket buffers.
  template <class Buffers>
  asio::awaitable<bool> write_rest(const Buffers& rest) {
    stream_.expires_after(write_timeout_);
    writing_ = true;
    auto [ec, written] = co_await asio::async_write(stream_, rest, use_tuple);
    writing_ = false;
    if (ec) {
      // Also when the write was cancelled: part of a chunk may be out, the framing is lost.
      spdlog::debug("streamed write failed: {}", ec.message());
      mark_closed();
      co_return false;
    }
    co_return true;
  }

  // A read with a completion handler rather than a coroutine: it is pending for the whole stream,
  // and a spawned coroutine (its frame, its thread of execution) cost ~1 KB per held stream.
  void read_client() {
    // On the socket itself: Beast's timed read wraps the handler in an operation of ~500 bytes,
    // and this read has no timeout.
    stream_.socket().async_read_some(asio::buffer(sink_), [this](const beast::error_code& ec, std::size_t n) {
      if (!ec) {
        // What a client sends during a stream is its next request (nothing else may come): kept
        // for it, unless it is more than a request's head, which then costs the connection.
        if (next_request_.size() + n <= keep_limit_) next_request_.append(sink_, n);
        else overflowed_ = true;
        // (A read that completed just as stop_watching() cancelled it: nothing left to cancel.)
        if (!stopping_) return read_client();
      } else if (!stopping_ || ec != asio::error::operation_aborted) {
        // A write waiting for room in the socket goes nowhere now: it ends at once, not at its timeout.
        beast::error_code ignored;
        if (writing_) stream_.socket().cancel(ignored);
        mark_closed();
      }
      watching_ = false;
      watcher_done_.cancel();
    });
  }

  void mark_closed() {
    if (closed_) return;
    closed_ = true;
    if (on_closed_) std::exchange(on_closed_, nullptr)();
  }

  beast::tcp_stream& stream_;
  bhttp::response<bhttp::empty_body> head_;
  const bool chunked_;
  bool head_sent_ = false;
  bool head_done_ = false;  // the head is out: a try_write() may send
  bool replaced_ = false;  // a whole response went out instead of the stream
  const std::chrono::milliseconds write_timeout_;
  const bool keep_alive_;            // the head offered the connection for a next request
  std::function<void()> on_closed_;  // told once, when the client is gone
  asio::steady_timer watcher_done_;  // never expires; cancelled when the watcher ends
  std::string next_request_;         // what the client sent after its request
  const std::size_t keep_limit_;
  char sink_[64];                    // the watcher's reads
  bool closed_ = false;
  bool finished_ = false;    // the last chunk went out
  bool overflowed_ = false;  // the client sent more than next_request_ keeps
  bool stopping_ = false;    // stop_watching() cancelled the watcher
  bool watching_ = false;
  bool writing_ = false;  // an async write of the body is pending
  std::string backlog_;   // the rest of a frame a try_write() could not send
};

// What serve() hands to run_connection, to be run once serve()'s frame (its parser, buffers and
// the request's copies, ~4 KB) is gone: a WebSocket may stay open for days, a stream for minutes.
// An upgrade request the handler accepted:
struct Upgrade {
  BeastRequest request;
  std::shared_ptr<WebSocketHandler> handler;
};
// A streamed response (not to a HEAD request, which gets its head from serve()):
struct Stream {
  Response response;
  unsigned version = 11;
  bool keep_alive = false;  // the client's wish, and no shutdown under way
  std::string pending;      // bytes read after the request: the start of the next one
};
using Handoff = std::variant<std::monostate, Upgrade, Stream>;

}  // namespace

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  Impl(asio::io_context& context, ServerOptions opts, Dispatcher& disp, UpgradeHandler upgrades)
      : ioc(context),
        options(std::move(opts)),
        dispatcher(disp),
        upgrade_handler(std::move(upgrades)),
        accept_strand(asio::make_strand(context)),
        acceptor(accept_strand),
        gate(ConnectionLimits{options.max_connections, options.max_connections_per_client}) {}

  asio::io_context& ioc;
  const ServerOptions options;
  Dispatcher& dispatcher;
  const UpgradeHandler upgrade_handler;  // may be empty: upgrades are then ordinary requests
  asio::any_io_executor accept_strand;
  tcp::acceptor acceptor;  // only used on accept_strand once started
  std::atomic<std::uint16_t> bound_port{0};
  std::atomic<bool> shutting_down{false};
  ConnectionGate gate;
  // Only used on accept_strand.
  LogThrottle accept_errors{kRepeatedLogInterval};
  LogThrottle refusals{kRepeatedLogInterval};

  // Connections run on different strands of a multi-threaded io_context.
  std::mutex mutex;
  std::unordered_set<std::shared_ptr<Connection>> connections;

  void listen();
  void begin_shutdown(std::function<void(bool)> on_done);

  asio::awaitable<void> accept_loop();
  void admit(tcp::socket socket);
  void refuse(tcp::socket socket, ConnectionGate::Verdict why, const asio::ip::address& peer);
  void start_connection(tcp::socket socket, asio::ip::address peer);
  asio::awaitable<void> run_connection(std::shared_ptr<Connection> conn);
  asio::awaitable<Handoff> serve(Connection& conn, std::string pending);
  asio::awaitable<Handoff> upgrade(Connection& conn, BeastRequest msg, Request req);
  asio::awaitable<bool> write_response(Connection& conn, Response res, unsigned version,
                                       bool keep_alive, bool head_only);
  asio::awaitable<void> stream_head_only(Connection& conn, const Response& res, unsigned version);
  // `stream` is the caller's (run_connection's), alive while it awaits: not a copy in this frame.
  asio::awaitable<std::optional<std::string>> stream_response(Connection& conn, Stream& stream);
  asio::awaitable<void> answer_read_error(Connection& conn, const beast::error_code& ec, std::string_view target);
  asio::awaitable<void> linger_close(Connection& conn);
  asio::awaitable<void> drain(std::function<void(bool)> on_done);
  std::size_t live_connections();
  // Asio's per-descriptor states made ahead of need (below); on accept_strand once serving.
  void reserve_descriptors(std::size_t connections);
  std::size_t reserved_descriptors = 0;
};

// Asio's reactor keeps a state per open descriptor (`epoll_reactor::descriptor_state`, ~170
// bytes), allocated when a socket opens and, when it closes, kept in the reactor's free list for
// the io_context's life and reused by later sockets, never freed. Allocated one by one during a
// burst of connections, each sits among those connections' memory and pins a page of it after
// they ended (1,000 streams: ~11 MiB resident above idle a minute later, most of it this). So the
// server makes them ahead of need, a batch at a time, side by side: it opens and closes a batch
// of sockets whenever the descriptors its connections may hold (two each: the client's and an
// upstream's) come near the states made so far. The batches stay (what the peak needed, as
// before), but on pages of their own. A batch costs its I/O thread ~10 us a socket in system
// calls (1,024: 10-15 ms on the shared 2-core VM), so the first, at start, is small; during a
// burst batches of 1,024 left less behind than batches of 256 (after 2,000 streams: 34.7 against
// 36.9 MiB, idle 25), fewer boundaries among the streams' memory.
//
// Made on the I/O thread, a batch's states were still not on pages of their own: malloc serves
// them from the holes the burst's freed memory leaves in that thread's arena, and after the
// streams each pinned a page of it (session 14). So a batch is made by a short-lived thread,
// whose allocations come from an arena of its own (glibc gives a new thread a free arena: the
// one the last batch's thread left), where nothing else lives.
constexpr std::size_t kFirstDescriptorBatch = 256;
constexpr std::size_t kDescriptorBatch = 1024;

// Opens and closes up to `n` sockets; how many it could open (fewer when out of descriptors).
static std::size_t open_and_close_sockets(asio::io_context& ioc, std::size_t n) {
  std::vector<tcp::socket> sockets;
  sockets.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    beast::error_code ec;
    tcp::socket s(ioc);
    s.open(tcp::v4(), ec);
    if (ec) break;
    sockets.push_back(std::move(s));
  }
  return sockets.size();
}

// The same on a thread of its own (above); on this one when no thread can be made.
static std::size_t make_descriptor_states(asio::io_context& ioc, std::size_t n) {
  std::size_t made = 0;
  try {
    std::thread maker([&] { made = open_and_close_sockets(ioc, n); });
    maker.join();
  } catch (const std::system_error&) {
    made = open_and_close_sockets(ioc, n);
  }
  return made;
}

void Server::Impl::reserve_descriptors(std::size_t connections) {
  if (2 * connections + kFirstDescriptorBatch / 4 < reserved_descriptors) return;
  // Not near the descriptor limit: the batch's sockets are open for a moment, and an accept or
  // an upstream connect must not fail for want of one meanwhile.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) != 0 || 2 * connections + 4 * kDescriptorBatch > files.rlim_cur) return;
  reserved_descriptors += make_descriptor_states(ioc, reserved_descriptors == 0 ? kFirstDescriptorBatch : kDescriptorBatch);
}

void Server::Impl::listen() {
  reserve_descriptors(0);
  beast::error_code ec;
  tcp::resolver resolver(ioc);
  const auto endpoints =
      resolver.resolve(options.host, std::to_string(options.port),
                       tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty()) {
    throw std::runtime_error("cannot resolve listen address " + options.host + ": " + ec.message());
  }
  const tcp::endpoint endpoint = *endpoints.begin();
  const auto fail = [&](const char* what) {
    throw std::runtime_error(std::string("cannot listen on ") + options.host + ":" +
                             std::to_string(options.port) + " (" + what + "): " + ec.message());
  };
  acceptor.open(endpoint.protocol(), ec);
  if (ec) fail("open");
  acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) fail("reuse_address");
  acceptor.bind(endpoint, ec);
  if (ec) fail("bind");
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) fail("listen");
  bound_port = acceptor.local_endpoint().port();
  acceptor.non_blocking(true, ec);  // for the batch of synchronous accepts in accept_loop

  asio::co_spawn(
      accept_strand, [self = shared_from_this()] { return self->accept_loop(); }, asio::detached);
}

// Connections taken from the backlog per accept completion, beyond the first.
constexpr int kAcceptBatch = 64;

asio::awaitable<void> Server::Impl::accept_loop() {
  for (;;) {
    asio::any_io_executor strand = asio::make_strand(ioc);
    auto [ec, socket] = co_await acceptor.async_accept(strand, use_tuple);
    if (shutting_down || !acceptor.is_open()) co_return;
    if (ec) {
      // E.g. out of file descriptors: back off instead of spinning on the error, and keep the
      // log to a line per interval (this repeats every backoff until descriptors are free).
      if (const auto held_back = accept_errors.pass(LogThrottle::Clock::now()))
        spdlog::warn("accept failed: {} ({} more since the last report; check MAX_CONNECTIONS against ulimit -n)",
                     ec.message(), *held_back);
      asio::steady_timer pause(accept_strand, kAcceptBackoff);
      co_await pause.async_wait(use_tuple);
      continue;
    }
    admit(std::move(socket));
    // Take what else is waiting in the backlog now, without going back to the queue: on a busy
    // I/O thread each async_accept completion waits behind all other queued work, so one
    // connection per turn let thousands of new clients starve behind streams already served.
    // A bounded batch keeps the loop from monopolising the strand.
    for (int batch = 0; batch < kAcceptBatch && !shutting_down; ++batch) {
      tcp::socket next(asio::make_strand(ioc));
      beast::error_code accept_ec;
      acceptor.accept(next, accept_ec);  // the acceptor is non-blocking: would_block ends it
      if (accept_ec) break;
      admit(std::move(next));
    }
  }
}

// On accept_strand: the gate decides before a coroutine (and its buffers) exists.
void Server::Impl::admit(tcp::socket socket) {
  beast::error_code ec;
  const tcp::endpoint remote = socket.remote_endpoint(ec);
  if (ec) return;  // gone already; the socket closes here
  const ConnectionGate::Verdict verdict = gate.admit(remote.address());
  if (verdict != ConnectionGate::Verdict::admitted) {
    refuse(std::move(socket), verdict, remote.address());
    return;
  }
  reserve_descriptors(gate.open());
  start_connection(std::move(socket), remote.address());
}

// A connection over a cap costs nothing more than this: a canned 503 written without waiting
// (a fresh socket's send buffer takes it whole; if not, the client just sees the close) and the
// descriptor closed at once. Nothing is read, so a client that sent its request first may see a
// reset instead of the 503; either way it learns to come back later.
void Server::Impl::refuse(tcp::socket socket, ConnectionGate::Verdict why, const asio::ip::address& peer) {
  const bool client_full = why == ConnectionGate::Verdict::client_full;
  if (const auto held_back = refusals.pass(LogThrottle::Clock::now())) {
    spdlog::warn("refusing connections: {} ({}; {} more refused since the last report)",
                 client_full ? "too many from one client" : "server full",
                 client_full ? peer.to_string() : std::to_string(gate.open()) + " open", *held_back);
  }
  Response res = server_error(errc::unavailable, client_full ? "too many connections from this client"
                                                             : "too many connections");
  res.headers.push_back({"retry-after", "1"});
  BeastResponse msg = to_beast(std::move(res), 11, /*keep_alive=*/false);
  bhttp::serializer<false, bhttp::string_body> serializer(msg);
  beast::error_code ec;
  socket.non_blocking(true, ec);
  bhttp::write(socket, serializer, ec);  // would_block ends it: the client then sees only the close
  socket.shutdown(tcp::socket::shutdown_send, ec);
  socket.close(ec);
}

void Server::Impl::start_connection(tcp::socket socket, asio::ip::address peer) {
  beast::error_code ec;
  socket.set_option(tcp::no_delay(true), ec);  // small responses must not wait for Nagle
  auto conn = std::make_shared<Connection>(std::move(socket), std::move(peer));
  {
    std::lock_guard lock(mutex);
    connections.insert(conn);
  }
  asio::co_spawn(
      conn->executor,
      [self = shared_from_this(), conn] { return self->run_connection(conn); }, asio::detached);
}

asio::awaitable<void> Server::Impl::run_connection(std::shared_ptr<Connection> conn) {
  try {
    // After a stream that keeps the connection, serve() starts over with what the client sent
    // meanwhile (the start of its next request).
    std::optional<std::string> next_request = std::string();
    Handoff next;
    while (next_request) {
      next = co_await serve(*conn, std::move(*next_request));
      next_request.reset();
      if (auto* stream = std::get_if<Stream>(&next)) {
        next_request = co_await stream_response(*conn, *stream);
        next = Handoff{};  // the response (its body's state) goes now, not with the next request
      }
    }
    if (auto* upgraded = std::get_if<Upgrade>(&next)) {
      if (!detect_dead_peers(conn->stream.socket().native_handle(), options.dead_peer_timeout))
        spdlog::debug("websocket: keepalive options refused");
      co_await detail::run_websocket(std::move(conn->stream), std::move(upgraded->request),
                                     std::move(upgraded->handler), options.websocket,
                                     [&c = *conn](std::function<void()> going_away) {
                                       c.going_away = std::move(going_away);
                                     });
    }
  } catch (const std::exception& e) {
    // A bug in this layer must cost one connection, never the process.
    spdlog::error("connection failed: {}", e.what());
  }
  beast::error_code ec;
  if (!conn->upgraded) conn->stream.socket().close(ec);
  gate.release(conn->peer);
  std::lock_guard lock(mutex);
  connections.erase(conn);
  // The bucket array grew with the peak (10,000 streams: ~80 KB) and would pin a page of the
  // memory their connections gave back: it goes with the last connection.
  if (connections.empty()) connections.rehash(0);
}

asio::awaitable<Handoff> Server::Impl::serve(Connection& conn, std::string pending) {
  beast::error_code ec;
  const std::string remote_address = conn.peer.to_string();
  beast::flat_buffer buffer;
  if (!pending.empty()) {
    buffer.commit(asio::buffer_copy(buffer.prepare(pending.size()), asio::buffer(pending)));
    pending = {};
  }

  for (;;) {
    conn.busy = false;
    if (shutting_down) co_return Handoff{};

    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(
        options.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
    parser.body_limit(options.max_body_bytes);

    conn.stream.expires_after(options.idle_timeout);
    std::tie(ec, std::ignore) =
        co_await bhttp::async_read_header(conn.stream, buffer, parser, use_tuple);
    conn.busy = true;
    if (!ec) {
      // Before the body: a request whose length is in doubt must not leave bytes behind that
      // would be read as the next request.
      if (const auto refused = framing_error(parser.get())) {
        spdlog::debug("closing connection after a badly framed request: {}", *refused);
        co_await write_response(conn, server_error(errc::invalid_request, std::string(*refused), parser.get().target()),
                                parser.get().version(), false, false);
        co_await linger_close(conn);
        co_return Handoff{};
      }
    }
    if (!ec && options.body_limit_for) {
      if (auto limit = options.body_limit_for(parser.get().method_string(), parser.get().target()))
        parser.body_limit(*limit);
    }
    if (!ec && !parser.is_done()) {
      if (expects_continue(parser.get())) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        conn.stream.expires_after(options.write_timeout);
        std::tie(ec, std::ignore) =
            co_await asio::async_write(conn.stream, asio::buffer(kContinue), use_tuple);
        if (ec) co_return Handoff{};
      }
      conn.stream.expires_after(options.read_timeout);
      std::tie(ec, std::ignore) =
          co_await bhttp::async_read(conn.stream, buffer, parser, use_tuple);
    }
    if (ec) {
      // The request line may have been read (a body too large, a bad header): its path decides
      // the error's shape. A named copy: the parser is not touched while the answer is written.
      const std::string target(parser.get().target());
      co_await answer_read_error(conn, ec, target);
      co_return Handoff{};
    }

    BeastRequest msg = parser.release();
    if (upgrade_handler && beast::websocket::is_upgrade(msg)) {
      std::optional<Request> req = to_request(BeastRequest(msg), remote_address);
      if (req) co_return co_await upgrade(conn, std::move(msg), std::move(*req));
    }
    const unsigned version = msg.version();
    const bool head_only = msg.method() == bhttp::verb::head;
    const bool client_keep_alive = msg.keep_alive();
    std::optional<Request> req = to_request(std::move(msg), remote_address);
    if (!req) {
      co_await write_response(conn, server_error(errc::invalid_request, "malformed request target"),
                              version, false, head_only);
      co_await linger_close(conn);
      co_return Handoff{};
    }
    Response res = co_await dispatcher.handle(std::move(*req));
    if (res.stream) {
      // Runs after the dispatcher returned: its request timeout does not cut long streams, and
      // its access-log line (written on return) measures time to headers, not the stream. The
      // connection stays busy, so a shutdown waits for the stream to end.
      if (head_only) {
        co_await stream_head_only(conn, res, version);
        co_return Handoff{};
      }
      // What the parser read beyond this request goes with it (a pipelined next request).
      const auto rest = buffer.data();
      co_return Stream{std::move(res), version, client_keep_alive && !shutting_down,
                       std::string(static_cast<const char*>(rest.data()), rest.size())};
    }
    // Read the flag after the handler: a shutdown meanwhile turns this into the last response.
    const bool keep_alive = client_keep_alive && !shutting_down;
    if (!co_await write_response(conn, std::move(res), version, keep_alive, head_only)) co_return Handoff{};
    if (!keep_alive) {
      conn.stream.socket().shutdown(tcp::socket::shutdown_send, ec);
      co_return Handoff{};
    }
  }
}

// The hook of Beast's advanced server example: a request asking for a WebSocket leaves the HTTP
// loop here. The handler accepts it (run_connection then moves the TCP stream into the WebSocket
// for good) or refuses it with a response after which the connection closes.
asio::awaitable<Handoff> Server::Impl::upgrade(Connection& conn, BeastRequest msg, Request req) {
  UpgradeDecision decision = upgrade_handler(req);
  if (auto* refusal = std::get_if<Response>(&decision)) {
    if (co_await write_response(conn, std::move(*refusal), msg.version(), false, false))
      co_await linger_close(conn);
    co_return Handoff{};
  }
  conn.upgraded = true;
  co_return Upgrade{std::move(msg), std::get<std::shared_ptr<WebSocketHandler>>(std::move(decision))};
}

asio::awaitable<bool> Server::Impl::write_response(Connection& conn, Response res, unsigned version,
                                                   bool keep_alive, bool head_only) {
  std::optional<BeastResponse> msg;
  try {
    msg = to_beast(std::move(res), version, keep_alive);
  } catch (const std::exception& e) {
    spdlog::error("cannot serialize response: {}", e.what());
    msg = to_beast(server_error(errc::internal, "internal error"), version, keep_alive);
  }
  beast::error_code ec;
  conn.stream.expires_after(options.write_timeout);
  if (head_only) {
    bhttp::response_serializer<bhttp::string_body> serializer(*msg);
    std::tie(ec, std::ignore) =
        co_await bhttp::async_write_header(conn.stream, serializer, use_tuple);
  } else {
    std::tie(ec, std::ignore) = co_await bhttp::async_write(conn.stream, *msg, use_tuple);
  }
  co_return !ec;
}

// HEAD learns a stream's headers; running the body would only do work nobody reads.
asio::awaitable<void> Server::Impl::stream_head_only(Connection& conn, const Response& res, unsigned version) {
  auto head = stream_head(res, version, /*keep_alive=*/false);
  bhttp::response_serializer<bhttp::empty_body> serializer(head);
  conn.stream.expires_after(options.write_timeout);
  co_await bhttp::async_write_header(conn.stream, serializer, use_tuple);
  beast::error_code ec;
  conn.stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

// Runs the stream body with a StreamWriter, which sends the head with the first write, while a
// watcher reads from the client to notice it leaving. Returns the start of the client's next
// request when the connection goes on; nothing when it is to close.
asio::awaitable<std::optional<std::string>> Server::Impl::stream_response(Connection& conn, Stream& stream) {
  beast::error_code ec;
  Response& res = stream.response;

  // The watcher's read must not time out: the stream lasts as long as its producer wants; TCP
  // finds a client that vanished without closing.
  conn.stream.expires_never();
  if (!detect_dead_peers(conn.stream.socket().native_handle(), options.dead_peer_timeout))
    spdlog::debug("request {}: keepalive options refused", request_id_of(res));
  StreamWriter writer(conn.stream, res, stream.version, stream.keep_alive, options.write_timeout,
                      std::move(stream.pending), options.max_header_bytes);
  writer.watch_client();
  bool completed = false;
  try {
    co_await res.stream(writer);
    completed = true;
  } catch (const std::exception& e) {
    spdlog::error("request {}: streamed body failed: {}", request_id_of(res), e.what());
  } catch (...) {
    spdlog::error("request {}: streamed body failed with a non-standard exception",
                  request_id_of(res));
  }
  if (completed) co_await writer.finish();
  else co_await writer.fail(request_id_of(res));
  co_await writer.stop_watching();
  std::optional<std::string> next = std::move(writer).next_request();
  if (next && !shutting_down) co_return next;
  // The watcher has consumed the client's input, so closing sends FIN, not a reset that could
  // destroy the end of the body (no linger needed, which would hold up a shutdown). HTTP/1.0
  // clients learn the end of the body from this.
  conn.stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  co_return std::nullopt;
}

asio::awaitable<void> Server::Impl::answer_read_error(Connection& conn, const beast::error_code& ec,
                                                      std::string_view target) {
  std::optional<Response> res;
  if (ec == bhttp::error::header_limit || ec == bhttp::error::body_limit) {
    res = server_error(errc::payload_too_large,
                       ec == bhttp::error::header_limit ? "request headers too large" : "request body too large",
                       target);
  } else if (is_http_parse_error(ec) && ec != bhttp::error::end_of_stream &&
             ec != bhttp::error::partial_message) {
    res = server_error(errc::invalid_request, "malformed HTTP request", target);
  }
  // Anything else (EOF, timeout, reset, shutdown's cancel) ends the connection quietly.
  if (!res) co_return;
  spdlog::debug("closing connection after a bad request: {}", ec.message());
  if (co_await write_response(conn, std::move(*res), 11, false, false)) co_await linger_close(conn);
}

// Closing a socket with unread input makes the kernel send RST, which can destroy the error
// response before the client reads it. So: stop sending, then discard input until EOF or a timeout.
asio::awaitable<void> Server::Impl::linger_close(Connection& conn) {
  beast::error_code ec;
  conn.stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) co_return;
  conn.stream.expires_after(
      std::min<std::chrono::steady_clock::duration>(options.read_timeout, kMaxLinger));
  char sink[4096];
  for (;;) {
    auto [read_ec, n] = co_await conn.stream.async_read_some(asio::buffer(sink), use_tuple);
    if (read_ec) co_return;
  }
}

void Server::Impl::begin_shutdown(std::function<void(bool)> on_done) {
  shutting_down = true;
  asio::post(accept_strand, [self = shared_from_this()] {
    beast::error_code ec;
    self->acceptor.close(ec);
  });
  {
    std::lock_guard lock(mutex);
    for (const auto& conn : connections) {
      // On the connection's strand, `busy` is exact: an idle connection loses nothing.
      asio::post(conn->executor, [conn] {
        if (conn->going_away) conn->going_away();
        else if (!conn->busy && !conn->upgraded) conn->stream.cancel();
      });
    }
  }
  asio::co_spawn(
      ioc,
      [self = shared_from_this(), done = std::move(on_done)]() mutable {
        return self->drain(std::move(done));
      },
      asio::detached);
}

asio::awaitable<void> Server::Impl::drain(std::function<void(bool)> on_done) {
  const auto deadline = std::chrono::steady_clock::now() + options.shutdown_grace;
  asio::steady_timer timer(ioc);
  for (;;) {
    if (live_connections() == 0) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      spdlog::warn("shutdown grace period over with {} connection(s) still open",
                   live_connections());
      if (on_done) on_done(false);
      co_return;
    }
    timer.expires_after(kDrainPollInterval);
    co_await timer.async_wait(use_tuple);
  }
  if (on_done) on_done(true);
}

std::size_t Server::Impl::live_connections() {
  std::lock_guard lock(mutex);
  return connections.size();
}

Server::Server(asio::io_context& ioc, ServerOptions options, Dispatcher& dispatcher, UpgradeHandler upgrades)
    : impl_(std::make_shared<Impl>(ioc, std::move(options), dispatcher, std::move(upgrades))) {}

Server::~Server() = default;

void Server::start() { impl_->listen(); }

std::uint16_t Server::port() const { return impl_->bound_port; }

std::size_t Server::connection_count() const { return impl_->live_connections(); }

void Server::shutdown(std::function<void(bool drained)> on_done) {
  impl_->begin_shutdown(std::move(on_done));
}

}  // namespace aas::http
