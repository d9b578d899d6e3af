#include "realtime/socketio/server.hpp"

#include "realtime/socketio/packet.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/object.hpp>
#include <openssl/rand.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

namespace aas::realtime::socketio {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

std::string new_socket_id() {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  unsigned char bytes[20];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("RAND_bytes failed");
  std::string id;
  for (unsigned char b : bytes) id.push_back(kAlphabet[b & 63]);
  return id;
}

// The packet and binary messages of an event or ack.
void send_packet(engineio::Session& session, const Packet& packet, const std::vector<std::string>& attachments) {
  session.send(encode(packet), false);
  for (const std::string& bytes : attachments) session.send(bytes, true);
}

// A broadcast's Engine.IO frames, encoded once and shared by every socket it goes to.
struct SharedFrames {
  http::SharedMessage packet;
  std::vector<http::SharedMessage> attachments;

  SharedFrames(const Packet& p, const std::vector<std::string>& bytes) {
    std::string frame(1, '4');  // Engine.IO's message type
    encode_to(p, frame);
    packet = std::make_shared<const std::string>(std::move(frame));
    attachments.reserve(bytes.size());
    for (const std::string& b : bytes) attachments.push_back(std::make_shared<const std::string>(b));
  }
  void send(engineio::Session& session) const {
    session.send_frame(packet, false);
    for (const auto& a : attachments) session.send_frame(a, true);
  }
};

// Takes the arguments over (an answer's every delta passes here: no copy of them).
Packet event_packet(const std::string& nsp, std::string_view event, Message& m) {
  Packet p;
  p.type = m.attachments.empty() ? PacketType::event : PacketType::binary_event;
  p.nsp = nsp;
  p.attachments = m.attachments.size();
  json::array data;
  data.reserve(m.args.size() + 1);
  data.emplace_back(event);
  for (auto& a : m.args) data.push_back(std::move(a));
  p.data = std::move(data);
  return p;
}

// A token bucket; refill per second, up to `burst`.
struct RateLimit {
  double rate = 0, burst = 0, tokens = 0;
  std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
  int refused_in_a_row = 0;

  bool take() {
    if (rate <= 0) return true;
    const auto now = std::chrono::steady_clock::now();
    tokens = std::min(burst, tokens + rate * std::chrono::duration<double>(now - last).count());
    last = now;
    if (tokens < 1) {
      ++refused_in_a_row;
      return false;
    }
    tokens -= 1;
    refused_in_a_row = 0;
    return true;
  }
};

}  // namespace

class SocketImpl;
class NamespaceImpl;

// One engine session's sockets (one per namespace it joined) and its half-received binary packet.
struct Client {
  std::shared_ptr<engineio::Session> session;
  std::mutex mu;
  std::map<std::string, std::shared_ptr<SocketImpl>> sockets;  // by namespace
  std::optional<Packet> partial;                                // a binary packet awaiting attachments
  std::vector<std::string> partial_attachments;
  bool ever_connected = false;
  bool closed = false;
  // Closes a client that joins no namespace in time; dropped once it joins one (an idle socket
  // keeps no timer of this layer). Under mu.
  std::optional<asio::steady_timer> connect_timer;
};

struct Server::State {
  State(asio::any_io_executor ex, Options o) : executor(std::move(ex)), options(o) {}
  asio::any_io_executor executor;
  const Options options;
  std::map<std::string, std::unique_ptr<NamespaceImpl>> namespaces;  // fixed once serving
  std::atomic<Relay*> relay{nullptr};
  mutable std::mutex mu;
  std::unordered_map<std::string, std::shared_ptr<Client>> clients;  // by engine session id

  std::shared_ptr<Client> client_of(const std::string& sid) {
    std::lock_guard lock(mu);
    auto it = clients.find(sid);
    return it == clients.end() ? nullptr : it->second;
  }
};

class SocketImpl final : public Socket, public std::enable_shared_from_this<SocketImpl> {
 public:
  SocketImpl(NamespaceImpl& ns, std::shared_ptr<Client> client, json::object auth, const Options& options)
      : ns_(ns), client_(std::move(client)), id_(new_socket_id()), auth_(std::move(auth)) {
    limit_.rate = options.events_per_second;
    limit_.burst = options.event_burst;
    limit_.tokens = options.event_burst;
  }

