#include "http/client.hpp"

#include "core/log.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <charconv>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <string>
#include <unordered_map>
#include <utility>

namespace aas::http {

std::optional<std::string_view> ClientResponse::header(std::string_view lower_name) const {
  for (const Header& h : headers) {
    if (h.name == lower_name) return h.value;
  }
  return std::nullopt;
}

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
namespace urls = boost::urls;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// Expected failures (EOF, timeouts, cancellation) come back as error codes, not exceptions.
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

constexpr std::string_view kUserAgent = "ai-agent-service";
// Provider responses behind CDNs carry large cookie and tracing headers; Beast's 8 KB is too tight.
constexpr std::uint32_t kMaxHeaderBytes = 64 * 1024;
// Body bytes are handed to the sink in pieces of at most kBodyPieceBytes, straight from the
// parser. The piece starts at kFirstPieceBytes and doubles only when a read fills it: a streamed
// answer arrives an event (a few hundred bytes) at a time and its piece is held for the whole
// stream, so a fixed 16 KB (it was one, inside the coroutine frame) was most of what an idle
// upstream stream cost; a bulk body reaches the full size after a few reads. 512 bytes hold one
// chat chunk event of OpenAI's (~200-300 bytes with its chunked framing) in one read.
constexpr std::size_t kBodyPieceBytes = 16 * 1024;
constexpr std::size_t kFirstPieceBytes = 512;
// Servers commonly close idle keep-alive connections after 5-75 s; older ones are not worth the
// risk of racing the server's close.
constexpr auto kMaxIdleAge = std::chrono::seconds(30);

using BeastRequest = bhttp::request<bhttp::string_body>;

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Where a request goes, taken apart once.
struct Target {
  bool tls = false;
  std::string host;  // for DNS, SNI and the certificate check: no brackets, no port
  bool host_is_ip = false;
  std::uint16_t port = 0;
  std::string host_header;  // as sent in Host: with the port when it is not the default
  std::string authority;    // host:port, for the pool key and messages
  std::string target;       // path + query, as sent
  std::string log_path;     // path only: queries may carry keys, so they are never logged
};

Error bad_url(std::string detail) {
  return make_error(errc::internal, "invalid upstream URL", std::move(detail));
}

Result<Target> parse_target(std::string_view url) {
  auto parsed = urls::parse_uri(url);
  // The URL itself stays out of the messages: its query may hold an API key.
  if (!parsed) return bad_url("cannot parse upstream URL: " + parsed.error().message());
  const urls::url_view& u = *parsed;

  Target t;
  if (u.scheme_id() == urls::scheme::https) {
    t.tls = true;
  } else if (u.scheme_id() != urls::scheme::http) {
    return bad_url("unsupported upstream URL scheme: " + std::string(u.scheme()));
  }
  const urls::host_type type = u.host_type();
  if (type != urls::host_type::name && type != urls::host_type::ipv4 &&
      type != urls::host_type::ipv6) {
    return bad_url("upstream URL has no usable host");
  }
  t.host = lowercase(u.host_address());
  if (t.host.empty()) return bad_url("upstream URL has no host");
  t.host_is_ip = type != urls::host_type::name;

  const std::uint16_t default_port = t.tls ? 443 : 80;
  t.port = default_port;
  if (u.has_port() && !u.port().empty()) {
    // Parsed here: Boost.URL's port_number() wraps values over 65535 instead of rejecting them.
    const std::string_view digits = u.port();
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec != std::errc() || end != digits.data() + digits.size() || value == 0 || value > 65535) {
      return bad_url("upstream URL has an invalid port");
    }
    t.port = static_cast<std::uint16_t>(value);
  }
  const std::string host = lowercase(u.encoded_host());  // keeps IPv6 brackets
  t.authority = host + ":" + std::to_string(t.port);
  t.host_header = t.port == default_port ? host : t.authority;

  t.target = std::string(u.encoded_target());
  if (t.target.empty() || t.target.front() != '/') t.target.insert(0, "/");
  t.log_path = std::string(u.encoded_path());
  if (t.log_path.empty()) t.log_path = "/";
  return t;
}

// The proxy of HTTPS_PROXY, and the Proxy-Authorization its user info asks for.
struct Proxy {
  Target target;
  std::string authorization;  // "Basic ...", or empty
};

