#include "redis/client.hpp"

#include <boost/url/parse.hpp>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>
#include <poll.h>
#include <sys/socket.h>

#include <charconv>
#include <mutex>
#include <optional>

namespace aas::redis {

namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

Reply copy(const redisReply* r) {
  Reply out;
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_STRING:
      out.type = Reply::Type::string;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = Reply::Type::status;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = Reply::Type::error;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::array;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(copy(r->element[i]));
      break;
    default:
      out.type = Reply::Type::nil;
  }
  return out;
}

using ContextPtr = std::unique_ptr<redisContext, decltype(&redisFree)>;

// Runs one command on `c`. nullopt when the connection broke (the context is then unusable).
std::optional<Reply> run(redisContext* c, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* raw = static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
  if (!raw) return std::nullopt;
  Reply reply = copy(raw);
  freeReplyObject(raw);
  return reply;
}

// A connected, authenticated context on the right database, or why not.
Result<ContextPtr> connect(const Options& o) {
  ContextPtr c(redisConnectWithTimeout(o.host.c_str(), o.port, to_timeval(o.connect_timeout)), &redisFree);
  if (!c) return make_error(errc::unavailable, "redis unavailable", "out of memory");
  if (c->err)
    return make_error(errc::unavailable, "redis unavailable",
                      "connect " + o.host + ":" + std::to_string(o.port) + ": " + c->errstr);
  redisSetTimeout(c.get(), to_timeval(o.command_timeout));
  std::vector<std::vector<std::string>> setup;
  if (!o.password.empty()) {
    if (o.username.empty()) setup.push_back({"AUTH", o.password});
    else setup.push_back({"AUTH", o.username, o.password});
  }
  if (o.database != 0) setup.push_back({"SELECT", std::to_string(o.database)});
  for (const auto& cmd : setup) {
    auto r = run(c.get(), cmd);
    if (!r) return make_error(errc::unavailable, "redis unavailable", std::string(cmd[0]) + ": " + c->errstr);
    // The reply text, never the command: AUTH's carries the password.
    if (r->type == Reply::Type::error)
      return make_error(errc::unavailable, "redis unavailable", cmd[0] + " refused: " + r->str);
  }
  return c;
}

}  // namespace

Result<Options> parse_url(std::string_view url) {
  auto u = boost::urls::parse_uri(url);
  const auto bad = [&](std::string why) {
    return make_error(errc::invalid_request, "REDIS_URL: " + why + " (expected redis://[:password@]host[:port][/db])");
  };
  if (!u) return bad("not a URL");
  if (u->scheme() != "redis") return bad("scheme must be redis:// (TLS is not supported by this build)");
  Options o;
  if (!u->encoded_host().empty()) o.host = u->host();
  if (u->has_port()) {
    const auto p = u->port_number();
    if (p == 0) return bad("bad port");
    o.port = p;
  }
  if (u->has_userinfo()) {
    o.username = u->user();
    o.password = u->password();
  }
  std::string path = u->path();
  if (!path.empty() && path != "/") {
    std::string_view db(path);
    db.remove_prefix(1);
    auto [end, ec] = std::from_chars(db.data(), db.data() + db.size(), o.database);
    if (ec != std::errc() || end != db.data() + db.size() || o.database < 0) return bad("bad database number");
  }
  return o;
}

const std::string& Script::sha1() const {
  std::call_once(sha1_once_, [this] {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(source_.data(), source_.size(), digest, &len, EVP_sha1(), nullptr);
    static constexpr char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < len; ++i) {
      sha1_ += hex[digest[i] >> 4];
      sha1_ += hex[digest[i] & 0xf];
    }
  });
  return sha1_;
}

namespace {

// An idle connection has nothing to read: readable means the server closed it (EOF) or broke the
// protocol; either way it is of no more use.
bool closed_by_peer(const redisContext& c) {
  pollfd p{c.fd, POLLIN, 0};
  return ::poll(&p, 1, 0) != 0;
}

}  // namespace

// Idle connections, and the window in which calls fail fast after a failure.
struct Client::Pool {
  std::mutex mu;
  std::vector<ContextPtr> idle;
  std::chrono::steady_clock::time_point down_until{};
  std::string last_failure;
  std::optional<bool> up;  // as last reported to the observer
};

void Client::availability(bool up) {
  {
    std::lock_guard lock(pool_->mu);
    if (pool_->up == up) return;
    pool_->up = up;
  }
  if (observer_) observer_(up);
}

Client::Client(Options options) : options_(std::move(options)), pool_(std::make_unique<Pool>()) {}

Client::~Client() = default;