  const std::string& id() const override { return id_; }
  const std::string& nsp() const override;
  const json::object& auth() const override { return auth_; }
  void release_auth() override {
    std::lock_guard lock(mu_);
    auth_ = json::object();
  }
  const engineio::Handshake& handshake() const override { return client_->session->handshake(); }
  void set_user(std::string user_id) override {
    std::lock_guard lock(mu_);
    user_ = std::move(user_id);
  }
  std::string user() const override {
    std::lock_guard lock(mu_);
    return user_;
  }
  void on(std::string event, EventHandler handler) override {
    std::lock_guard lock(mu_);
    handlers_[std::move(event)] = std::move(handler);
  }
  std::uint64_t on_disconnect(std::function<void(std::string_view)> handler) override {
    std::lock_guard lock(mu_);
    disconnect_handlers_.emplace_back(++last_handler_, std::move(handler));
    return last_handler_;
  }
  void off_disconnect(std::uint64_t handler) override {
    std::lock_guard lock(mu_);
    std::erase_if(disconnect_handlers_, [handler](const auto& h) { return h.first == handler; });
    if (disconnect_handlers_.empty()) disconnect_handlers_.shrink_to_fit();
  }
  bool emit(std::string_view event, Message message) override {
    if (!connected()) return false;
    send_packet(*client_->session, event_packet(nsp(), event, message), message.attachments);
    return true;
  }
  bool emit_serialized(std::string_view event, std::string_view args_json) override {
    if (!connected()) return false;
    std::string frame(1, '4');  // Engine.IO's message type
    frame.reserve(16 + nsp().size() + event.size() + args_json.size());
    encode_event_to(frame, nsp(), event, args_json);
    return client_->session->send_frame(std::make_shared<const std::string>(std::move(frame)), false);
  }
  void join(std::string room) override;
  void leave(const std::string& room) override;
  bool connected() const override {
    std::lock_guard lock(mu_);
    return connected_;
  }
  void disconnect() override;

  // Sends a broadcast's frames, encoded once for all its sockets, if still connected.
  void deliver(const SharedFrames& frames) {
    if (connected()) frames.send(*client_->session);
  }

  void mark_connected() {
    std::lock_guard lock(mu_);
    connected_ = true;
  }

  // The socket leaves: rooms, handlers. Once.
  void closed(std::string_view reason);

  // An event from the client.
  void dispatch(Packet packet, std::vector<std::string> attachments) {
    json::array data = std::move(packet.data.as_array());
    Ack ack;
    if (packet.id) {
      ack = [self = shared_from_this(), id = *packet.id, done = std::make_shared<std::atomic<bool>>(false)](Message m) {
        if (done->exchange(true) || !self->connected()) return;
        Packet p;
        p.type = m.attachments.empty() ? PacketType::ack : PacketType::binary_ack;
        p.nsp = self->nsp();
        p.id = id;
        p.attachments = m.attachments.size();
        p.data = std::move(m.args);
        send_packet(*self->client_->session, p, m.attachments);
      };
    }
    EventHandler handler;
    bool allowed = false, flooding = false;
    {
      std::lock_guard lock(mu_);
      allowed = limit_.take();
      // A whole burst refused in a row: not a burst any more but a flood.
      flooding = !allowed && limit_.refused_in_a_row > std::max(1.0, limit_.burst);
      if (allowed && data.front().is_string())
        if (auto it = handlers_.find(std::string(data.front().as_string())); it != handlers_.end()) handler = it->second;
    }
    if (flooding) {
      spdlog::warn("socket.io: a socket of user {} was disconnected for flooding events", user());
      disconnect();
      return;
    }
    if (!allowed) {
      if (ack)
        ack({json::array{json::object{
                 {"error", json::object{{"code", "rate_limited"}, {"message", "too many events; slow down"}}}}},
             {}});
      return;
    }
    if (!handler) return;  // an event nobody listens to, as in socket.io
    Message m;
    data.erase(data.begin());  // the event's name
    m.args = std::move(data);
    m.attachments = std::move(attachments);
    handler(shared_from_this(), std::move(m), ack);
  }

 private:
  NamespaceImpl& ns_;
  std::shared_ptr<Client> client_;
  const std::string id_;
  json::object auth_;  // emptied by release_auth()
  mutable std::mutex mu_;
  std::string user_;
  std::map<std::string, EventHandler> handlers_;
  std::vector<std::pair<std::uint64_t, std::function<void(std::string_view)>>> disconnect_handlers_;
  std::uint64_t last_handler_ = 0;
  std::set<std::string> rooms_;
  RateLimit limit_;
  bool connected_ = false;
  bool closed_ = false;

  friend class NamespaceImpl;
};