Result<Proxy> parse_proxy(std::string_view url) {
  const auto bad = [](std::string why) { return make_error(errc::invalid_request, "HTTPS_PROXY: " + why); };
  auto parsed = urls::parse_uri(url);
  if (!parsed) return bad("not a URL (expected http://[user:password@]host:port)");
  if (parsed->scheme_id() != urls::scheme::http)
    return bad("only http:// proxies are supported (the tunnel carries the upstream's own TLS)");
  auto target = parse_target(url);
  if (!target) return bad("no usable host or port");
  Proxy p{std::move(*target), {}};
  if (parsed->has_userinfo()) {
    const std::string credentials = std::string(parsed->user()) + ":" + std::string(parsed->password());
    std::string encoded(4 * ((credentials.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),
                                  reinterpret_cast<const unsigned char*>(credentials.data()),
                                  static_cast<int>(credentials.size()));
    encoded.resize(static_cast<std::size_t>(n));
    p.authorization = "Basic " + encoded;
  }
  return p;
}

// NO_PROXY's rule: an entry names a host and its subdomains (a leading dot changes nothing), or
// an exact address; "*" matches everything.
bool bypasses_proxy(const std::string& host, const std::vector<std::string>& no_proxy) {
  for (const std::string& raw : no_proxy) {
    std::string entry = lowercase(raw);
    if (entry == "*") return true;
    while (!entry.empty() && entry.front() == '.') entry.erase(0, 1);
    if (entry.size() > 2 && entry.front() == '[' && entry.back() == ']') entry = entry.substr(1, entry.size() - 2);
    if (entry.empty()) continue;
    if (host == entry) return true;
    if (host.size() > entry.size() && host.ends_with(entry) && host[host.size() - entry.size() - 1] == '.')
      return true;
  }
  return false;
}

bool has_control_chars(std::string_view s) {
  for (char c : s) {
    if (c == '\r' || c == '\n' || c == '\0') return true;
  }
  return false;
}

Result<BeastRequest> build_request(ClientRequest& req, const Target& t) {
  if (req.method.empty() || has_control_chars(req.method) ||
      req.method.find(' ') != std::string::npos) {
    return make_error(errc::internal, "invalid upstream request", "invalid HTTP method");
  }
  BeastRequest msg;
  msg.version(11);
  msg.method_string(req.method);
  msg.target(t.target);
  msg.set(bhttp::field::host, t.host_header);
  msg.set(bhttp::field::user_agent, kUserAgent);
  for (const Header& h : req.headers) {
    // A CR or LF would let a value (e.g. a mis-pasted key) inject headers into the request.
    if (h.name.empty() || has_control_chars(h.name) || has_control_chars(h.value)) {
      return make_error(errc::internal, "invalid upstream request",
                        "invalid character in a request header");
    }
    // Host and message framing belong to the client; a caller's copy could contradict them.
    if (beast::iequals(h.name, "host") || beast::iequals(h.name, "content-length") ||
        beast::iequals(h.name, "transfer-encoding")) {
      continue;
    }
    if (beast::iequals(h.name, "user-agent")) {
      msg.set(bhttp::field::user_agent, h.value);
    } else {
      msg.insert(h.name, h.value);
    }
  }
  msg.body() = std::move(req.body);
  msg.prepare_payload();  // Content-Length (also "0" for an empty POST)
  return msg;
}

ClientResponse to_head(const bhttp::response_parser<bhttp::buffer_body>::value_type& msg) {
  ClientResponse head;
  head.status = static_cast<int>(msg.result_int());
  for (const auto& field : msg) {
    head.headers.push_back({lowercase(field.name_string()), std::string(field.value())});
  }
  return head;
}

// One keep-alive connection: plain TCP or TLS over TCP.
struct Connection {
  Connection(const asio::any_io_executor& executor, ssl::context* tls_context) {
    if (tls_context != nullptr) {
      tls.emplace(executor, *tls_context);
    } else {
      plain.emplace(executor);
    }
  }

  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }

  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  Clock::time_point idle_since{};
};

