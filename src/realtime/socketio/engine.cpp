#include "realtime/socketio/engine.hpp"

#include "realtime/socketio/engine_protocol.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>
#include <openssl/rand.h>

#include <mutex>
#include <unordered_map>
#include <vector>

namespace aas::realtime::engineio {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// engine.io's error answers: {"code": n, "message": "…"} with 400.
http::Response bad_request(int code, std::string_view message) {
  http::Response res;
  res.status = 400;
  res.body = json::serialize(json::object{{"code", code}, {"message", message}});
  return res;
}

http::Response text(std::string body) {
  http::Response res;
  res.content_type = "text/plain; charset=UTF-8";
  res.headers.push_back({"cache-control", "no-store"});
  res.body = std::move(body);
  return res;
}

// A session id is the key to a polling session's messages: 120 random bits, URL-safe.
std::string new_session_id() {
  unsigned char bytes[15];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("RAND_bytes failed");
  std::string id = base64_encode(std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
  for (char& c : id) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return id;
}

enum class Closer { client, server };

constexpr auto kUpgradeWait = std::chrono::milliseconds(100);

}  // namespace

class SessionImpl;

struct Server::State {
  State(asio::any_io_executor ex, Options opts, Listener& l) : executor(std::move(ex)), options(opts), listener(l) {}

  asio::any_io_executor executor;
  const Options options;
  Listener& listener;
  mutable std::mutex mu;
  std::unordered_map<std::string, std::shared_ptr<SessionImpl>> sessions;

  std::shared_ptr<SessionImpl> find(std::string_view sid) {
    std::lock_guard lock(mu);
    auto it = sessions.find(std::string(sid));
    return it == sessions.end() ? nullptr : it->second;
  }
  void remove(const std::string& sid) {
    std::lock_guard lock(mu);
    sessions.erase(sid);
  }
  std::string open_packet(const std::string& sid, bool can_upgrade) const {
    json::array upgrades;
    if (can_upgrade) upgrades.emplace_back("websocket");
    return json::serialize(json::object{{"sid", sid},
                                        {"upgrades", std::move(upgrades)},
                                        {"pingInterval", options.ping_interval.count()},
                                        {"pingTimeout", options.ping_timeout.count()},
                                        {"maxPayload", options.max_payload}});
  }
};

class SessionImpl final : public Session, public std::enable_shared_from_this<SessionImpl> {
 public:
  SessionImpl(std::shared_ptr<Server::State> server, std::string id, Handshake handshake)
      : server_(std::move(server)),
        id_(std::move(id)),
        handshake_(std::move(handshake)),
        ping_timer_(server_->executor) {}

  const std::string& id() const override { return id_; }
  const Handshake& handshake() const override { return handshake_; }

  bool send(std::string data, bool binary) override {
    return send_packet({PacketType::message, std::move(data), binary});
  }
  bool send_frame(const http::SharedMessage& frame, bool binary) override {
    std::unique_lock lock(mu_);
    if (closed_) return false;
    if (ws_) return ws_->send(frame, binary);
    lock.unlock();
    // Polling: the outbox holds packets, the frame without its type digit (a binary frame is
    // the message itself).
    return send_packet({PacketType::message, binary ? *frame : frame->substr(1), binary});
  }
  void close() override { close_as(Closer::server, "server close"); }

  // --- transports ---------------------------------------------------------------------------

  void attach_websocket(std::shared_ptr<http::WebSocketConnection> ws) {
    std::lock_guard lock(mu_);
    ws_ = std::move(ws);
  }
  bool uses_websocket() const {
    std::lock_guard lock(mu_);
    return ws_ != nullptr;
  }
  bool is_active(const http::WebSocketConnection* ws) const {
    std::lock_guard lock(mu_);
    return ws_.get() == ws;
  }

