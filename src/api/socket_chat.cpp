// The Socket.IO channel: thin handlers that turn events into the same service calls as the HTTP
// routes (api/chat.cpp) and their results into events.
//   connect      auth.token (or the Authorization header) checked by the HTTP Authenticator;
//                refused: connect_error {message, data: {code}}. The socket joins `user:<id>`.
//   ai:chat      {message, conversationId?, model?, knowledgeBaseIds?} + ack: the turn of a
//                streamed POST /api/ai/chat; ack {conversationId, messageId, userMessageId} (or
//                {error}), then ai:start, ai:citations (when the turn retrieved passages
//                from knowledgeBaseIds), ai:delta…, ai:usage, ai:done | ai:error to this socket,
//                and ai:typing {conversationId, typing} to the user's other sockets meanwhile (only
//                for answers asked over a socket).
//   ai:stop      {conversationId} + ack: ChatService::stop (any replica's stream).
//   ai-message   {conversationId, messageId, status, message?, model?, usage?} to `user:<id>` for
//                every recorded answer (message.completed, see AnnouncingEventBus), whichever way
//                it was asked.
#include "api/api.hpp"
#include "api/stream_gauge.hpp"
#include "api/turn_events.hpp"
#include "auth/authenticator.hpp"
#include "chat/chat_service.hpp"
#include "realtime/event_bus.hpp"
#include "realtime/socketio/server.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <memory>

namespace aas::api {

namespace {

namespace asio = boost::asio;
namespace sio = realtime::socketio;
using SocketPtr = std::shared_ptr<sio::Socket>;

std::string user_room(std::string_view user_id) { return "user:" + std::string(user_id); }

// With the seconds HTTP sends as Retry-After, so a client can count down a 429 as it would over HTTP.
json::object error_json(const Error& e) {
  json::object o{{"code", code_name(e.code)}, {"message", e.message}};
  if (e.retry_after_seconds) o["retryAfter"] = *e.retry_after_seconds;
  return o;
}

sio::Message args(json::value v) { return sio::Message{json::array{std::move(v)}, {}}; }

// Tells the client of a refused event: in the ack when it asked for one, else as ai:error.
void refuse(const SocketPtr& socket, const sio::Ack& ack, const Error& e) {
  if (ack) ack(args(json::object{{"error", error_json(e)}}));
  else socket->emit("ai:error", args(error_json(e)));
}

// The token of the handshake: auth.token, else "Authorization: Bearer <token>".
std::optional<std::string> token_of(const sio::Socket& socket) {
  if (const json::value* t = socket.auth().if_contains("token"); t && t->is_string() && !t->as_string().empty())
    return std::string(t->as_string());
  const std::string& header = socket.handshake().authorization;
  constexpr std::string_view kScheme = "bearer ";
  if (header.size() > kScheme.size() &&
      std::equal(kScheme.begin(), kScheme.end(), header.begin(),
                 [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); }))
    return header.substr(kScheme.size());
  return std::nullopt;
}

// What the handlers keep of an accepted socket's handshake (every idle socket holds one): who it
// is, and the token only when the agent has tools (they call the monolith as the user).
struct SocketUser {
  auth::Principal principal;
  std::string token;
};

// The socket's half of a streamed turn: deltas as ai:delta; gone once the socket disconnected
// (the answer is then recorded as interrupted, as for an SSE client that left).
class SocketRelay final : public chat::TurnObserver {
 public:
  SocketRelay(SocketPtr socket, const std::string& conversation_id, const std::string& message_id,
              const asio::any_io_executor& strand)
      : socket_(std::move(socket)),
        conversation_id_(conversation_id),
        delta_(json::object{{"conversationId", conversation_id}, {"messageId", message_id}, {"text", ""}}, "text"),
        gone_(std::make_shared<Gone>(strand)) {
    watch_ = socket_->on_disconnect([gone = std::weak_ptr<Gone>(gone_)](std::string_view) {
      if (auto g = gone.lock())
        asio::post(g->strand, [g] {
          if (g->tell) std::exchange(g->tell, nullptr)();
        });
    });
  }
  // The socket outlives the turn: its watch goes with the turn (each would keep the timer's
  // memory for the socket's life).
  ~SocketRelay() override { socket_->off_disconnect(watch_); }
  SocketRelay(const SocketRelay&) = delete;
  SocketRelay& operator=(const SocketRelay&) = delete;
  // {conversationId, messageId, text}, its JSON written in place (the hot path of a stream).
  bool delta(std::string_view text) override { return socket_->emit_serialized("ai:delta", delta_.fill(text)); }
  void tool_event(const chat::ToolEvent& e) override {
    auto [name, data] = api::tool_event(e);
    data["conversationId"] = conversation_id_;
    socket_->emit("ai:" + std::string(name), args(std::move(data)));
  }
  // An agent's later step streams into its own answer message: the deltas name that one.
  void next_answer(const std::string& message_id) override {
    delta_ = TextEventTemplate(json::object{{"conversationId", conversation_id_}, {"messageId", message_id}, {"text", ""}},
                               "text");
  }
  void citations(const std::vector<chat::Citation>& all) override {
    json::object data = citations_event(all);
    data["conversationId"] = conversation_id_;
    socket_->emit("ai:citations", args(std::move(data)));
  }
  void on_gone(std::function<void()> f) override {
    if (f && !socket_->connected()) return f();
    gone_->tell = std::move(f);
  }
  bool left() const override { return !socket_->connected(); }