// An idle keep-alive connection must be silent. Readable bytes or EOF mean the server closed it
// (or broke the protocol), so it is dropped here instead of failing the next request.
bool is_quiet(Connection& conn) {
  tcp::socket& socket = conn.lowest().socket();
  if (!socket.is_open()) return false;
  beast::error_code ec;
  socket.non_blocking(true, ec);
  if (ec) return false;
  char byte = 0;
  socket.receive(asio::buffer(&byte, 1), tcp::socket::message_peek, ec);
  const bool quiet = ec == asio::error::would_block;
  socket.non_blocking(false, ec);
  return quiet;
}

// Each socket operation runs under the earlier of its phase's deadline and the exchange's total
// deadline; remembering which one applied lets a timeout name the phase that ran out.
struct Deadline {
  Clock::time_point at;
  const char* phase;  // "connect", "send", "first byte", "idle" or "total"
};

Deadline phase_deadline(Clock::duration limit, const char* phase, Clock::time_point total) {
  const Clock::time_point now = Clock::now();
  if (now >= total || limit >= total - now) return {total, "total"};
  return {now + limit, phase};
}

bool is_timeout(const beast::error_code& ec, const Deadline& d) {
  // Under TLS the lower layer's timeout may surface as another error; the clock is the judge.
  return ec == beast::error::timeout || Clock::now() >= d.at;
}

bool is_cancelled(const asio::cancellation_state& state) {
  return state.cancelled() != asio::cancellation_type::none;
}

// A malformed response, as opposed to a connection that ended early (end_of_stream,
// partial_message), which is the network's fault rather than the server's.
bool is_http_protocol_error(const beast::error_code& ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::bad_version).category() &&
         ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message;
}

// The client message stays generic; `detail` (logged, never sent) says what failed and where.
Error transport_error(const beast::error_code& ec, const Deadline& d, std::string_view doing,
                      std::string_view authority, bool cancelled) {
  const std::string where = std::string(doing) + " " + std::string(authority);
  if (cancelled) return make_error(errc::unavailable, "upstream request cancelled", where);
  if (is_timeout(ec, d)) {
    return make_error(errc::upstream_timeout, "upstream timed out",
                      std::string(d.phase) + " timeout while " + where);
  }
  if (is_http_protocol_error(ec)) {
    return make_error(errc::upstream_error, "invalid upstream response",
                      where + ": " + ec.message());
  }
  return make_error(errc::unavailable, "upstream unavailable", where + ": " + ec.message());
}

Error transport_error(const beast::error_code& ec, const Deadline& d, std::string_view doing, const Target& t,
                      bool cancelled) {
  return transport_error(ec, d, doing, std::string_view(t.authority), cancelled);
}

// What one attempt on one connection produced: the response head, or why not.
struct Outcome {
  Result<ClientResponse> result;
  bool retry = false;  // a reused connection failed before any response byte
};

// One request/response exchange, as seen by the attempts made for it.
struct Exchange {
  const Target& target;
  BeastRequest& request;  // written by each attempt
  Clock::time_point total_deadline;
  Clock::duration first_byte_timeout;
  asio::cancellation_state cancel_state;
};

using ResponseParser = bhttp::response_parser<bhttp::buffer_body>;

}  // namespace

struct HttpClient::Impl : std::enable_shared_from_this<HttpClient::Impl> {
  Impl(asio::any_io_executor ex, ClientOptions opts)
      : executor(std::move(ex)), options(std::move(opts)), sweeper(executor) {
    // A bad UPSTREAM_CA_FILE is a start-up error, so with one the context is built now.
    if (!options.extra_ca_file.empty()) (void)tls();
    if (!options.https_proxy.empty()) {
      auto p = parse_proxy(options.https_proxy);
      if (!p) throw std::invalid_argument(p.error().message);
      proxy = std::move(*p);
    }
  }

  static ssl::context make_tls_context(const ClientOptions& options);
  // The TLS context, built on first use: loading the system's CA store takes tens of ms and about
  // a megabyte (plus libcrypto's pages), which a service whose upstreams are all plain HTTP
  // (mock-llm, Ollama, vLLM on a private network) never needs, and which delayed every start.
  ssl::context& tls() {
    std::call_once(tls_once, [this] { tls_context.emplace(make_tls_context(options)); });
    return *tls_context;
  }

