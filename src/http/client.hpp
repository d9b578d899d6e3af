#pragma once
// An asynchronous HTTP/1.1 client for upstream calls (LLM providers, the monolith's token check):
// TLS with verification on (system CA store, SNI, optional extra CA file), a keep-alive pool per
// scheme+host+port, connect / first-byte / idle / total timeouts, a response size limit, and
// cancellation through the awaiting coroutine's cancellation slot. Beast stays in client.cpp.
//
// One HttpClient is shared by many coroutines; each must run on a strand (or a single-threaded
// io_context), as for any Asio I/O object. Cancelling the awaiting coroutine (terminal
// cancellation, e.g. losing an awaitable_operators `||` race) stops the exchange at once and
// closes its connection. A pooled connection that fails before the first response byte is
// retried once on a new connection (the server closed it while idle, so it never saw the request).
#include "core/error.hpp"
#include "http/message.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aas::http {

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds first_byte_timeout{60000};  // request sent -> response header
  std::chrono::milliseconds idle_timeout{60000};        // gap between two body chunks
  std::chrono::milliseconds total_timeout{600000};      // the whole exchange
  std::size_t max_response_bytes = 16 * 1024 * 1024;    // a buffered body larger than this fails
  // Idle keep-alive connections kept per upstream host: a deployment's default concurrency (64),
  // so that calls that many at a time reuse their connections. At 16, every burst of more than 16
  // calls opened new ones (gateway at -c32: 1,275 connects in 8 s; 64 gives 1.15x the req/s).
  std::size_t max_idle_connections_per_host = 64;
  // Idle connections are closed once too old to be reused (30 s) by a timer, not only when the
  // next request to their host looks at them: after a burst of calls the pool (up to the figure
  // above per host, each with its buffers) would otherwise stay for good, pinning pages of the
  // burst's freed memory. The timer is work of the executor's io_context while connections are
  // idle, so a program that runs its io_context until it runs out of work leaves this off.
  bool sweep_idle_connections = false;
  std::string extra_ca_file;  // PEM, added to the system store (tests, private CAs)
  bool verify_peer = true;    // never turned off in production configuration
  // HTTPS_PROXY: https upstreams are reached through this proxy's CONNECT tunnel
  // (http://[user:password@]host:port); TLS still runs end to end with the upstream, whose
  // certificate is checked as usual. Hosts matching `no_proxy` go direct. Plain-http upstreams
  // (a local Ollama or vLLM, the monolith) never go through it.
  std::string https_proxy;
  std::vector<std::string> no_proxy;  // "*" (none), host names (with their subdomains), IP addresses
};

// Whether `url` is a usable HTTPS_PROXY (for the configuration's own check); the message never
// repeats the URL (it may hold a password).
Result<void> validate_proxy_url(std::string_view url);

struct ClientRequest {
  std::string method = "POST";
  std::string url;  // http://host:port/path?query or https://...
  std::vector<Header> headers;
  std::string body;
  // Per-request overrides; zero means the client's option.
  std::chrono::milliseconds first_byte_timeout{0};
  std::chrono::milliseconds total_timeout{0};
};

struct ClientResponse {
  int status = 0;
  std::vector<Header> headers;  // lowercase names
  std::string body;             // empty for streamed responses
  std::optional<std::string_view> header(std::string_view lower_name) const;
};

// Receives body bytes as they arrive; returning false aborts the exchange (the connection is
// then closed, not reused).
using BodySink = std::function<bool(std::string_view bytes)>;

// The body of a response whose head has arrived (HttpClient::open), read into its sink on demand.
// An object rather than a coroutine awaited to the end, so that a caller can hand a long stream
// on once it is flowing (a held stream keeps this object and one small frame, not the frames of
// every layer that opened it). Used on the caller's strand, one read() at a time.
class ClientStream {
 public:
  virtual ~ClientStream() = default;
  // Reads body pieces into the sink until the body has all come (done()), the sink declined one
  // (done(), still a success; the connection is then closed), a failure (done(); the error, as
  // HttpClient::stream's), or the sink called pause() (read() again goes on). A body read whole
  // gives its connection back to the pool; dropping the stream earlier closes it.
  virtual boost::asio::awaitable<Result<void>> read() = 0;
  // From within the sink: read() returns once this piece is delivered.
  virtual void pause() = 0;
  // From outside the sink (on the caller's strand): a read() under way (or the next one) ends at
  // once, failed as a cancelled one, and the stream is done(); the connection is closed. For a
  // caller that awaits read() in its own coroutine (no cancellation slot of its own).
  virtual void cancel() = 0;
  virtual bool done() const = 0;
};

struct OpenResponse {
  ClientResponse head;  // status and headers, body empty
  std::unique_ptr<ClientStream> body;
};

class HttpClient {
 public:
  HttpClient(boost::asio::any_io_executor executor, ClientOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Buffers the whole body (up to max_response_bytes). Transport failures: errc::unavailable
  // (DNS/connect/TLS/reset, or cancelled), errc::upstream_timeout (any timeout; the detail names
  // the phase), errc::upstream_error (body over the limit, malformed response). Any HTTP status
  // is a success at this level.
  boost::asio::awaitable<Result<ClientResponse>> request(ClientRequest req);

  // Returns once the exchange has finished; `on_head` is called with the status and headers
  // before the first body byte, then `sink` with each piece of the body. A non-2xx response is
  // still streamed to the sink (callers usually buffer it to read the error). The result holds
  // the status and headers (body empty). A sink that returns false ends the exchange early and
  // that is still a success; a failure after on_head (timeout, reset) is an error, and the
  // caller knows it saw a truncated body.
  boost::asio::awaitable<Result<ClientResponse>> stream(
      ClientRequest req, std::function<void(const ClientResponse& head)> on_head, BodySink sink);

  // Sends the request and returns once the response head has arrived (failures as for stream();
  // a pooled connection's stale-close retry included); the body is then read through the
  // returned stream into `sink`.
  boost::asio::awaitable<Result<OpenResponse>> open(ClientRequest req, BodySink sink);

  // Builds the TLS context (the system CA store) now instead of on the first https request, which
  // would otherwise pay for it on an I/O thread. Blocking: call it from the blocking pool.
  void prepare_tls();

 private:
  struct Impl;
  class Body;
  std::shared_ptr<Impl> impl_;
};

}  // namespace aas::http