  // A WebSocket offered as the new transport of a polling session: taken as the probe unless the
  // session is closed, already upgraded or being probed.
  bool begin_probe(const std::shared_ptr<http::WebSocketConnection>& ws) {
    std::lock_guard lock(mu_);
    if (closed_ || ws_ || probe_) return false;
    probe_ = ws;
    return true;
  }
  // "2probe" arrived on the probe: a pending poll ends with a noop so that the client can pause
  // polling and complete the upgrade.
  void probe_answered() {
    std::lock_guard lock(mu_);
    upgrading_ = true;
    wake_poll();
  }
  // "5": the probe becomes the transport; what waited for a poll goes over it.
  bool complete_upgrade(const http::WebSocketConnection* ws) {
    std::lock_guard lock(mu_);
    if (closed_ || !upgrading_ || probe_.get() != ws) return false;
    ws_ = std::move(probe_);
    upgrading_ = false;
    for (Packet& p : outbox_) ws_->send(encode_frame(p), p.binary);
    outbox_.clear();
    outbox_bytes_ = 0;
    wake_poll();
    return true;
  }
  void probe_failed(const http::WebSocketConnection* ws) {
    std::lock_guard lock(mu_);
    if (probe_.get() != ws) return;
    probe_.reset();
    upgrading_ = false;
  }

  // GET with sid: the packets waiting, or the first that arrives.
  asio::awaitable<http::Response> poll() {
    if (pong_overdue()) co_return bad_request(1, "Session ID unknown");
    {
      std::unique_lock lock(mu_);
      if (closed_ && closer_ == Closer::client && !farewell_polled_) {
        // The client closed with a POST while this poll was on its way: it ends with the noop it
        // would have got had it arrived first (engine.io's order), the next one with 400.
        farewell_polled_ = true;
        co_return text(encode_payload({{PacketType::noop, {}, false}}));
      }
      if (closed_ || ws_) co_return bad_request(3, "Bad request");
      if (polling_) {
        // A second poll while one waits: the client is broken (engine.io closes such sessions).
        lock.unlock();
        close_as(Closer::server, "duplicate poll");
        co_return bad_request(3, "Bad request");
      }
      polling_ = true;
    }
    bool waited_for_upgrade = false;
    for (;;) {
      std::shared_ptr<asio::steady_timer> waiter;
      {
        std::lock_guard lock(mu_);
        // While an upgrade is under way, a poll waits a moment for it (engine.io writes a noop
        // to polling every 100 ms meanwhile): then it ends with a noop, or with 400 when the
        // WebSocket took over.
        if (!closed_ && !ws_ && outbox_.empty() && !(upgrading_ && waited_for_upgrade)) {
          const auto until = upgrading_ ? std::chrono::steady_clock::now() + kUpgradeWait
                                        : asio::steady_timer::time_point::max();
          waited_for_upgrade = upgrading_;
          waiter = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor, until);
          poll_waiter_ = waiter;
        }
      }
      if (!waiter) break;
      // Bounded: a ping (or the close after its timeout) arrives within ping_interval +
      // ping_timeout. A cancelled request (the dispatcher's timeout) ends the wait too.
      co_await waiter->async_wait(use_tuple);
      const auto cancelled = (co_await asio::this_coro::cancellation_state).cancelled();
      if (cancelled != asio::cancellation_type::none) break;
    }
    std::lock_guard lock(mu_);
    polling_ = false;
    poll_waiter_.reset();
    farewell_polled_ = true;
    if (ws_ && !closed_) co_return bad_request(3, "Bad request");  // upgraded meanwhile
    std::vector<Packet> packets = std::move(outbox_);
    outbox_.clear();
    outbox_bytes_ = 0;
    if (closed_) packets.push_back({closer_ == Closer::client ? PacketType::noop : PacketType::close, {}, false});
    else if (packets.empty()) packets.push_back({PacketType::noop, {}, false});
    co_return text(encode_payload(packets));
  }

  // POST with sid: the client's packets, handled in order.
  asio::awaitable<http::Response> receive_payload(std::string_view body) {
    if (pong_overdue()) co_return bad_request(1, "Session ID unknown");
    {
      std::lock_guard lock(mu_);
      if (closed_ || ws_ || posting_) co_return bad_request(3, "Bad request");
      posting_ = true;
    }
    auto packets = decode_payload(body);
    bool ok = packets.has_value();
    if (ok) {
      for (Packet& p : *packets) {
        ok = co_await handle(std::move(p));
        if (!ok) break;
      }
    }
    {
      std::lock_guard lock(mu_);
      posting_ = false;
    }
    if (!ok) {
      close_as(Closer::server, "parse error");
      co_return bad_request(3, "Bad request");
    }
    http::Response res = text("ok");
    res.content_type = "text/html";
    co_return res;
  }