  // `self` is this client's state, held by the exchange and its body so that the pool outlives them.
  asio::awaitable<Result<OpenResponse>> open(ClientRequest req, BodySink sink, std::shared_ptr<Impl> self);
  asio::awaitable<Result<std::unique_ptr<Connection>>> connect(const Exchange& x);
  // Asks the proxy, on a fresh connection to it, for a tunnel to `t`.
  asio::awaitable<Result<void>> open_tunnel(beast::tcp_stream& s, const Target& t, const Deadline& d,
                                            const Exchange& x);
  asio::awaitable<std::pair<beast::error_code, std::vector<tcp::endpoint>>> resolve(
      const Target& t, const Deadline& d);
  // Writes the request and reads the response head into `parser`.
  template <class Stream>
  asio::awaitable<Outcome> send(Stream& stream, Connection& conn, ResponseParser& parser, const Exchange& x,
                                bool reused);

  std::unique_ptr<Connection> checkout(const std::string& key);
  void checkin(const std::string& key, std::unique_ptr<Connection> conn);
  // Closes the idle connections too old to be used again (ClientOptions::sweep_idle_connections).
  void sweep();
  void arm_sweep_locked();

  const asio::any_io_executor executor;
  const ClientOptions options;
  std::optional<Proxy> proxy;  // HTTPS_PROXY
  std::once_flag tls_once;
  std::optional<ssl::context> tls_context;  // declared before the pool: pooled TLS streams refer to it

  // Coroutines on different strands share the pool; the lock is held only to move pointers.
  std::mutex mutex;
  std::unordered_map<std::string, std::vector<std::unique_ptr<Connection>>> idle;
  asio::steady_timer sweeper;  // armed while idle connections wait (guarded by the mutex)
  bool sweep_armed = false;
};

void HttpClient::prepare_tls() { (void)impl_->tls(); }

ssl::context HttpClient::Impl::make_tls_context(const ClientOptions& options) {
  ssl::context ctx(ssl::context::tls_client);
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  ctx.set_default_verify_paths();
  if (!options.extra_ca_file.empty()) {
    beast::error_code ec;
    ctx.load_verify_file(options.extra_ca_file, ec);
    if (ec) {
      throw std::runtime_error("cannot load the extra CA file " + options.extra_ca_file + ": " +
                               ec.message());
    }
  }
  ctx.set_verify_mode(options.verify_peer ? ssl::verify_peer : ssl::verify_none);
  return ctx;
}

std::unique_ptr<Connection> HttpClient::Impl::checkout(const std::string& key) {
  std::vector<std::unique_ptr<Connection>> stale;  // closed after the lock is released
  std::unique_ptr<Connection> found;
  std::lock_guard lock(mutex);
  const auto it = idle.find(key);
  if (it == idle.end()) return nullptr;
  auto& list = it->second;
  // Most recently used first: it is the least likely to have been closed by the server.
  while (!list.empty() && !found) {
    std::unique_ptr<Connection> conn = std::move(list.back());
    list.pop_back();
    if (Clock::now() - conn->idle_since < kMaxIdleAge && is_quiet(*conn)) {
      found = std::move(conn);
    } else {
      stale.push_back(std::move(conn));
    }
  }
  return found;
}

void HttpClient::Impl::checkin(const std::string& key, std::unique_ptr<Connection> conn) {
  conn->lowest().expires_never();
  conn->idle_since = Clock::now();
  std::unique_ptr<Connection> surplus;  // closed after the lock is released
  std::lock_guard lock(mutex);
  auto& list = idle[key];
  if (list.size() < options.max_idle_connections_per_host) {
    list.push_back(std::move(conn));
    if (options.sweep_idle_connections) arm_sweep_locked();
  } else {
    surplus = std::move(conn);
  }
}

void HttpClient::Impl::arm_sweep_locked() {
  if (sweep_armed) return;
  sweep_armed = true;
  sweeper.expires_after(kMaxIdleAge);
  sweeper.async_wait([weak = weak_from_this()](const beast::error_code& ec) {
    if (ec) return;
    if (const auto self = weak.lock()) self->sweep();
  });
}

void HttpClient::Impl::sweep() {
  std::vector<std::unique_ptr<Connection>> stale;  // closed after the lock is released
  std::lock_guard lock(mutex);
  sweep_armed = false;
  const auto now = Clock::now();
  for (auto it = idle.begin(); it != idle.end();) {
    auto& list = it->second;
    for (auto& conn : list)
      if (now - conn->idle_since >= kMaxIdleAge) stale.push_back(std::move(conn));
    std::erase(list, nullptr);
    it = list.empty() ? idle.erase(it) : std::next(it);
  }
  if (!idle.empty()) arm_sweep_locked();
}