// Writes one broadcast to its sockets, on as many threads as are free: the caller and the I/O
// threads it asks for help. Why: a write to a socket is a sendmsg (≈ 7-8 µs over loopback here,
// the receiving side's TCP included), so one thread takes ~10 ms for a room of 1,000 sockets, and
// on a busy machine a thread doing that is preempted mid-way, leaving the rest of the room waiting
// a scheduler slice or more. The sockets are claimed in chunks from one counter (a helper that
// comes too late finds none and returns); the caller writes chunks too and returns only once every
// chunk is written, so what the caller sends next (ai:done after its ai-message) still reaches
// each socket after this broadcast, as from one thread. No helper is waited for that has not
// started: a busy or stopped executor only makes the caller do the whole room itself.
class FanOut final : public std::enable_shared_from_this<FanOut> {
 public:
  FanOut(std::vector<std::shared_ptr<SocketImpl>> targets, SharedFrames frames)
      : targets_(std::move(targets)), frames_(std::move(frames)) {}

  void run(const asio::any_io_executor& helpers) {
    const std::size_t chunks = (targets_.size() + kChunk - 1) / kChunk;
    if (chunks > 1) {
      const std::size_t asked = std::min<std::size_t>(chunks - 1, std::max(1u, std::thread::hardware_concurrency()));
      for (std::size_t i = 0; i < asked; ++i) asio::post(helpers, [self = shared_from_this()] { self->work(); });
    }
    work();
    // Every chunk is claimed now; wait for those other threads are still writing.
    for (std::size_t d = done_.load(std::memory_order_acquire); d != targets_.size(); d = done_.load(std::memory_order_acquire))
      done_.wait(d, std::memory_order_acquire);
  }

 private:
  // Up to kChunk sockets of a chunk are written in a row: small enough for three threads to share
  // a room of a few hundred, large enough that claiming costs nothing beside the writes.
  static constexpr std::size_t kChunk = 64;

  void work() {
    for (;;) {
      const std::size_t first = next_.fetch_add(kChunk, std::memory_order_relaxed);
      if (first >= targets_.size()) return;
      const std::size_t last = std::min(first + kChunk, targets_.size());
      for (std::size_t i = first; i < last; ++i) targets_[i]->deliver(frames_);
      if (done_.fetch_add(last - first, std::memory_order_acq_rel) + (last - first) == targets_.size()) done_.notify_all();
    }
  }

  const std::vector<std::shared_ptr<SocketImpl>> targets_;
  const SharedFrames frames_;
  std::atomic<std::size_t> next_{0};
  std::atomic<std::size_t> done_{0};
};

class NamespaceImpl final : public Namespace {
 public:
  NamespaceImpl(Server::State& server, std::string name) : server_(server), name_(std::move(name)) {}

  const std::string& name() const { return name_; }
  void use(Middleware middleware) override { middlewares_.push_back(std::move(middleware)); }
  void on_connection(std::function<void(const std::shared_ptr<Socket>&)> handler) override {
    connection_handlers_.push_back(std::move(handler));
  }

  void broadcast(std::string_view event, Message message, const Broadcast& to) override {
    const Packet packet = event_packet(name_, event, message);
    deliver(packet, message.attachments, to);
    if (to.local) return;
    if (Relay* relay = server_.relay.load()) relay->publish(packet, message.attachments, to);
  }

  void deliver(const Packet& packet, const std::vector<std::string>& attachments, const Broadcast& to) {
    std::vector<std::shared_ptr<SocketImpl>> targets;
    {
      std::lock_guard lock(mu_);
      std::set<SocketImpl*> excluded;
      for (const auto& room : to.except) members(room, [&](SocketImpl* s) { excluded.insert(s); });
      const auto add = [&](SocketImpl* s) {
        if (!excluded.count(s)) targets.push_back(s->shared_from_this());
      };
      if (to.rooms.empty()) {
        for (const auto& [id, s] : sockets_) add(s.get());
      } else if (to.rooms.size() == 1) {
        members(to.rooms.front(), add);  // a room holds each socket once
      } else {
        std::set<SocketImpl*> chosen;
        for (const auto& room : to.rooms) members(room, [&](SocketImpl* s) { chosen.insert(s); });
        for (SocketImpl* s : chosen) add(s);
      }
    }
    if (targets.empty()) return;
    // One encoding and one buffer for the whole room: a user's ai-message carries the answer,
    // and a room may hold many sockets.
    auto fan_out = std::make_shared<FanOut>(std::move(targets), SharedFrames(packet, attachments));
    fan_out->run(server_.executor);
  }