  // A frame on the session's WebSocket transport.
  asio::awaitable<void> receive_frame(std::string frame, bool binary) {
    auto packet = decode_frame(frame, binary);
    bool ok = false;
    // (Not `packet && co_await …`: g++ 12 miscompiles co_await inside && and ||.)
    if (packet) ok = co_await handle(std::move(*packet));
    if (!ok) close_as(Closer::server, "parse error");
  }

  // --- heartbeat and close ------------------------------------------------------------------

  void start_heartbeat() {
    std::lock_guard lock(mu_);
    if (!closed_) schedule_ping();
  }

  void close_as(Closer closer, std::string_view reason) {
    std::shared_ptr<http::WebSocketConnection> ws, probe;
    {
      std::lock_guard lock(mu_);
      if (closed_) return;
      closed_ = true;
      closer_ = closer;
      ws = std::move(ws_);
      probe = std::move(probe_);
      wake_poll();
      ++heartbeat_generation_;
      ping_timer_.cancel();
    }
    if (ws) ws->close();
    if (probe) probe->close();
    if (closer == Closer::client && !ws) {
      // Found for a moment longer, for the poll that may be on its way (see poll()).
      auto timer = std::make_shared<asio::steady_timer>(server_->executor, kUpgradeWait);
      timer->async_wait([timer, self = shared_from_this()](const boost::system::error_code&) {
        self->server_->remove(self->id_);
      });
    } else {
      server_->remove(id_);
    }
    server_->listener.on_close(shared_from_this(), reason);
  }

  bool closed() const {
    std::lock_guard lock(mu_);
    return closed_;
  }

 private:
  // One packet from the client, whichever transport brought it. False: a protocol error.
  asio::awaitable<bool> handle(Packet packet) {
    switch (packet.type) {
      case PacketType::message:
        co_return co_await server_->listener.on_message(shared_from_this(), std::move(packet.data), packet.binary);
      case PacketType::pong:
        pong();
        co_return true;
      case PacketType::ping:  // clients of protocol 4 do not ping; answer anyway
        send_packet({PacketType::pong, std::move(packet.data), false});
        co_return true;
      case PacketType::close:
        close_as(Closer::client, "transport close");
        co_return true;
      case PacketType::noop:
      case PacketType::upgrade:
        co_return true;
      case PacketType::open:
        co_return false;
    }
    co_return false;
  }

  bool send_packet(Packet packet) {
    std::unique_lock lock(mu_);
    if (closed_) return false;
    if (ws_) return ws_->send(encode_frame(packet), packet.binary);
    outbox_bytes_ += packet.data.size() + 1;
    if (outbox_bytes_ > server_->options.max_buffered_bytes) {
      lock.unlock();
      spdlog::warn("engine.io session closed: its client stopped polling with {} bytes waiting", outbox_bytes_);
      close_as(Closer::server, "buffer full");
      return false;
    }
    outbox_.push_back(std::move(packet));
    wake_poll();
    return true;
  }

  // Under mu_. The waiting poll's timer runs on its connection's strand: cancelled there.
  void wake_poll() {
    if (auto waiter = poll_waiter_) {
      asio::post(waiter->get_executor(), [waiter] { waiter->cancel(); });
      poll_waiter_.reset();
    }
  }

  // A pong that was awaited: the next ping is due ping_interval from now.
  void pong() {
    std::lock_guard lock(mu_);
    if (closed_ || !awaiting_pong_) return;
    schedule_ping();
  }