// getaddrinfo runs on Asio's resolver thread and cannot be interrupted, and the resolver ignores
// both per-operation cancellation and tcp_stream's timeouts. So a lookup is abandoned rather than
// awaited: it completes into shared state that may outlive this coroutine, and the coroutine
// waits on a timer (which honours the deadline and cancellation) that the completion cancels.
// The completion runs on the caller's executor, so it never races the coroutine.
asio::awaitable<std::pair<beast::error_code, std::vector<tcp::endpoint>>>
HttpClient::Impl::resolve(const Target& t, const Deadline& d) {
  if (t.host_is_ip) {
    beast::error_code ec;
    const auto address = asio::ip::make_address(t.host, ec);
    co_return std::pair{ec, std::vector<tcp::endpoint>{tcp::endpoint(address, t.port)}};
  }

  struct Lookup {
    explicit Lookup(const asio::any_io_executor& ex) : resolver(ex), wake(ex) {}
    tcp::resolver resolver;
    asio::steady_timer wake;
    bool done = false;
    beast::error_code ec;
    std::vector<tcp::endpoint> endpoints;
  };
  const asio::any_io_executor caller = co_await asio::this_coro::executor;
  auto lookup = std::make_shared<Lookup>(executor);
  lookup->wake.expires_at(d.at);
  lookup->resolver.async_resolve(
      t.host, std::to_string(t.port), tcp::resolver::numeric_service,
      asio::bind_executor(caller,
                          [lookup](beast::error_code ec, tcp::resolver::results_type results) {
                            lookup->done = true;
                            lookup->ec = ec;
                            for (const auto& entry : results) {
                              lookup->endpoints.push_back(entry.endpoint());
                            }
                            lookup->wake.cancel();
                          }));
  co_await lookup->wake.async_wait(use_tuple);
  if (lookup->done) co_return std::pair{lookup->ec, std::move(lookup->endpoints)};
  lookup->resolver.cancel();  // spares the worker thread if the lookup has not started yet
  co_return std::pair{beast::error_code(beast::error::timeout), std::vector<tcp::endpoint>{}};
}

asio::awaitable<Result<std::unique_ptr<Connection>>> HttpClient::Impl::connect(
    const Exchange& x) {
  const Target& t = x.target;
  const Deadline d = phase_deadline(options.connect_timeout, "connect", x.total_deadline);
  // Through HTTPS_PROXY: the TCP connection goes to the proxy, which opens a tunnel to `t`.
  const bool via_proxy = proxy && t.tls && !bypasses_proxy(t.host, options.no_proxy);
  const Target& dial = via_proxy ? proxy->target : t;

  auto [resolve_ec, endpoints] = co_await resolve(dial, d);
  if (resolve_ec || endpoints.empty()) {
    if (!resolve_ec) resolve_ec = asio::error::host_not_found;
    co_return transport_error(resolve_ec, d, "resolving", dial, is_cancelled(x.cancel_state));
  }

  auto conn = std::make_unique<Connection>(executor, t.tls ? &tls() : nullptr);
  beast::tcp_stream& lowest = conn->lowest();
  lowest.expires_at(d.at);
  auto [connect_ec, endpoint] = co_await lowest.async_connect(endpoints, use_tuple);
  if (connect_ec) {
    co_return transport_error(connect_ec, d, "connecting to", dial, is_cancelled(x.cancel_state));
  }
  beast::error_code ignored;
  lowest.socket().set_option(tcp::no_delay(true), ignored);  // requests are written in one go
  if (via_proxy) {
    auto tunnel = co_await open_tunnel(lowest, t, d, x);
    if (!tunnel) co_return tunnel.error();
  }

  if (conn->tls) {
    // SNI carries host names only (RFC 6066); certificates for IP literals are matched by address.
    if (!t.host_is_ip && SSL_set_tlsext_host_name(conn->tls->native_handle(), t.host.c_str()) != 1) {
      co_return make_error(errc::unavailable, "upstream unavailable",
                           "cannot set TLS SNI for " + t.authority);
    }
    if (options.verify_peer) conn->tls->set_verify_callback(ssl::host_name_verification(t.host));
    auto [handshake_ec] = co_await conn->tls->async_handshake(ssl::stream_base::client, use_tuple);
    if (handshake_ec) {
      co_return transport_error(handshake_ec, d, "TLS handshake with", t,
                                is_cancelled(x.cancel_state));
    }
  }
  lowest.expires_never();
  co_return conn;
}

