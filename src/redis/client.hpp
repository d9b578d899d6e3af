#pragma once
// A small blocking Redis client over hiredis 0.14 (Debian's; it has no TLS and no Asio adapter):
// a pool of connections with timeouts, scripts run by digest, and a fail-fast window after a
// failure so an outage costs callers one timeout, not one per request. Calls block: callers run
// them on the blocking pool (core/offload.hpp). Production mode shares limits, the response cache
// and events through it (REDIS_URL).
#include "core/error.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace aas::redis {

struct Options {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string username;  // Redis 6 ACL user; empty: the default user
  std::string password;
  int database = 0;
  std::chrono::milliseconds connect_timeout{500};
  std::chrono::milliseconds command_timeout{500};
  // After a connection fails, calls fail at once for this long instead of each waiting for a
  // timeout; ping() (the /ready probe) still tries, and a success ends the window.
  std::chrono::milliseconds retry_after_failure{1000};
  std::size_t max_idle_connections = 16;
};

// redis://[[user]:password@]host[:port][/database]
Result<Options> parse_url(std::string_view url);

// A reply, copied out of hiredis's reply tree.
struct Reply {
  enum class Type { nil, integer, string, status, array, error };
  Type type = Type::nil;
  std::int64_t integer = 0;
  std::string str;  // string, status and error replies
  std::vector<Reply> elements;

  bool is_nil() const { return type == Type::nil; }
};

// A Lua script, run with EVALSHA and loaded on the first NOSCRIPT (a restarted Redis forgets it).
class Script {
 public:
  explicit Script(std::string source) : source_(std::move(source)) {}
  const std::string& source() const { return source_; }
  // Computed on first use, not at construction: the scripts are namespace-scope constants, and
  // hashing them during static initialisation initialised OpenSSL (config file, providers) in
  // every process, Redis or not, which cost ~2 MiB of resident pages and start-up time.
  const std::string& sha1() const;

 private:
  std::string source_;
  mutable std::once_flag sha1_once_;
  mutable std::string sha1_;
};

class Client {
 public:
  explicit Client(Options options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // One command. Redis being unreachable (or timing out) is `unavailable`; an error reply is
  // `internal` with Redis's message in the detail.
  Result<Reply> command(const std::vector<std::string>& args);
  Result<Reply> eval(const Script& script, const std::vector<std::string>& keys,
                     const std::vector<std::string>& args);
  // PING on a fresh attempt even inside the fail-fast window (readiness probes).
  Result<void> ping();
  // Told when Redis becomes reachable or unreachable (metrics); set it before the first call.
  // Runs on the calling thread, outside the client's lock.
  void on_availability(std::function<void(bool up)> observer) { observer_ = std::move(observer); }
  const Options& options() const { return options_; }

 private:
  struct Pool;
  void availability(bool up);

  Options options_;
  std::unique_ptr<Pool> pool_;
  std::function<void(bool)> observer_;
};

// A subscription on its own connection and thread: `on_message(channel, payload)` runs on that
// thread. Reconnects (and re-subscribes) after a failure; messages published meanwhile are lost,
// as Redis pub/sub promises no more.
class Subscriber {
 public:
  using Handler = std::function<void(const std::string& channel, const std::string& payload)>;
  // With `patterns`, the channels are glob patterns (PSUBSCRIBE) and the handler gets the channel
  // each message came on.
  Subscriber(Options options, std::vector<std::string> channels, Handler on_message, bool patterns = false);
  ~Subscriber();  // stops the thread
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;
  // Whether the subscription is in place now (tests wait for it before publishing).
  bool subscribed() const { return subscribed_.load(); }

 private:
  void run();
  Options options_;
  std::vector<std::string> channels_;
  Handler on_message_;
  bool patterns_ = false;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> subscribed_{false};
  std::atomic<int> fd_{-1};
  std::thread thread_;
};

}  // namespace aas::redis