  // The heartbeat's timer may run late on a busy machine; a request arriving after the pong was
  // due finds the session closed all the same, as the timer would have left it.
  bool pong_overdue() {
    bool overdue;
    {
      std::lock_guard lock(mu_);
      overdue = !closed_ && std::chrono::steady_clock::now() >= pong_due_;
    }
    if (overdue) close_as(Closer::server, "ping timeout");
    return overdue;
  }

  // The heartbeat: ping every ping_interval (counted from the last pong), close when a pong is
  // ping_timeout late. One timer and a callback per session, no strand and no coroutine: the
  // state lives under mu_ (which also keeps the timer's calls apart), and a session that idles for
  // hours holds only the timer's pending wait.
  //
  // Under mu_.
  void schedule_ping() {
    const Options& o = server_->options;
    pong_due_ = std::chrono::steady_clock::now() + o.ping_interval + o.ping_timeout;
    awaiting_pong_ = false;
    arm_heartbeat(o.ping_interval);
  }
  // Under mu_. A wait that fires after it was replaced (its completion already queued when the
  // timer was re-armed) finds another generation and does nothing.
  void arm_heartbeat(std::chrono::milliseconds after) {
    const std::uint64_t generation = ++heartbeat_generation_;
    ping_timer_.expires_after(after);
    ping_timer_.async_wait([self = shared_from_this(), generation](const boost::system::error_code& ec) {
      if (!ec) self->heartbeat_due(generation);
    });
  }
  void heartbeat_due(std::uint64_t generation) {
    std::unique_lock lock(mu_);
    if (closed_ || generation != heartbeat_generation_) return;
    if (awaiting_pong_) {
      lock.unlock();
      close_as(Closer::server, "ping timeout");
      return;
    }
    awaiting_pong_ = true;
    arm_heartbeat(server_->options.ping_timeout);
    lock.unlock();
    send_packet({PacketType::ping, {}, false});
  }

  const std::shared_ptr<Server::State> server_;
  const std::string id_;
  const Handshake handshake_;

  mutable std::mutex mu_;
  std::shared_ptr<http::WebSocketConnection> ws_;     // set: the WebSocket is the transport
  std::shared_ptr<http::WebSocketConnection> probe_;  // a WebSocket being probed for the upgrade
  bool upgrading_ = false;
  std::vector<Packet> outbox_;  // polling: waiting for the next GET
  std::size_t outbox_bytes_ = 0;
  std::shared_ptr<asio::steady_timer> poll_waiter_;
  bool polling_ = false;
  bool posting_ = false;
  bool closed_ = false;
  Closer closer_ = Closer::server;
  bool farewell_polled_ = false;  // a poll saw the end of a session the client closed
  asio::steady_timer::time_point pong_due_ = asio::steady_timer::time_point::max();
  asio::steady_timer ping_timer_;  // the heartbeat's; its calls under mu_
  std::uint64_t heartbeat_generation_ = 0;
  bool awaiting_pong_ = false;
};

namespace {

// A WebSocket at the Engine.IO path: a session of its own (no sid), or the probe, then the
// transport, of a polling session.
class WebSocketTransport final : public http::WebSocketHandler {
 public:
  WebSocketTransport(std::shared_ptr<Server::State> server, Handshake handshake)
      : server_(std::move(server)), handshake_(std::move(handshake)) {}
  WebSocketTransport(std::shared_ptr<Server::State> server, std::shared_ptr<SessionImpl> polling)
      : server_(std::move(server)), session_(std::move(polling)), probing_(true) {}

  void on_open(std::shared_ptr<http::WebSocketConnection> connection) override {
    connection_ = std::move(connection);
    if (probing_) {
      // Another WebSocket for a session that has one, or is being probed: closed at once.
      if (!session_->begin_probe(connection_)) connection_->close();
      return;
    }
    session_ = std::make_shared<SessionImpl>(server_, new_session_id(), std::move(handshake_));
    session_->attach_websocket(connection_);
    {
      std::lock_guard lock(server_->mu);
      server_->sessions.emplace(session_->id(), session_);
    }
    connection_->send(encode_frame({PacketType::open, server_->open_packet(session_->id(), false), false}), false);
    session_->start_heartbeat();
    server_->listener.on_open(session_);
  }