asio::awaitable<Result<void>> HttpClient::Impl::open_tunnel(beast::tcp_stream& s, const Target& t,
                                                           const Deadline& d, const Exchange& x) {
  bhttp::request<bhttp::empty_body> req{bhttp::verb::connect, t.authority, 11};
  req.set(bhttp::field::host, t.authority);
  req.set(bhttp::field::user_agent, kUserAgent);
  if (!proxy->authorization.empty()) req.set(bhttp::field::proxy_authorization, proxy->authorization);
  s.expires_at(d.at);
  auto [write_ec, written] = co_await bhttp::async_write(s, req, use_tuple);
  if (write_ec)
    co_return transport_error(write_ec, d, "asking the proxy for a tunnel to", t, is_cancelled(x.cancel_state));
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::empty_body> parser;
  parser.skip(true);  // a response to CONNECT has no body: the tunnel follows the head
  auto [read_ec, read] = co_await bhttp::async_read_header(s, buffer, parser, use_tuple);
  if (read_ec)
    co_return transport_error(read_ec, d, "asking the proxy for a tunnel to", t, is_cancelled(x.cancel_state));
  const unsigned status = parser.get().result_int();
  if (status / 100 != 2) {
    co_return make_error(errc::unavailable, "upstream unavailable",
                         "the proxy answered " + std::to_string(status) + " to CONNECT " + t.authority +
                             (status == 407 ? " (check the credentials in HTTPS_PROXY)" : ""));
  }
  // The upstream speaks only after our TLS hello: anything already here is the proxy's mistake.
  if (buffer.size() != 0)
    co_return make_error(errc::unavailable, "upstream unavailable", "the proxy sent data before the tunnel to " + t.authority);
  co_return Result<void>();
}

template <class Stream>
asio::awaitable<Outcome> HttpClient::Impl::send(Stream& stream, Connection& conn, ResponseParser& parser,
                                                const Exchange& x, bool reused) {
  beast::tcp_stream& lowest = conn.lowest();
  // A reused connection that fails before the first response byte was most likely closed by the
  // server while idle, so the request never reached it: the one failure safe to retry.
  const auto failed = [&](const beast::error_code& ec, const Deadline& d, std::string_view doing,
                          bool before_response) {
    const bool cancelled = is_cancelled(x.cancel_state);
    Outcome out{transport_error(ec, d, doing, x.target, cancelled)};
    out.retry = reused && before_response && !cancelled && !is_timeout(ec, d);
    return out;
  };

  // Sending is bounded like a gap in the body: a send that stalls that long is a dead peer.
  Deadline d = phase_deadline(options.idle_timeout, "send", x.total_deadline);
  lowest.expires_at(d.at);
  auto [write_ec, written] = co_await bhttp::async_write(stream, x.request, use_tuple);
  if (write_ec) co_return failed(write_ec, d, "sending request to", true);

  parser.header_limit(kMaxHeaderBytes);
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());  // callers apply their own
  if (x.request.method() == bhttp::verb::head) parser.skip(true);

  d = phase_deadline(x.first_byte_timeout, "first byte", x.total_deadline);
  lowest.expires_at(d.at);
  auto [header_ec, header_bytes] = co_await bhttp::async_read_header(stream, conn.buffer, parser, use_tuple);
  if (header_ec) co_return failed(header_ec, d, "waiting for the response from", !parser.got_some());
  ClientResponse head = to_head(parser.get());
  // The parser's own copy of the header fields is not needed to read the body (its framing is
  // in the parser's state): a long stream should not keep it.
  parser.get().clear();
  co_return Outcome{std::move(head)};
}

// The body of one response, read piece by piece into the sink: buffer_body hands over whatever
// each read produced, so bytes reach the sink as they arrive and nothing accumulates here.
class HttpClient::Body final : public ClientStream {
 public:
  Body(std::shared_ptr<Impl> impl, std::unique_ptr<Connection> conn, std::string pool_key, std::string authority,
       std::string log_path, Clock::time_point total_deadline)
      : impl_(std::move(impl)),
        conn_(std::move(conn)),
        pool_key_(std::move(pool_key)),
        authority_(std::move(authority)),
        log_path_(std::move(log_path)),
        total_deadline_(total_deadline) {}