 private:
  SocketPtr socket_;
  std::string conversation_id_;
  TextEventTemplate delta_;
  // Whom to tell on the turn's strand when the socket disconnects; shared with the socket's
  // watch, which may run after the turn ended.
  struct Gone {
    explicit Gone(asio::any_io_executor s) : strand(std::move(s)) {}
    asio::any_io_executor strand;
    std::function<void()> tell;
  };
  std::shared_ptr<Gone> gone_;
  std::uint64_t watch_ = 0;
};

struct Channel {
  Services& services;
  sio::Namespace& ns;
  asio::any_io_executor executor;  // the I/O threads'
  std::atomic<std::size_t> turns{0};  // chat_turn coroutines running

  struct Running {
    explicit Running(std::atomic<std::size_t>& n) : n_(n) { ++n_; }
    ~Running() { --n_; }
    Running(const Running&) = delete;
    Running& operator=(const Running&) = delete;
    std::atomic<std::size_t>& n_;
  };

  void typing(const SocketPtr& socket, const std::string& user, const std::string& conversation_id, bool on) {
    ns.broadcast("ai:typing", args(json::object{{"conversationId", conversation_id}, {"typing", on}}),
                 sio::Broadcast{{user_room(user)}, {socket->id()}});
  }

  // ai:typing true while this socket's answer is written, false however the turn ends (an
  // exception included): the user's other sockets must not show it typing forever. Only answers
  // asked over a socket type; REST and SSE answers are announced by ai-message alone.
  class Typing {
   public:
    Typing(Channel& channel, SocketPtr socket, std::string user, std::string conversation_id)
        : channel_(channel), socket_(std::move(socket)), user_(std::move(user)), conversation_id_(std::move(conversation_id)) {
      channel_.typing(socket_, user_, conversation_id_, true);
    }
    ~Typing() {
      try {
        channel_.typing(socket_, user_, conversation_id_, false);
      } catch (const std::exception& e) {
        spdlog::warn("ai:typing false not sent: {}", e.what());
      }
    }
    Typing(const Typing&) = delete;
    Typing& operator=(const Typing&) = delete;

   private:
    Channel& channel_;
    SocketPtr socket_;
    std::string user_, conversation_id_;
  };

  asio::awaitable<void> chat_turn(SocketPtr socket, auth::Principal who, chat::TurnInput in, sio::Ack ack) {
    const Running running(turns);
    auto prepared = co_await services.chat.begin(std::move(in), true);
    if (!prepared) {
      refuse(socket, ack, prepared.error());
      co_return;
    }
    const StreamGauge gauge(services.metrics);
    const std::string conversation_id = prepared->conversation.id;
    const std::string message_id = *prepared->placeholder_id;
    if (ack)
      ack(args(json::object{{"conversationId", conversation_id},
                            {"messageId", message_id},
                            {"userMessageId", prepared->user_message_id}}));
    socket->emit("ai:start", args(start_event(*prepared)));
    if (!prepared->citations.empty()) socket->emit("ai:citations", args(citations_event(prepared->citations)));
    std::optional<Result<chat::TurnResult>> result;
    {
      const Typing typing(*this, socket, who.user_id, conversation_id);
      SocketRelay relay(socket, conversation_id, message_id, co_await asio::this_coro::executor);
      result.emplace(co_await services.chat.stream(std::move(*prepared), relay));
    }
    for (auto& [name, data] : end_events(*result, *result ? (*result)->assistant.id : message_id)) {
      data["conversationId"] = conversation_id;
      socket->emit("ai:" + std::string(name), args(std::move(data)));
    }
  }

  void on_chat(const SocketPtr& socket, const auth::Principal& who, const std::string& token, sio::Message m,
               const sio::Ack& ack) {
    const auto bad = [&](std::string message) { refuse(socket, ack, make_error(errc::invalid_request, std::move(message))); };
    if (m.args.empty() || !m.args.front().is_object()) return bad("ai:chat takes an object {message, conversationId?, model?}");
    const json::object& body = m.args.front().as_object();
    if (auto r = allow_only(body, {"message", "conversationId", "model", "knowledgeBaseIds"}); !r)
      return refuse(socket, ack, r.error());
    if (auto r = refuse_nul_text(body); !r) return refuse(socket, ack, r.error());
    auto message = optional_string(body, "message");
    auto conversation_id = optional_string(body, "conversationId");
    auto model = optional_string(body, "model");
    if (!message) return refuse(socket, ack, message.error());
    if (!*message) return bad("'message' is required");
    if (!conversation_id) return refuse(socket, ack, conversation_id.error());
    if (!model) return refuse(socket, ack, model.error());
    auto kb_ids = optional_string_array(body, "knowledgeBaseIds");
    if (!kb_ids) return refuse(socket, ack, kb_ids.error());
    chat::TurnInput in;
    in.user_id = who.user_id;
    in.roles = who.roles;
    in.user_name = who.name;
    in.message = std::move(**message);
    in.conversation_id = std::move(*conversation_id);
    in.model = std::move(*model);
    in.request_id = "socket:" + socket->id();
    in.bearer_token = token;  // the agent's tools act as the user (empty without tools)
    in.knowledge_base_ids = std::move(*kb_ids);
    // On a strand of its own: the relay's timer and the turn's awaits share it.
    asio::co_spawn(asio::make_strand(executor), chat_turn(socket, who, std::move(in), ack), asio::detached);
  }