  asio::awaitable<void> on_message(std::string message, bool binary) override {
    if (!probing_) {
      co_await session_->receive_frame(std::move(message), binary);
      co_return;
    }
    if (!binary && message == "2probe") {
      // On the wire before the next frame is read: once "5" completes the upgrade, a poll on
      // another connection is answered 400 at once, and a client that reads that 400 first
      // would take a late "3probe" for the first message of the upgraded session.
      const bool answered = co_await connection_->send_flushed("3probe", false);
      if (answered) session_->probe_answered();
    } else if (!binary && message == "5" && session_->complete_upgrade(connection_.get())) {
      probing_ = false;
    } else {
      connection_->close();
    }
  }

  void on_closed() override {
    if (!session_) return;
    if (probing_) session_->probe_failed(connection_.get());
    else if (session_->is_active(connection_.get())) session_->close_as(Closer::client, "transport close");
  }

 private:
  std::shared_ptr<Server::State> server_;
  Handshake handshake_;
  std::shared_ptr<SessionImpl> session_;
  std::shared_ptr<http::WebSocketConnection> connection_;
  bool probing_ = false;
};

// EIO=4 and the transport the request came by; false answers 400 (engine.io's codes).
std::optional<http::Response> check_query(const http::Request& req, std::string_view transport) {
  const auto eio = req.query("EIO");
  if (!eio || *eio != "4") return bad_request(5, "Unsupported protocol version");
  const auto t = req.query("transport");
  if (!t || *t != transport) return bad_request(0, "Transport unknown");
  return std::nullopt;
}

Handshake handshake_of(const http::Request& req) {
  Handshake h;
  if (auto a = req.header("authorization")) h.authorization = std::string(*a);
  h.query = req.query_string;
  h.remote_address = req.remote_address;
  return h;
}

}  // namespace

Server::Server(asio::any_io_executor executor, Options options, Listener& listener)
    : state_(std::make_shared<State>(std::move(executor), options, listener)) {}

Server::~Server() { close_all(); }

asio::awaitable<http::Response> Server::handle_polling(const http::Request& req) {
  if (auto refused = check_query(req, "polling")) co_return std::move(*refused);
  const auto sid = req.query("sid");
  if (!sid) {
    if (req.method != "GET") co_return bad_request(2, "Bad handshake method");
    auto session = std::make_shared<SessionImpl>(state_, new_session_id(), handshake_of(req));
    {
      std::lock_guard lock(state_->mu);
      state_->sessions.emplace(session->id(), session);
    }
    session->start_heartbeat();
    state_->listener.on_open(session);
    co_return text(encode_payload({{PacketType::open, state_->open_packet(session->id(), true), false}}));
  }
  auto session = state_->find(*sid);
  if (!session) co_return bad_request(1, "Session ID unknown");
  if (req.method == "GET") co_return co_await session->poll();
  if (req.method == "POST") {
    if (req.body.size() > state_->options.max_payload) {
      session->close_as(Closer::server, "payload too large");
      http::Response res = bad_request(3, "Bad request");
      res.status = 413;
      co_return res;
    }
    co_return co_await session->receive_payload(req.body);
  }
  co_return bad_request(2, "Bad request method");
}

http::UpgradeDecision Server::handle_upgrade(const http::Request& req) {
  if (auto refused = check_query(req, "websocket")) return std::move(*refused);
  const auto sid = req.query("sid");
  if (!sid) return std::make_shared<WebSocketTransport>(state_, handshake_of(req));
  auto session = state_->find(*sid);
  if (!session) return bad_request(1, "Session ID unknown");
  return std::make_shared<WebSocketTransport>(state_, std::move(session));
}

void Server::close_all() {
  std::vector<std::shared_ptr<SessionImpl>> all;
  {
    std::lock_guard lock(state_->mu);
    for (auto& [id, s] : state_->sessions) all.push_back(s);
  }
  for (auto& s : all) s->close_as(Closer::server, "server shutting down");
}

std::size_t Server::session_count() const {
  std::lock_guard lock(state_->mu);
  return state_->sessions.size();
}

}  // namespace aas::realtime::engineio