  asio::awaitable<Result<void>> read() override;
  void pause() override { paused_ = true; }
  void cancel() override {
    cancelled_ = true;
    if (conn_) conn_->lowest().cancel();  // the pending read ends with operation_aborted
  }
  bool done() const override { return done_; }

  ResponseParser parser;  // the attempt's, filled by Impl::send
  BodySink sink;

 private:
  Result<void> fail(const beast::error_code& ec, bool cancelled) {
    done_ = true;
    conn_.reset();
    Error e = transport_error(ec, d_, "reading the response body from", authority_, cancelled);
    spdlog::debug("upstream {}{}: {}", authority_, log_path_, e.detail);
    return e;
  }

  std::shared_ptr<Impl> impl_;
  std::unique_ptr<Connection> conn_;
  std::string pool_key_;
  std::string authority_;
  std::string log_path_;  // for the log: never the query
  Clock::time_point total_deadline_;
  Deadline d_{};
  // The piece starts at kFirstPieceBytes and doubles only when a read fills it (see there).
  std::unique_ptr<char[]> piece_;
  std::size_t piece_size_ = 0;
  bool paused_ = false;
  bool cancelled_ = false;  // cancel(): no more reads
  bool done_ = false;
};

asio::awaitable<Result<void>> HttpClient::Body::read() {
  const asio::cancellation_state cancel_state = co_await asio::this_coro::cancellation_state;
  paused_ = false;
  while (!done_ && !parser.is_done()) {
    // A sink may have cancelled this very coroutine; the next co_await would throw.
    if (cancelled_ || is_cancelled(cancel_state)) co_return fail(asio::error::operation_aborted, true);
    if (!piece_) {
      piece_size_ = kFirstPieceBytes;
      piece_ = std::make_unique_for_overwrite<char[]>(piece_size_);
    }
    parser.get().body().data = piece_.get();
    parser.get().body().size = piece_size_;
    d_ = phase_deadline(impl_->options.idle_timeout, "idle", total_deadline_);
    conn_->lowest().expires_at(d_.at);
    beast::error_code ec;
    if (conn_->tls) {
      std::tie(ec, std::ignore) = co_await bhttp::async_read_some(*conn_->tls, conn_->buffer, parser, use_tuple);
    } else {
      std::tie(ec, std::ignore) = co_await bhttp::async_read_some(*conn_->plain, conn_->buffer, parser, use_tuple);
    }
    const bool full = ec == bhttp::error::need_buffer;
    if (full) ec = {};  // the piece is full: deliver it
    if (ec) co_return fail(ec, cancelled_ || is_cancelled(cancel_state));
    const std::size_t got = piece_size_ - parser.get().body().size;
    if (got > 0 && !sink(std::string_view(piece_.get(), got))) {
      done_ = true;  // the caller stopped: the connection is not reused
      conn_.reset();
      co_return Result<void>();
    }
    if (full && piece_size_ < kBodyPieceBytes) {
      piece_size_ *= 2;
      piece_ = std::make_unique_for_overwrite<char[]>(piece_size_);
    }
    if (paused_ && !parser.is_done()) co_return Result<void>();
  }
  if (!done_) {
    done_ = true;
    conn_->lowest().expires_never();
    // Bytes beyond the response mean the server does not speak the protocol we think it does.
    if (parser.keep_alive() && conn_->buffer.size() == 0) impl_->checkin(pool_key_, std::move(conn_));
    conn_.reset();
  }
  piece_.reset();
  co_return Result<void>();
}