  void on_stop(const SocketPtr& socket, const auth::Principal& who, sio::Message m, const sio::Ack& ack) {
    const json::value* id = m.args.empty() || !m.args.front().is_object()
                                ? nullptr
                                : m.args.front().as_object().if_contains("conversationId");
    if (!id || !id->is_string())
      return refuse(socket, ack, make_error(errc::invalid_request, "ai:stop takes {conversationId}"));
    asio::co_spawn(
        executor,
        [this, socket, user = who.user_id, conversation_id = std::string(id->as_string()), ack]() -> asio::awaitable<void> {
          auto stopped = co_await services.chat.stop(user, conversation_id);
          if (!stopped) refuse(socket, ack, stopped.error());
          else if (ack) ack(args(json::object{{"conversationId", conversation_id}, {"stopping", true}}));
        },
        asio::detached);
  }
};

// ai-message to the user's room for a recorded answer; only what the event carries.
json::object ai_message(const realtime::Event& e) {
  json::object o{{"conversationId", e.conversation_id}, {"messageId", e.message_id}, {"status", e.status}};
  if (!e.content.empty()) o["message"] = e.content;
  if (!e.model.empty()) o["model"] = e.model;
  if (e.input_tokens || e.output_tokens)
    o["usage"] = json::object{{"inputTokens", e.input_tokens.value_or(0)}, {"outputTokens", e.output_tokens.value_or(0)}};
  return o;
}

}  // namespace

std::function<std::size_t()> add_socketio_handlers(sio::Server& io, Services& s, const auth::Authenticator& authenticator,
                                                   const asio::any_io_executor& executor) {
  sio::Namespace& ns = io.of("/");
  auto channel = std::make_shared<Channel>(s, ns, executor);
  // Authenticates, then (accepted) joins the user's room and listens: the principal stays with
  // the handlers, never taken from what the client sends later.
  // The agent's tools call the monolith with the user's own token: kept only when there are tools.
  const bool keep_token = s.approvals != nullptr;
  ns.use([&authenticator, channel, keep_token](const SocketPtr& socket) -> asio::awaitable<std::optional<sio::ConnectRefusal>> {
    const std::optional<std::string> token = token_of(*socket);
    if (!token)
      co_return sio::ConnectRefusal{"unauthorized: send the token as auth.token (io(url, {auth: {token}}))",
                                    json::object{{"code", "unauthorized"}}};
    // The handshake's auth is not kept by the socket once checked; the token only by the handlers
    // below, and only when the agent needs it.
    socket->release_auth();
    Result<auth::Principal> who = co_await authenticator.authenticate(*token);
    if (!who)
      co_return sio::ConnectRefusal{std::string(code_name(who.error().code)) + ": " + who.error().message,
                                    json::object{{"code", code_name(who.error().code)}}};
    socket->set_user(who->user_id);
    socket->join(user_room(who->user_id));
    // One copy of the principal for both handlers (every idle socket holds them).
    auto user = std::make_shared<const SocketUser>(SocketUser{std::move(*who), keep_token ? *token : std::string()});
    socket->on("ai:chat", [channel, user](const SocketPtr& so, sio::Message m, const sio::Ack& ack) {
      channel->on_chat(so, user->principal, user->token, std::move(m), ack);
    });
    socket->on("ai:stop", [channel, user](const SocketPtr& so, sio::Message m, const sio::Ack& ack) {
      channel->on_stop(so, user->principal, std::move(m), ack);
    });
    co_return std::nullopt;
  });
  return [channel] { return channel->turns.load(); };
}

AnnouncingEventBus::AnnouncingEventBus(realtime::EventBus& inner, sio::Server& io) : inner_(inner), io_(io) {}

void AnnouncingEventBus::publish(const realtime::Event& event) {
  inner_.publish(event);
  if (event.type != "message.completed" || event.user_id.empty()) return;
  io_.of("/").broadcast("ai-message", args(ai_message(event)), sio::Broadcast{{user_room(event.user_id)}, {}});
}

void AnnouncingEventBus::subscribe(Handler handler) { inner_.subscribe(std::move(handler)); }

}  // namespace aas::api