  // CONNECT from a client: middlewares, then the socket joins (its own id is its first room).
  asio::awaitable<void> connect(std::shared_ptr<Client> client, json::object auth) {
    auto socket = std::make_shared<SocketImpl>(*this, client, std::move(auth), server_.options);
    for (const Middleware& m : middlewares_) {
      std::optional<ConnectRefusal> refusal = co_await m(socket);
      if (refusal) {
        Packet p;
        p.type = PacketType::connect_error;
        p.nsp = name_;
        json::object err{{"message", refusal->message}};
        if (!refusal->data.is_null()) err["data"] = refusal->data;
        p.data = std::move(err);
        client->session->send(encode(p), false);
        co_return;
      }
    }
    {
      std::lock_guard lock(client->mu);
      // Gone while the middlewares ran, or a second CONNECT while connected (ignored).
      if (client->closed || client->sockets.count(name_)) co_return;
      client->sockets[name_] = socket;
      client->ever_connected = true;
      client->connect_timer.reset();
    }
    {
      std::lock_guard lock(mu_);
      sockets_[socket->id()] = socket;
    }
    socket->mark_connected();
    Packet p;
    p.type = PacketType::connect;
    p.nsp = name_;
    p.data = json::object{{"sid", socket->id()}};
    client->session->send(encode(p), false);
    for (const auto& h : connection_handlers_) h(socket);
  }

  void join(SocketImpl& s, std::string room) {
    std::lock_guard lock(mu_);
    rooms_[std::move(room)].insert(&s);
  }
  void leave(SocketImpl& s, const std::string& room) {
    std::lock_guard lock(mu_);
    if (auto it = rooms_.find(room); it != rooms_.end()) {
      it->second.erase(&s);
      if (it->second.empty()) rooms_.erase(it);
    }
  }
  void remove(SocketImpl& s, const std::set<std::string>& rooms) {
    std::lock_guard lock(mu_);
    sockets_.erase(s.id());
    for (const auto& room : rooms) {
      if (auto it = rooms_.find(room); it != rooms_.end()) {
        it->second.erase(&s);
        if (it->second.empty()) rooms_.erase(it);
      }
    }
  }
  std::size_t size() const {
    std::lock_guard lock(mu_);
    return sockets_.size();
  }

 private:
  Server::State& server_;
  const std::string name_;
  std::vector<Middleware> middlewares_;
  std::vector<std::function<void(const std::shared_ptr<Socket>&)>> connection_handlers_;
  // Under mu_. A room named by a socket's id is that socket (socket.io's implicit room of each
  // socket): f(socket) for each member.
  template <class F>
  void members(const std::string& room, F&& f) {
    if (auto it = rooms_.find(room); it != rooms_.end()) {
      for (SocketImpl* s : it->second) f(s);
    } else if (auto one = sockets_.find(room); one != sockets_.end()) {
      f(one->second.get());
    }
  }

  mutable std::mutex mu_;
  // Keyed by the socket's own id (a view of it: the socket outlives its entry). Its own room is
  // not stored: members() finds it here.
  std::map<std::string_view, std::shared_ptr<SocketImpl>, std::less<>> sockets_;
  std::map<std::string, std::set<SocketImpl*>, std::less<>> rooms_;
};

const std::string& SocketImpl::nsp() const { return ns_.name(); }

void SocketImpl::join(std::string room) {
  if (room == id_) return;  // always in it (see NamespaceImpl::members)
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    rooms_.insert(room);
  }
  ns_.join(*this, std::move(room));
}

void SocketImpl::leave(const std::string& room) {
  {
    std::lock_guard lock(mu_);
    rooms_.erase(room);
  }
  ns_.leave(*this, room);
}

void SocketImpl::closed(std::string_view reason) {
  std::set<std::string> rooms;
  std::vector<std::pair<std::uint64_t, std::function<void(std::string_view)>>> handlers;
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    closed_ = true;
    connected_ = false;
    rooms = std::move(rooms_);
    handlers = std::move(disconnect_handlers_);
    handlers_.clear();  // handlers may hold the socket: break the cycle
  }
  ns_.remove(*this, rooms);
  for (auto& [number, h] : handlers) h(reason);
}

void SocketImpl::disconnect() {
  if (!connected()) return;
  Packet p;
  p.type = PacketType::disconnect;
  p.nsp = nsp();
  client_->session->send(encode(p), false);
  {
    std::lock_guard lock(client_->mu);
    client_->sockets.erase(nsp());
  }
  closed("server namespace disconnect");
}

Server::Server(asio::any_io_executor executor, engineio::Options engine_options, Options options)
    : state_(std::make_shared<State>(executor, options)),
      engine_(std::make_unique<engineio::Server>(executor, engine_options, *this)) {}

Server::~Server() { engine_->close_all(); }

Namespace& Server::of(const std::string& name) {
  auto& ns = state_->namespaces[name];
  if (!ns) ns = std::make_unique<NamespaceImpl>(*state_, name);
  return *ns;
}