Result<Reply> Client::command(const std::vector<std::string>& args) {
  ContextPtr c(nullptr, &redisFree);
  {
    std::lock_guard lock(pool_->mu);
    // An idle connection that the server closed meanwhile (Redis restarted) is dropped here,
    // before a command is written to it: otherwise the first call after an outage fails on it
    // and opens the fail-fast window, and what it carried (a Socket.IO broadcast) is lost
    // although Redis is back. Checked, not retried, so a command never runs twice.
    while (!pool_->idle.empty() && !c) {
      c = std::move(pool_->idle.back());
      pool_->idle.pop_back();
      if (closed_by_peer(*c)) c.reset();
    }
    if (!c && std::chrono::steady_clock::now() < pool_->down_until)
      return make_error(errc::unavailable, "redis unavailable", pool_->last_failure);
  }
  const auto failed = [&](Error e) -> Error {
    {
      std::lock_guard lock(pool_->mu);
      pool_->down_until = std::chrono::steady_clock::now() + options_.retry_after_failure;
      pool_->last_failure = e.detail;
      // The other idle connections went to the same server: drop them too.
      pool_->idle.clear();
    }
    availability(false);
    return e;
  };
  if (!c) {
    auto fresh = connect(options_);
    if (!fresh) return failed(fresh.error());
    c = std::move(*fresh);
  }
  auto reply = run(c.get(), args);
  if (!reply) return failed(make_error(errc::unavailable, "redis unavailable", args[0] + ": " + c->errstr));
  {
    std::lock_guard lock(pool_->mu);
    pool_->down_until = {};
    if (pool_->idle.size() < options_.max_idle_connections) pool_->idle.push_back(std::move(c));
  }
  availability(true);
  if (reply->type == Reply::Type::error)
    return make_error(errc::internal, "redis command failed", args[0] + ": " + reply->str);
  return std::move(*reply);
}

Result<Reply> Client::eval(const Script& script, const std::vector<std::string>& keys,
                           const std::vector<std::string>& args) {
  std::vector<std::string> cmd{"EVALSHA", script.sha1(), std::to_string(keys.size())};
  cmd.insert(cmd.end(), keys.begin(), keys.end());
  cmd.insert(cmd.end(), args.begin(), args.end());
  auto r = command(cmd);
  if (!r && r.error().code == errc::internal && r.error().detail.find("NOSCRIPT") != std::string::npos) {
    cmd[0] = "EVAL";
    cmd[1] = script.source();
    return command(cmd);
  }
  return r;
}

Result<void> Client::ping() {
  {
    // Inside the fail-fast window, this call is the probe that may end it.
    std::lock_guard lock(pool_->mu);
    pool_->down_until = {};
  }
  auto r = command({"PING"});
  if (!r) return r.error();
  return {};
}

Subscriber::Subscriber(Options options, std::vector<std::string> channels, Handler on_message, bool patterns)
    : options_(std::move(options)),
      channels_(std::move(channels)),
      on_message_(std::move(on_message)),
      patterns_(patterns) {
  thread_ = std::thread([this] { run(); });
}

Subscriber::~Subscriber() {
  stopping_ = true;
  // Wakes the thread out of a blocking read: the socket closes under it.
  if (const int fd = fd_.load(); fd >= 0) ::shutdown(fd, SHUT_RDWR);
  thread_.join();
}

void Subscriber::run() {
  bool reported = false;
  while (!stopping_) {
    // Set up (AUTH, SELECT) under the command timeout, so a hung server cannot hold a stop up;
    // then no read timeout: a subscription waits for messages. Keepalive probes notice a server
    // that vanished without closing (else the subscription would wait on a dead socket).
    auto c = connect(options_);
    if (c) {
      redisSetTimeout(c->get(), timeval{0, 0});
      redisEnableKeepAlive(c->get());
      std::vector<std::string> cmd{patterns_ ? "PSUBSCRIBE" : "SUBSCRIBE"};
      cmd.insert(cmd.end(), channels_.begin(), channels_.end());
      fd_ = (*c)->fd;
      if (stopping_) break;  // the destructor may have missed the fd
      bool ok = true;
      {
        std::vector<const char*> argv;
        std::vector<size_t> lens;
        for (const auto& a : cmd) {
          argv.push_back(a.data());
          lens.push_back(a.size());
        }
        ok = redisAppendCommandArgv(c->get(), static_cast<int>(argv.size()), argv.data(), lens.data()) == REDIS_OK;
      }
      if (ok) {
        if (reported) spdlog::info("redis subscription restored");
        reported = false;
      }
      while (ok && !stopping_) {
        void* raw = nullptr;
        if (redisGetReply(c->get(), &raw) != REDIS_OK || !raw) break;
        Reply r = copy(static_cast<redisReply*>(raw));
        freeReplyObject(raw);
        if (r.type != Reply::Type::array || r.elements.size() < 3) continue;
        const std::string& kind = r.elements[0].str;
        if (kind == "subscribe" || kind == "psubscribe") {
          subscribed_ = true;
        } else if (kind == "message" || (kind == "pmessage" && r.elements.size() >= 4)) {
          // message: [kind, channel, payload]; pmessage: [kind, pattern, channel, payload]
          const std::size_t at = kind == "message" ? 1 : 2;
          try {
            on_message_(r.elements[at].str, r.elements[at + 1].str);
          } catch (const std::exception& e) {
            spdlog::error("redis message handler failed: {}", e.what());
          }
        }
      }
      fd_ = -1;
      subscribed_ = false;
    }
    if (stopping_) break;
    if (!reported) {
      spdlog::warn("redis subscription lost ({}); retrying every second",
                   c ? std::string((*c)->errstr) : c.error().detail);
      reported = true;
    }
    // Sleep a second in small steps so a stop is quick.
    for (int i = 0; i < 10 && !stopping_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace aas::redis