asio::awaitable<Result<OpenResponse>> HttpClient::Impl::open(ClientRequest req, BodySink sink,
                                                             std::shared_ptr<Impl> self) {
  auto target = parse_target(req.url);
  if (!target) co_return target.error();
  auto msg = build_request(req, *target);
  if (!msg) co_return msg.error();
  req.headers = {};  // in `msg` now

  const auto total_timeout =
      req.total_timeout.count() > 0 ? req.total_timeout : options.total_timeout;
  const auto first_byte_timeout =
      req.first_byte_timeout.count() > 0 ? req.first_byte_timeout : options.first_byte_timeout;
  const asio::cancellation_state cancel_state = co_await asio::this_coro::cancellation_state;
  const Exchange x{*target, *msg, Clock::now() + total_timeout, first_byte_timeout, cancel_state};
  const std::string pool_key = (target->tls ? "https://" : "http://") + target->authority;

  // At most two attempts: a pooled connection, then (only after a stale-connection failure) a
  // fresh one. A fresh connection's failure is final.
  for (bool first_attempt = true;; first_attempt = false) {
    std::unique_ptr<Connection> conn;
    if (first_attempt) conn = checkout(pool_key);
    const bool reused = conn != nullptr;
    if (!conn) {
      auto fresh = co_await connect(x);
      if (!fresh) {
        spdlog::debug("upstream {} {}{}: {}", req.method, target->authority, target->log_path,
                      fresh.error().detail);
        co_return fresh.error();
      }
      conn = std::move(*fresh);
    }
    Connection& c = *conn;
    // The body owns the connection from here: it is closed when the body is dropped unread (after
    // a failure, or when this coroutine is destroyed mid-exchange) and pooled when read whole.
    auto body = std::make_unique<Body>(self, std::move(conn), pool_key, target->authority, target->log_path,
                                       x.total_deadline);
    Outcome out;
    if (c.tls) {
      out = co_await send(*c.tls, c, body->parser, x, reused);
    } else {
      out = co_await send(*c.plain, c, body->parser, x, reused);
    }
    if (out.retry) {
      spdlog::debug("upstream {} closed a reused connection before answering ({}); retrying once",
                    target->authority, out.result.error().detail);
      continue;
    }
    if (!out.result) {
      spdlog::debug("upstream {} {}{}: {}", req.method, target->authority, target->log_path,
                    out.result.error().detail);
      co_return out.result.error();
    }
    body->sink = std::move(sink);
    co_return OpenResponse{std::move(*out.result), std::move(body)};
  }
}

Result<void> validate_proxy_url(std::string_view url) {
  auto p = parse_proxy(url);
  if (!p) return p.error();
  return {};
}

HttpClient::HttpClient(asio::any_io_executor executor, ClientOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(options))) {}

HttpClient::~HttpClient() = default;

asio::awaitable<Result<ClientResponse>> HttpClient::request(ClientRequest req) {
  const std::size_t limit = impl_->options.max_response_bytes;
  std::string body;
  bool too_large = false;
  BodySink sink = [&](std::string_view bytes) {
    if (bytes.size() > limit - body.size()) {
      too_large = true;
      return false;
    }
    body.append(bytes);
    return true;
  };
  auto opened = co_await impl_->open(std::move(req), std::move(sink), impl_);
  if (!opened) co_return opened.error();
  // A declared length over the limit fails at once, without reading the body.
  if (auto length = opened->head.header("content-length")) {
    std::uint64_t n = 0;
    const auto [end, ec] = std::from_chars(length->data(), length->data() + length->size(), n);
    if (ec == std::errc() && n > limit) too_large = true;
  }
  while (!too_large && !opened->body->done()) {
    auto read = co_await opened->body->read();
    if (!read) co_return read.error();
  }
  if (too_large) {
    co_return make_error(errc::upstream_error, "upstream response too large",
                         "response body over " + std::to_string(limit) + " bytes");
  }
  opened->head.body = std::move(body);
  co_return std::move(opened->head);
}

asio::awaitable<Result<ClientResponse>> HttpClient::stream(
    ClientRequest req, std::function<void(const ClientResponse& head)> on_head, BodySink sink) {
  if (!sink) sink = [](std::string_view) { return true; };
  auto opened = co_await impl_->open(std::move(req), std::move(sink), impl_);
  if (!opened) co_return opened.error();
  if (on_head) on_head(opened->head);
  while (!opened->body->done()) {
    auto read = co_await opened->body->read();
    if (!read) co_return read.error();
  }
  co_return std::move(opened->head);
}

// Not a coroutine itself: the exchange is what the caller awaits, a frame less.
asio::awaitable<Result<OpenResponse>> HttpClient::open(ClientRequest req, BodySink sink) {
  if (!sink) sink = [](std::string_view) { return true; };
  return impl_->open(std::move(req), std::move(sink), impl_);
}

}  // namespace aas::http