engineio::Server& Server::engine() { return *engine_; }

void Server::set_relay(Relay* relay) { state_->relay = relay; }

void Server::deliver(const Packet& packet, const std::vector<std::string>& attachments, const Broadcast& to) {
  auto it = state_->namespaces.find(packet.nsp);
  if (it != state_->namespaces.end()) it->second->deliver(packet, attachments, to);
}

std::size_t Server::socket_count() const {
  std::size_t n = 0;
  for (const auto& [name, ns] : state_->namespaces) n += ns->size();
  return n;
}

void Server::on_open(const std::shared_ptr<engineio::Session>& session) {
  auto client = std::make_shared<Client>();
  client->session = session;
  {
    std::lock_guard lock(state_->mu);
    state_->clients[session->id()] = client;
  }
  // A client that joins no namespace in time is closed (it holds a session for nothing).
  std::lock_guard lock(client->mu);
  client->connect_timer.emplace(state_->executor, state_->options.connect_timeout);
  client->connect_timer->async_wait([weak = std::weak_ptr<Client>(client)](const boost::system::error_code& ec) {
    if (ec) return;
    auto c = weak.lock();
    if (!c) return;
    bool connected;
    {
      std::lock_guard lock(c->mu);
      connected = c->ever_connected;
    }
    if (!connected) c->session->close();
  });
}

asio::awaitable<bool> Server::on_message(const std::shared_ptr<engineio::Session>& session, std::string data,
                                         bool binary) {
  auto client = state_->client_of(session->id());
  if (!client) co_return false;
  std::optional<Packet> packet;
  std::vector<std::string> attachments;
  if (binary) {
    std::lock_guard lock(client->mu);
    if (!client->partial) co_return false;  // bytes nobody announced
    client->partial_attachments.push_back(std::move(data));
    if (client->partial_attachments.size() < client->partial->attachments) co_return true;
    packet = std::move(client->partial);
    client->partial.reset();
    attachments = std::move(client->partial_attachments);
    client->partial_attachments.clear();
  } else {
    packet = decode(data);
    if (!packet) co_return false;
    std::lock_guard lock(client->mu);
    if (client->partial) co_return false;  // a packet before the attachments of the previous one
    if (packet->attachments > 0) {
      client->partial = std::move(packet);
      co_return true;
    }
  }

  switch (packet->type) {
    case PacketType::connect: {
      auto it = state_->namespaces.find(packet->nsp);
      if (it == state_->namespaces.end()) {
        Packet p;
        p.type = PacketType::connect_error;
        p.nsp = packet->nsp;
        p.data = json::object{{"message", "Invalid namespace"}};
        session->send(encode(p), false);
        co_return true;
      }
      json::object auth = packet->data.is_object() ? std::move(packet->data.as_object()) : json::object{};
      co_await it->second->connect(client, std::move(auth));
      co_return true;
    }
    case PacketType::disconnect: {
      std::shared_ptr<SocketImpl> socket;
      {
        std::lock_guard lock(client->mu);
        if (auto it = client->sockets.find(packet->nsp); it != client->sockets.end()) {
          socket = it->second;
          client->sockets.erase(it);
        }
      }
      if (socket) socket->closed("client namespace disconnect");
      co_return true;
    }
    case PacketType::event:
    case PacketType::binary_event: {
      std::shared_ptr<SocketImpl> socket;
      {
        std::lock_guard lock(client->mu);
        if (auto it = client->sockets.find(packet->nsp); it != client->sockets.end()) socket = it->second;
      }
      // An event for a namespace the client has not joined is dropped, as socket.io does.
      if (socket) socket->dispatch(std::move(*packet), std::move(attachments));
      co_return true;
    }
    case PacketType::ack:
    case PacketType::binary_ack:
      co_return true;  // this server asks clients for no acknowledgements
    case PacketType::connect_error:
      co_return false;  // only servers send it
  }
  co_return false;
}

void Server::on_close(const std::shared_ptr<engineio::Session>& session, std::string_view reason) {
  std::shared_ptr<Client> client;
  {
    std::lock_guard lock(state_->mu);
    auto it = state_->clients.find(session->id());
    if (it == state_->clients.end()) return;
    client = std::move(it->second);
    state_->clients.erase(it);
  }
  std::map<std::string, std::shared_ptr<SocketImpl>> sockets;
  {
    std::lock_guard lock(client->mu);
    client->closed = true;
    sockets = std::move(client->sockets);
    client->sockets.clear();
    client->connect_timer.reset();
  }
  for (auto& [nsp, s] : sockets) s->closed(reason);
}

}  // namespace aas::realtime::socketio
