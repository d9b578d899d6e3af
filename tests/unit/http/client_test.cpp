#include "http/client.hpp"

#include <gtest/gtest.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace aas::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// ---------------------------------------------------------------------------------------------
// In-test servers: plain Asio/Beast coroutines, each connection handled by the test's handler.

// One accepted connection, plain or TLS.
struct ServerConn {
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  int index = 0;    // 1-based accept order
  std::string sni;  // the server name the client sent (TLS only)

  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }

  template <class F>
  auto with(F&& f) {
    return tls ? f(*tls) : f(*plain);
  }

  asio::awaitable<std::optional<bhttp::request<bhttp::string_body>>> read_request() {
    bhttp::request<bhttp::string_body> req;
    lowest().expires_after(5s);
    auto [ec, n] =
        co_await with([&](auto& s) { return bhttp::async_read(s, buffer, req, use_tuple); });
    if (ec) co_return std::nullopt;
    co_return req;
  }

  asio::awaitable<bool> write(std::string raw) {
    lowest().expires_after(5s);
    auto [ec, n] = co_await with(
        [&](auto& s) { return asio::async_write(s, asio::buffer(raw), use_tuple); });
    co_return !ec;
  }

  asio::awaitable<bool> respond(unsigned status, std::string body, bool keep_alive = true,
                                std::vector<std::pair<std::string, std::string>> headers = {}) {
    bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(status), 11};
    for (const auto& [name, value] : headers) res.set(name, value);
    res.body() = std::move(body);
    res.keep_alive(keep_alive);
    res.prepare_payload();
    lowest().expires_after(5s);
    auto [ec, n] = co_await with([&](auto& s) { return bhttp::async_write(s, res, use_tuple); });
    co_return !ec;
  }

  // Waits for the client to close the connection, discarding what it sends; true when it did so
  // within `timeout`.
  asio::awaitable<bool> client_closed(std::chrono::milliseconds timeout) {
    lowest().expires_after(timeout);
    std::array<char, 1024> scratch;
    for (;;) {
      auto [ec, n] = co_await with(
          [&](auto& s) { return s.async_read_some(asio::buffer(scratch), use_tuple); });
      if (ec) co_return ec != beast::error::timeout;
    }
  }
};

asio::awaitable<void> sleep_for(Clock::duration d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(use_tuple);
}

std::string chunk(std::string_view data) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return std::string(size) + std::string(data) + "\r\n";
}

class TestServer {
 public:
  using Handler = std::function<asio::awaitable<void>(ServerConn&)>;

  TestServer(asio::io_context& ioc, Handler handler, ssl::context* tls)
      : ioc_(ioc),
        acceptor_(ioc, {asio::ip::make_address("127.0.0.1"), 0}),
        handler_(std::move(handler)),
        tls_(tls) {
    asio::co_spawn(ioc_, accept_loop(), asio::detached);
  }

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::string url(std::string_view path, std::string_view host = "127.0.0.1") const {
    return std::string(tls_ ? "https://" : "http://") + std::string(host) + ":" +
           std::to_string(port()) + std::string(path);
  }
  int accepted() const { return accepted_; }

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
      if (ec) co_return;
      const int index = ++accepted_;
      asio::co_spawn(ioc_, serve(std::move(socket), index), asio::detached);
    }
  }

  asio::awaitable<void> serve(tcp::socket socket, int index) {
    ServerConn conn;
    conn.index = index;
    if (tls_ != nullptr) {
      conn.tls.emplace(std::move(socket), *tls_);
      conn.lowest().expires_after(5s);
      auto [ec] = co_await conn.tls->async_handshake(ssl::stream_base::server, use_tuple);
      if (ec) co_return;  // e.g. the client rejected our certificate
      if (const char* name =
              SSL_get_servername(conn.tls->native_handle(), TLSEXT_NAMETYPE_host_name)) {
        conn.sni = name;
      }
    } else {
      conn.plain.emplace(std::move(socket));
    }
    co_await handler_(conn);
  }

  asio::io_context& ioc_;
  tcp::acceptor acceptor_;
  Handler handler_;
  ssl::context* tls_;
  std::atomic<int> accepted_{0};
};

// Answers every request on the connection with "METHOD TARGET|host|user-agent|x-test|
// content-length|body", status 201 for POST and 200 otherwise.
TestServer::Handler echo_handler() {
  return [](ServerConn& conn) -> asio::awaitable<void> {
    for (;;) {
      auto req = co_await conn.read_request();
      if (!req) co_return;
      const auto field = [&](bhttp::field f) { return std::string((*req)[f]); };
      std::string body = std::string(req->method_string()) + " " + std::string(req->target()) +
                         "|" + field(bhttp::field::host) + "|" + field(bhttp::field::user_agent) +
                         "|" + std::string((*req)["x-test"]) + "|" +
                         field(bhttp::field::content_length) + "|" + req->body();
      const unsigned status = req->method() == bhttp::verb::post ? 201 : 200;
      // Named, not braced in the call: g++ 12 rejects an initializer list inside co_await.
      std::vector<std::pair<std::string, std::string>> headers;
      headers.emplace_back("X-Reply", "yes");
      if (!co_await conn.respond(status, std::move(body), true, std::move(headers))) co_return;
    }
  };
}

// ---------------------------------------------------------------------------------------------
// A throwaway PKI for the TLS tests: a CA and a server certificate signed by it.

using KeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using CertPtr = std::unique_ptr<X509, decltype(&X509_free)>;

void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) throw std::runtime_error(std::string("bad certificate extension ") + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// `issuer` null: self-signed CA. Otherwise a server certificate with the given subjectAltName.
CertPtr make_certificate(EVP_PKEY* key, const char* common_name, X509* issuer,
                         EVP_PKEY* issuer_key, const char* subject_alt_name, long serial) {
  CertPtr cert(X509_new(), &X509_free);
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert.get()), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
  if (issuer == nullptr) {
    add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    add_extension(cert.get(), signer, NID_subject_key_identifier, "hash");
  } else {
    add_extension(cert.get(), signer, NID_basic_constraints, "CA:FALSE");
    add_extension(cert.get(), signer, NID_ext_key_usage, "serverAuth");
    add_extension(cert.get(), signer, NID_subject_alt_name, subject_alt_name);
  }
  if (X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) == 0) {
    throw std::runtime_error("cannot sign test certificate");
  }
  return cert;
}

std::string pem_of(X509* cert) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  PEM_write_bio_X509(bio.get(), cert);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

std::string pem_of(EVP_PKEY* key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

// A CA written to a temp file (for ClientOptions::extra_ca_file) and a server TLS context whose
// certificate, signed by that CA, names `subject_alt_name`.
struct TestPki {
  explicit TestPki(const char* subject_alt_name) : server_context(ssl::context::tls_server) {
    KeyPtr ca_key(EVP_EC_gen("P-256"), &EVP_PKEY_free);
    KeyPtr server_key(EVP_EC_gen("P-256"), &EVP_PKEY_free);
    if (!ca_key || !server_key) throw std::runtime_error("cannot generate test keys");
    CertPtr ca = make_certificate(ca_key.get(), "aas test CA", nullptr, nullptr, nullptr, 1);
    CertPtr leaf = make_certificate(server_key.get(), "aas test server", ca.get(), ca_key.get(),
                                    subject_alt_name, 2);

    static std::atomic<int> counter{0};
    ca_file = std::filesystem::temp_directory_path() /
              ("aas-client-test-ca-" + std::to_string(::getpid()) + "-" +
               std::to_string(++counter) + ".pem");
    std::ofstream(ca_file) << pem_of(ca.get());

    const std::string leaf_pem = pem_of(leaf.get());
    const std::string key_pem = pem_of(server_key.get());
    server_context.use_certificate_chain(asio::buffer(leaf_pem));
    server_context.use_private_key(asio::buffer(key_pem), ssl::context::pem);
  }
  ~TestPki() {
    std::error_code ec;
    std::filesystem::remove(ca_file, ec);
  }
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  std::filesystem::path ca_file;
  ssl::context server_context;
};

// ---------------------------------------------------------------------------------------------

std::string why(const Result<ClientResponse>& r) {
  return r ? std::string() : r.error().message + " / " + r.error().detail;
}

ClientRequest get(std::string url) {
  ClientRequest req;
  req.method = "GET";
  req.url = std::move(url);
  return req;
}

ClientRequest post(std::string url, std::string body) {
  ClientRequest req;
  req.method = "POST";
  req.url = std::move(url);
  req.body = std::move(body);
  return req;
}

// Test-visible state shared with server handlers. Handlers capture it by shared_ptr: they may
// still run after a test body returns, until the fixture stops the io_context.
struct Probe {
  std::mutex mutex;
  std::vector<std::string> notes;
  std::promise<bool> closed;  // set by a handler when it sees the client close (or not)
  std::atomic<int> requests{0};

  void note(std::string s) {
    std::lock_guard lock(mutex);
    notes.push_back(std::move(s));
  }
  std::vector<std::string> all() {
    std::lock_guard lock(mutex);
    return notes;
  }
};

class HttpClientTest : public ::testing::Test {
 protected:
  ~HttpClientTest() override {
    work_.reset();
    ioc_.stop();
    for (auto& t : threads_) t.join();
  }

  void start(int threads) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { ioc_.run(); });
  }

  TestServer& server(TestServer::Handler handler, ssl::context* tls = nullptr) {
    servers_.push_back(std::make_unique<TestServer>(ioc_, std::move(handler), tls));
    return *servers_.back();
  }

  // Runs a coroutine on the io_context and waits for it; a hang fails the test, not the suite.
  template <class T>
  T run(asio::awaitable<T> a) {
    if (threads_.empty()) start(1);
    auto future = asio::co_spawn(ioc_, std::move(a), asio::use_future);
    if (future.wait_for(20s) != std::future_status::ready) {
      throw std::runtime_error("test coroutine did not finish");
    }
    return future.get();
  }

  asio::any_io_executor executor() { return ioc_.get_executor(); }

  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{ioc_.get_executor()};
  std::vector<std::unique_ptr<TestServer>> servers_;
  std::vector<std::thread> threads_;
};

bool wait_closed(std::promise<bool>& p) {
  auto f = p.get_future();
  return f.wait_for(30s) == std::future_status::ready && f.get();
}

// ---------------------------------------------------------------------------------------------

TEST_F(HttpClientTest, GetAndPostRoundTrip) {
  auto& srv = server(echo_handler());
  HttpClient client(executor(), {});

  ClientRequest g = get(srv.url("/echo?a=1&b=two#fragment"));
  g.headers.push_back({"x-test", "hello"});
  auto res = run(client.request(g));
  ASSERT_TRUE(res) << why(res);
  EXPECT_EQ(res->status, 200);
  const std::string host = "127.0.0.1:" + std::to_string(srv.port());
  EXPECT_EQ(res->body, "GET /echo?a=1&b=two|" + host + "|ai-agent-service|hello||");
  EXPECT_EQ(res->header("x-reply"), "yes");
  EXPECT_EQ(res->header("content-length"), std::to_string(res->body.size()));

  ClientRequest p = post(srv.url("/submit"), R"({"q":1})");
  p.headers.push_back({"X-Test", "again"});
  p.headers.push_back({"Content-Type", "application/json"});
  res = run(client.request(p));
  ASSERT_TRUE(res) << why(res);
  EXPECT_EQ(res->status, 201);
  EXPECT_EQ(res->body, "POST /submit|" + host + R"(|ai-agent-service|again|7|{"q":1})");

  // A POST without a body still says so, and a URL without a path asks for "/".
  res = run(client.request(post(srv.url(""), "")));
  ASSERT_TRUE(res) << why(res);
  EXPECT_EQ(res->body, "POST /|" + host + "|ai-agent-service||0|");
}

TEST_F(HttpClientTest, KeepAliveReusesTheConnection) {
  auto& srv = server(echo_handler());
  HttpClient client(executor(), {});
  for (int i = 0; i < 3; ++i) {
    auto res = run(client.request(get(srv.url("/n"))));
    ASSERT_TRUE(res) << why(res);
  }
  EXPECT_EQ(srv.accepted(), 1);
}

TEST_F(HttpClientTest, NoIdleSlotsMeansNoReuse) {
  auto& srv = server(echo_handler());
  ClientOptions options;
  options.max_idle_connections_per_host = 0;
  HttpClient client(executor(), options);
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(run(client.request(get(srv.url("/n")))));
  EXPECT_EQ(srv.accepted(), 2);
}

TEST_F(HttpClientTest, ConnectionCloseFromTheServerIsHonoured) {
  auto& srv = server([](ServerConn& conn) -> asio::awaitable<void> {
    if (co_await conn.read_request()) co_await conn.respond(200, "bye", false);
  });
  HttpClient client(executor(), {});
  for (int i = 0; i < 2; ++i) {
    auto res = run(client.request(get(srv.url("/"))));
    ASSERT_TRUE(res) << why(res);
    EXPECT_EQ(res->body, "bye");
  }
  EXPECT_EQ(srv.accepted(), 2);
}

TEST_F(HttpClientTest, BodyUntilEofIsRead) {
  auto& srv = server([](ServerConn& conn) -> asio::awaitable<void> {
    if (co_await conn.read_request()) co_await conn.write("HTTP/1.1 200 OK\r\n\r\nuntil the end");
  });
  HttpClient client(executor(), {});
  auto res = run(client.request(get(srv.url("/"))));
  ASSERT_TRUE(res) << why(res);
  EXPECT_EQ(res->body, "until the end");
}

TEST_F(HttpClientTest, IdleConnectionClosedByTheServerIsReplaced) {
  // Answers with keep-alive, then closes the idle connection anyway (as servers do on timeout).
  auto first_closed = std::make_shared<std::promise<void>>();
  auto& srv = server([first_closed](ServerConn& conn) -> asio::awaitable<void> {
    if (co_await conn.read_request()) co_await conn.respond(200, "ok", true);
    if (conn.index == 1) {
      conn.lowest().close();
      first_closed->set_value();
    }
  });
  HttpClient client(executor(), {});
  ASSERT_TRUE(run(client.request(get(srv.url("/1")))));
  // Waits for the server's close (an event, not a sleep); on loopback its FIN is then already
  // queued on the pooled socket, so the next request always takes the "closed while idle" path.
  first_closed->get_future().wait();
  auto res = run(client.request(get(srv.url("/2"))));
  ASSERT_TRUE(res) << why(res);
  EXPECT_EQ(res->body, "ok");
  EXPECT_EQ(srv.accepted(), 2);
}

TEST_F(HttpClientTest, ReusedConnectionDroppedBeforeAnswerIsRetriedOnce) {
  // The first connection answers once, then reads the next request and closes without a word:
  // the race between a server's idle close and our next request.
  auto probe = std::make_shared<Probe>();
  auto& srv = server([probe](ServerConn& conn) -> asio::awaitable<void> {
    for (int served = 0;; ++served) {
      auto req = co_await conn.read_request();
      if (!req) co_return;
      ++probe->requests;
      if (conn.index == 1 && served == 1) co_return;
      co_await conn.respond(200, "answer from " + std::to_string(conn.index));
    }
  });
  HttpClient client(executor(), {});
  ASSERT_TRUE(run(client.request(post(srv.url("/1"), "one"))));
  auto res = run(client.request(post(srv.url("/2"), "two")));
  ASSERT_TRUE(res) << why(res);
  EXPECT_EQ(res->body, "answer from 2");
  EXPECT_EQ(srv.accepted(), 2);
  EXPECT_EQ(probe->requests, 3);
}

TEST_F(HttpClientTest, FreshConnectionDroppedBeforeAnswerIsNotRetried) {
  auto& srv = server([](ServerConn& conn) -> asio::awaitable<void> {
    co_await conn.read_request();  // and close without answering
  });
  HttpClient client(executor(), {});
  auto res = run(client.request(post(srv.url("/"), "x")));
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().code, errc::unavailable);
  EXPECT_EQ(res.error().message, "upstream unavailable");
  EXPECT_EQ(srv.accepted(), 1);
}

TEST_F(HttpClientTest, MalformedResponseIsAnUpstreamError) {
  auto& srv = server([](ServerConn& conn) -> asio::awaitable<void> {
    if (co_await conn.read_request()) co_await conn.write("SPEAK FRIEND\r\n\r\n");
  });
  HttpClient client(executor(), {});
  auto res = run(client.request(get(srv.url("/"))));
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().code, errc::upstream_error);
  EXPECT_EQ(res.error().message, "invalid upstream response");
}

TEST_F(HttpClientTest, StreamDeliversChunksAsTheyArrive) {
  struct State {
    std::atomic<bool> first_seen{false};
    std::atomic<bool> second_sent{false};
  };
  auto state = std::make_shared<State>();
  auto& srv = server([state](ServerConn& conn) -> asio::awaitable<void> {
    if (!co_await conn.read_request()) co_return;
    if (!co_await conn.write(
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            "Transfer-Encoding: chunked\r\n\r\n" +
            chunk("data: first\n\n"))) {
      co_return;
    }
    // Hold the rest back until the client has the first event (polled, with a deadline after
    // which the test fails on second_sent_at_first_piece).
    for (int i = 0; i < 1000 && !state->first_seen; ++i) co_await sleep_for(10ms);
    state->second_sent = true;
    if (!co_await conn.write(chunk("data: second\n\n") + "0\r\n\r\n")) co_return;
    for (;;) {  // then serve the next request on the same connection
      auto req = co_await conn.read_request();
      if (!req) co_return;
      co_await conn.respond(200, "after the stream");
    }
  });
  HttpClient client(executor(), {});

  std::vector<std::string> events;  // "head:<status>" or the body pieces, in order
  std::optional<bool> second_sent_at_first_piece;
  auto on_head = [&](const ClientResponse& head) {
    events.push_back("head:" + std::to_string(head.status) + ":" +
                     std::string(head.header("content-type").value_or("")));
  };
  auto sink = [&](std::string_view bytes) {
    if (!second_sent_at_first_piece) {
      second_sent_at_first_piece = state->second_sent.load();
      state->first_seen = true;
    }
    events.emplace_back(bytes);
    return true;
  };
  auto res = run(client.stream(get(srv.url("/stream")), on_head, sink));
  ASSERT_TRUE(res) << why(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_TRUE(res->body.empty());
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.front(), "head:200:text/event-stream");
  ASSERT_TRUE(second_sent_at_first_piece.has_value());
  EXPECT_FALSE(*second_sent_at_first_piece) << "the first chunk waited for the second";
  std::string body;
  for (std::size_t i = 1; i < events.size(); ++i) body += events[i];
  EXPECT_EQ(body, "data: first\n\ndata: second\n\n");

  // A completely read chunked stream leaves the connection reusable.
  auto next = run(client.request(get(srv.url("/next"))));
  ASSERT_TRUE(next) << why(next);
  EXPECT_EQ(next->body, "after the stream");
  EXPECT_EQ(srv.accepted(), 1);
}

// The body piece starts small (a streamed answer's events are short and its piece lives as long
// as the stream) and grows when reads fill it: a large body still arrives whole, in order, and in
// pieces of at most 16 KB.
TEST_F(HttpClientTest, LargeStreamedBodyArrivesWholeInBoundedPieces) {
  std::string big;
  for (int i = 0; big.size() < 300'000; ++i) big += "line " + std::to_string(i) + "\n";
  auto& srv = server([big](ServerConn& conn) -> asio::awaitable<void> {
    if (co_await conn.read_request()) co_await conn.respond(200, big);
  });
  HttpClient client(executor(), {});
  std::string got;
  std::size_t largest = 0, pieces = 0;
  auto sink = [&](std::string_view bytes) {
    got.append(bytes);
    largest = std::max(largest, bytes.size());
    ++pieces;
    return true;
  };
  auto on_head = [](const ClientResponse&) {};
  auto res = run(client.stream(get(srv.url("/big")), on_head, sink));
  ASSERT_TRUE(res) << why(res);
  EXPECT_EQ(got, big);
  EXPECT_LE(largest, 16u * 1024);
  EXPECT_GE(pieces, big.size() / (16 * 1024));
}

TEST_F(HttpClientTest, SinkReturningFalseAbortsAndClosesTheConnection) {
  auto probe = std::make_shared<Probe>();
  auto& srv = server([probe](ServerConn& conn) -> asio::awaitable<void> {
    if (!co_await conn.read_request()) co_return;
    if (conn.index > 1) {
      co_await conn.respond(200, "fresh");
      co_return;
    }
    co_await conn.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk("tick"));
    probe->closed.set_value(co_await conn.client_closed(5000ms));
  });
  HttpClient client(executor(), {});
  int pieces = 0;
  auto res = run(client.stream(get(srv.url("/")), nullptr, [&](std::string_view) {
    ++pieces;
    return false;
  }));
  ASSERT_TRUE(res) << why(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(pieces, 1);
  EXPECT_TRUE(wait_closed(probe->closed));

  auto next = run(client.request(get(srv.url("/"))));
  ASSERT_TRUE(next) << why(next);
  EXPECT_EQ(next->body, "fresh");
  EXPECT_EQ(srv.accepted(), 2);
}

TEST_F(HttpClientTest, ConnectionRefusedIsUnavailable) {
  std::uint16_t port = 0;
  {
    tcp::acceptor probe(ioc_, {asio::ip::make_address("127.0.0.1"), 0});
    port = probe.local_endpoint().port();
  }  // closed again: nothing listens there now
  HttpClient client(executor(), {});
  auto res = run(client.request(get("http://127.0.0.1:" + std::to_string(port) + "/")));
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().code, errc::unavailable);
  EXPECT_NE(res.error().detail.find("connecting to 127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << res.error().detail;
}

TEST_F(HttpClientTest, InvalidUrlsAreRejected) {
  HttpClient client(executor(), {});
  for (const char* url : {"ftp://example.com/", "not a url", "http:///path", "http://h:99999/"}) {
    auto res = run(client.request(get(url)));
    ASSERT_FALSE(res) << url;
    EXPECT_EQ(res.error().code, errc::internal) << url;
  }
  ClientRequest bad_header = get("http://127.0.0.1:1/");
  bad_header.headers.push_back({"authorization", "Bearer x\r\nx-injected: 1"});
  auto res = run(client.request(bad_header));
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().code, errc::internal);
}

TEST_F(HttpClientTest, FirstByteTimeout) {
  auto probe = std::make_shared<Probe>();
  auto& srv = server([probe](ServerConn& conn) -> asio::awaitable<void> {
    if (co_await conn.read_request()) probe->closed.set_value(co_await conn.client_closed(10s));
  });
  HttpClient client(executor(), {});  // default first-byte timeout: a minute
  ClientRequest req = post(srv.url("/slow"), "{}");
  req.first_byte_timeout = 200ms;  // the per-request override applies
  // Were the override ignored, the server's 10 s wait would end in a closed connection, not in
  // a first-byte timeout: the error says which happened, with no clock read here.
  auto res = run(client.request(req));
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().code, errc::upstream_timeout);
  EXPECT_EQ(res.error().message, "upstream timed out");
  EXPECT_NE(res.error().detail.find("first byte"), std::string::npos) << res.error().detail;
  EXPECT_TRUE(wait_closed(probe->closed));
}

TEST_F(HttpClientTest, IdleTimeoutMidBody) {
  auto& srv = server([](ServerConn& conn) -> asio::awaitable<void> {
    if (!co_await conn.read_request()) co_return;
    co_await conn.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
    co_await conn.client_closed(10s);
  });
  ClientOptions options;
  options.idle_timeout = 200ms;
  HttpClient client(executor(), options);
  std::string received;
  int heads = 0;
  auto res = run(client.stream(
      get(srv.url("/")), [&](const ClientResponse&) { ++heads; },
      [&](std::string_view bytes) {
        received.append(bytes);
        return true;
      }));
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().code, errc::upstream_timeout);
  EXPECT_NE(res.error().detail.find("idle"), std::string::npos) << res.error().detail;
  EXPECT_EQ(heads, 1);
  EXPECT_EQ(received, "0123456789");  // what arrived was delivered before the timeout
}

// open() hands the body over as an object: a sink can pause the reading after a piece (the
// provider does, once the first event reached the client) and read() goes on from there; a body
// read whole gives its connection back to the pool.
TEST_F(HttpClientTest, OpenedBodyPausesAfterAPieceAndResumesThenPoolsItsConnection) {
  struct State {
    std::atomic<int> connections{0};
    std::atomic<bool> paused{false};
  };
  auto state = std::make_shared<State>();
  auto& srv = server([state](ServerConn& conn) -> asio::awaitable<void> {
    ++state->connections;
    if (!co_await conn.read_request()) co_return;
    if (!co_await conn.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n" + chunk("data: first\n\n")))
      co_return;
    for (int i = 0; i < 1000 && !state->paused; ++i) co_await sleep_for(10ms);
    if (!co_await conn.write(chunk("data: second\n\n") + "0\r\n\r\n")) co_return;
    for (;;) {
      auto req = co_await conn.read_request();
      if (!req) co_return;
      co_await conn.respond(200, "after the stream");
    }
  });
  HttpClient client(executor(), {});
  std::string received;
  std::string after_pause;  // what the first read() had delivered when it returned
  bool done_at_pause = true;
  ClientStream* body = nullptr;
  auto r = run([&]() -> asio::awaitable<Result<ClientResponse>> {
    BodySink sink = [&](std::string_view bytes) {
      received.append(bytes);
      body->pause();
      return true;
    };
    auto opened = co_await client.open(get(srv.url("/events")), std::move(sink));
    if (!opened) co_return opened.error();
    body = opened->body.get();
    auto first = co_await body->read();
    if (!first) co_return first.error();
    after_pause = received;
    done_at_pause = body->done();
    state->paused = true;
    while (!body->done()) {
      auto more = co_await body->read();
      if (!more) co_return more.error();
    }
    co_return co_await client.request(get(srv.url("/next")));
  }());
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(after_pause, "data: first\n\n");
  EXPECT_FALSE(done_at_pause);
  EXPECT_EQ(received, "data: first\n\ndata: second\n\n");
  EXPECT_EQ(r->body, "after the stream");
  EXPECT_EQ(state->connections.load(), 1) << "the body read whole gave its connection back";
}

TEST_F(HttpClientTest, TotalTimeout) {
  // Bytes keep coming, each gap well inside the idle timeout, but the exchange never ends.
  auto& srv = server([](ServerConn& conn) -> asio::awaitable<void> {
    if (!co_await conn.read_request()) co_return;
    if (!co_await conn.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")) co_return;
    for (int i = 0; i < 200; ++i) {
      if (!co_await conn.write(chunk("."))) co_return;
      co_await sleep_for(50ms);
    }
  });
  ClientOptions options;
  options.idle_timeout = 5s;
  HttpClient client(executor(), options);
  ClientRequest req = get(srv.url("/"));
  req.total_timeout = 1s;
  int pieces = 0;
  auto res = run(client.stream(req, nullptr, [&](std::string_view) {
    ++pieces;
    return true;
  }));
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().code, errc::upstream_timeout);
  EXPECT_NE(res.error().detail.find("total"), std::string::npos) << res.error().detail;
  // The limit struck inside the body (not before the head); how many 50 ms pieces fit in the
  // second depends on the machine's load, so only the first (sent at once) is required.
  EXPECT_GE(pieces, 1);
}

TEST_F(HttpClientTest, ResponseOverTheLimitFails) {
  auto& srv = server([](ServerConn& conn) -> asio::awaitable<void> {
    for (;;) {
      auto req = co_await conn.read_request();
      if (!req) co_return;
      if (req->target() == "/declared") {
        co_await conn.respond(200, std::string(4096, 'x'));
      } else if (req->target() == "/chunked") {
        co_await conn.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
                            chunk(std::string(800, 'x')) + chunk(std::string(800, 'y')) +
                            "0\r\n\r\n");
      } else {
        co_await conn.respond(200, std::string(1024, 'z'));
      }
    }
  });
  ClientOptions options;
  options.max_response_bytes = 1024;
  HttpClient client(executor(), options);
  for (const char* path : {"/declared", "/chunked"}) {
    auto res = run(client.request(get(srv.url(path))));
    ASSERT_FALSE(res) << path;
    EXPECT_EQ(res.error().code, errc::upstream_error) << path;
    EXPECT_EQ(res.error().message, "upstream response too large") << path;
  }
  auto res = run(client.request(get(srv.url("/exactly-the-limit"))));
  ASSERT_TRUE(res) << why(res);
  EXPECT_EQ(res->body.size(), 1024u);
}

asio::awaitable<std::size_t> race_with_timer(HttpClient& client, ClientRequest req,
                                             Clock::duration limit) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(co_await asio::this_coro::executor, limit);
  auto winner = co_await (client.request(std::move(req)) || timer.async_wait(asio::use_awaitable));
  co_return winner.index();
}

TEST_F(HttpClientTest, CancellationByAwaitableOperatorStopsAHungRequest) {
  auto probe = std::make_shared<Probe>();
  auto& srv = server([probe](ServerConn& conn) -> asio::awaitable<void> {
    if (co_await conn.read_request()) probe->closed.set_value(co_await conn.client_closed(10s));
  });
  HttpClient client(executor(), {});
  const std::size_t winner = run(race_with_timer(client, post(srv.url("/hang"), "{}"), 100ms));
  EXPECT_EQ(winner, 1u);  // the timer
  EXPECT_TRUE(wait_closed(probe->closed)) << "the connection was left open";
}

// A server that answers with one piece of a chunked body, then tells `probe` whether the client
// closed the connection (within 10 s).
TestServer::Handler one_piece_then_wait(std::shared_ptr<Probe> probe) {
  return [probe](ServerConn& conn) -> asio::awaitable<void> {
    if (!co_await conn.read_request()) co_return;
    co_await conn.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk("one"));
    probe->closed.set_value(co_await conn.client_closed(10s));
  };
}

TEST_F(HttpClientTest, CancellationSignalStopsAStreamMidBody) {
  auto probe = std::make_shared<Probe>();
  auto& srv = server(one_piece_then_wait(probe));
  HttpClient client(executor(), {});
  if (threads_.empty()) start(1);

  asio::cancellation_signal signal;
  std::string received;
  auto sink = [&](std::string_view bytes) {
    // Cancel once the body is flowing, from the io_context as Asio requires.
    if (received.empty()) {
      asio::post(ioc_, [&signal] { signal.emit(asio::cancellation_type::terminal); });
    }
    received.append(bytes);
    return true;
  };
  auto future =
      asio::co_spawn(ioc_, client.stream(get(srv.url("/")), nullptr, sink),
                     asio::bind_cancellation_slot(signal.slot(), asio::use_future));
  ASSERT_EQ(future.wait_for(30s), std::future_status::ready) << "cancellation was ignored";
  auto res = future.get();
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().message, "upstream request cancelled");
  EXPECT_EQ(received, "one");
  EXPECT_TRUE(wait_closed(probe->closed)) << "the connection was left open";
}

// An opened body read in the caller's own coroutine (no cancellation slot of its own) is ended
// by cancel() from another handler: the pending read returns at once as a cancelled one, the
// body is done, and the connection is closed.
TEST_F(HttpClientTest, CancelEndsAnOpenedBodysPendingRead) {
  auto probe = std::make_shared<Probe>();
  auto& srv = server(one_piece_then_wait(probe));
  HttpClient client(executor(), {});
  std::string received;
  ClientStream* body = nullptr;
  bool done = false;
  auto r = run([&]() -> asio::awaitable<Result<void>> {
    const auto ex = co_await asio::this_coro::executor;
    BodySink sink = [&](std::string_view bytes) {
      // Cancel once the body is flowing, from another handler (never from within the sink).
      if (received.empty()) asio::post(ex, [&] { body->cancel(); });
      received.append(bytes);
      return true;
    };
    auto opened = co_await client.open(get(srv.url("/")), std::move(sink));
    if (!opened) co_return opened.error();
    body = opened->body.get();
    auto read = co_await body->read();
    done = body->done();
    co_return read;
  }());
  ASSERT_FALSE(r) << "the read outlived its cancel()";
  EXPECT_EQ(r.error().message, "upstream request cancelled");
  EXPECT_EQ(received, "one");
  EXPECT_TRUE(done);
  EXPECT_TRUE(wait_closed(probe->closed)) << "the connection was left open";
}

TEST_F(HttpClientTest, ConcurrentRequestsFromManyStrandsShareThePool) {
  auto& srv = server(echo_handler());
  HttpClient client(executor(), {});
  start(2);
  constexpr int kWorkers = 4;
  constexpr int kRequestsEach = 25;
  std::atomic<int> ok{0};
  std::vector<std::future<void>> done;
  const std::string url = srv.url("/w");
  for (int w = 0; w < kWorkers; ++w) {
    auto worker = [&client, url, &ok]() -> asio::awaitable<void> {
      for (int i = 0; i < kRequestsEach; ++i) {
        auto res = co_await client.request(get(url));
        if (res && res->status == 200) ++ok;
      }
    };
    done.push_back(asio::co_spawn(asio::make_strand(ioc_), worker, asio::use_future));
  }
  for (auto& f : done) ASSERT_EQ(f.wait_for(20s), std::future_status::ready);
  EXPECT_EQ(ok, kWorkers * kRequestsEach);
  // Each worker holds at most one connection at a time, and idle ones are handed on.
  EXPECT_LE(srv.accepted(), kWorkers);
}

// --- TLS

TestServer::Handler tls_echo_handler(std::shared_ptr<Probe> probe) {
  return [probe](ServerConn& conn) -> asio::awaitable<void> {
    probe->note("sni=" + conn.sni);
    for (;;) {
      auto req = co_await conn.read_request();
      if (!req) co_return;
      if (!co_await conn.respond(200, "secure " + std::string(req->target()))) co_return;
    }
  };
}

TEST_F(HttpClientTest, TlsWithTheExtraCaSucceeds) {
  TestPki pki("DNS:localhost,IP:127.0.0.1");
  auto probe = std::make_shared<Probe>();
  auto& srv = server(tls_echo_handler(probe), &pki.server_context);
  ClientOptions options;
  options.extra_ca_file = pki.ca_file.string();
  HttpClient client(executor(), options);

  for (int i = 0; i < 2; ++i) {
    auto res = run(client.request(get(srv.url("/by-name", "localhost"))));
    ASSERT_TRUE(res) << why(res);
    EXPECT_EQ(res->body, "secure /by-name");
  }
  EXPECT_EQ(srv.accepted(), 1);  // TLS connections are pooled too

  auto res = run(client.request(get(srv.url("/by-address"))));
  ASSERT_TRUE(res) << why(res);
  EXPECT_EQ(res->body, "secure /by-address");
  // SNI names the host; an IP literal is not sent as a server name.
  EXPECT_EQ(probe->all(), (std::vector<std::string>{"sni=localhost", "sni="}));
}

TEST_F(HttpClientTest, TlsWithoutTheCaFailsVerification) {
  TestPki pki("DNS:localhost,IP:127.0.0.1");
  auto probe = std::make_shared<Probe>();
  auto& srv = server(tls_echo_handler(probe), &pki.server_context);
  HttpClient client(executor(), {});  // the system store only
  auto res = run(client.request(get(srv.url("/", "localhost"))));
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().code, errc::unavailable);
  EXPECT_NE(res.error().detail.find("TLS handshake"), std::string::npos) << res.error().detail;
  EXPECT_TRUE(probe->all().empty());  // no request got through
}

TEST_F(HttpClientTest, TlsWithTheWrongHostnameFails) {
  TestPki pki("DNS:wrong.example");
  auto probe = std::make_shared<Probe>();
  auto& srv = server(tls_echo_handler(probe), &pki.server_context);
  ClientOptions options;
  options.extra_ca_file = pki.ca_file.string();
  HttpClient client(executor(), options);
  for (const char* host : {"localhost", "127.0.0.1"}) {
    auto res = run(client.request(get(srv.url("/", host))));
    ASSERT_FALSE(res) << host;
    EXPECT_EQ(res.error().code, errc::unavailable) << host;
    EXPECT_NE(res.error().detail.find("TLS handshake"), std::string::npos) << res.error().detail;
  }
  EXPECT_TRUE(probe->all().empty());
}

// An HTTP proxy that understands CONNECT (as squid does): it notes each request's line and
// Proxy-Authorization, answers `status`, and with 200 splices the client to the named port on
// loopback in both directions.
class ConnectProxy {
 public:
  ConnectProxy(asio::io_context& ioc, std::shared_ptr<Probe> probe, unsigned status = 200)
      : ioc_(ioc), acceptor_(ioc, {asio::ip::make_address("127.0.0.1"), 0}), probe_(std::move(probe)),
        status_(status) {
    asio::co_spawn(ioc_, accept_loop(), asio::detached);
  }
  std::string url(std::string_view credentials = "") const {
    return "http://" + std::string(credentials) + "127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
  }

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
      if (ec) co_return;
      asio::co_spawn(ioc_, serve(std::make_shared<tcp::socket>(std::move(socket))), asio::detached);
    }
  }
  asio::awaitable<void> serve(std::shared_ptr<tcp::socket> client) {
    beast::flat_buffer buffer;
    bhttp::request<bhttp::empty_body> req;
    auto [ec, n] = co_await bhttp::async_read(*client, buffer, req, use_tuple);
    if (ec) co_return;
    probe_->note(std::string(req.method_string()) + " " + std::string(req.target()) + " auth=" +
                 std::string(req[bhttp::field::proxy_authorization]));
    const std::string target(req.target());
    const std::string head = "HTTP/1.1 " + std::to_string(status_) + " Proxy says\r\nContent-Length: 0\r\n\r\n";
    auto [wec, wn] = co_await asio::async_write(*client, asio::buffer(head), use_tuple);
    if (wec || status_ != 200) co_return;
    auto upstream = std::make_shared<tcp::socket>(ioc_);
    const auto port = static_cast<std::uint16_t>(std::stoi(target.substr(target.rfind(':') + 1)));
    auto [cec] = co_await upstream->async_connect({asio::ip::make_address("127.0.0.1"), port}, use_tuple);
    if (cec) co_return;
    asio::co_spawn(ioc_, pump(client, upstream), asio::detached);
    co_await pump(upstream, client);
  }
  static asio::awaitable<void> pump(std::shared_ptr<tcp::socket> from, std::shared_ptr<tcp::socket> to) {
    char data[4096];
    for (;;) {
      auto [ec, n] = co_await from->async_read_some(asio::buffer(data), use_tuple);
      if (ec) break;
      auto [wec, wn] = co_await asio::async_write(*to, asio::buffer(data, n), use_tuple);
      if (wec) break;
    }
    beast::error_code ignored;
    to->shutdown(tcp::socket::shutdown_send, ignored);
  }

  asio::io_context& ioc_;
  tcp::acceptor acceptor_;
  std::shared_ptr<Probe> probe_;
  unsigned status_;
};

TEST_F(HttpClientTest, HttpsGoesThroughTheProxyTunnelWithTheUpstreamsOwnTls) {
  TestPki pki("DNS:localhost,IP:127.0.0.1");
  auto seen = std::make_shared<Probe>();
  auto& srv = server(tls_echo_handler(seen), &pki.server_context);
  auto at_proxy = std::make_shared<Probe>();
  ConnectProxy proxy(ioc_, at_proxy);
  ClientOptions options;
  options.extra_ca_file = pki.ca_file.string();
  options.https_proxy = proxy.url("ai%40corp:s3cret@");
  HttpClient client(executor(), options);

  for (int i = 0; i < 2; ++i) {
    auto res = run(client.request(get(srv.url("/through", "localhost"))));
    ASSERT_TRUE(res) << why(res);
    EXPECT_EQ(res->body, "secure /through");
  }
  // One tunnel, reused; Basic credentials percent-decoded ("ai@corp:s3cret"); TLS to the upstream
  // itself (its SNI and certificate), not to the proxy.
  const std::string port = std::to_string(srv.port());
  EXPECT_EQ(at_proxy->all(), (std::vector<std::string>{"CONNECT localhost:" + port + " auth=Basic YWlAY29ycDpzM2NyZXQ="}));
  EXPECT_EQ(seen->all(), (std::vector<std::string>{"sni=localhost"}));
}

TEST_F(HttpClientTest, NoProxyAndPlainHttpGoDirect) {
  TestPki pki("DNS:localhost,IP:127.0.0.1");
  auto seen = std::make_shared<Probe>();
  auto& tls_srv = server(tls_echo_handler(seen), &pki.server_context);
  auto& plain_srv = server([](ServerConn& conn) -> asio::awaitable<void> {
    auto req = co_await conn.read_request();
    if (req) co_await conn.respond(200, "plain");
  });
  auto at_proxy = std::make_shared<Probe>();
  ConnectProxy proxy(ioc_, at_proxy);
  ClientOptions options;
  options.extra_ca_file = pki.ca_file.string();
  options.https_proxy = proxy.url();
  options.no_proxy = {"example.com", ".LOCALHOST"};
  HttpClient client(executor(), options);
  auto direct = run(client.request(get(tls_srv.url("/", "localhost"))));
  ASSERT_TRUE(direct) << why(direct);
  auto plain = run(client.request(get(plain_srv.url("/"))));
  ASSERT_TRUE(plain) << why(plain);
  EXPECT_EQ(plain->body, "plain");
  EXPECT_TRUE(at_proxy->all().empty()) << "NO_PROXY matched localhost; http never uses the proxy";
}

TEST_F(HttpClientTest, AProxyRefusingTheTunnelIsUnavailableAndSaysWhy) {
  TestPki pki("DNS:localhost,IP:127.0.0.1");
  auto seen = std::make_shared<Probe>();
  auto& srv = server(tls_echo_handler(seen), &pki.server_context);
  auto at_proxy = std::make_shared<Probe>();
  ConnectProxy proxy(ioc_, at_proxy, 407);
  ClientOptions options;
  options.extra_ca_file = pki.ca_file.string();
  options.https_proxy = proxy.url("user:wrong-password@");
  HttpClient client(executor(), options);
  auto res = run(client.request(get(srv.url("/", "localhost"))));
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().code, errc::unavailable);
  EXPECT_NE(res.error().detail.find("407"), std::string::npos) << res.error().detail;
  EXPECT_NE(res.error().detail.find("HTTPS_PROXY"), std::string::npos) << res.error().detail;
  EXPECT_EQ(res.error().detail.find("wrong-password"), std::string::npos) << res.error().detail;
  EXPECT_TRUE(seen->all().empty()) << "nothing reached the upstream";
}

TEST(ProxyUrl, OnlyPlainHttpProxiesWithAHost) {
  EXPECT_TRUE(validate_proxy_url("http://proxy.corp:3128"));
  EXPECT_TRUE(validate_proxy_url("http://user:pa%40ss@10.0.0.1:8080"));
  EXPECT_FALSE(validate_proxy_url("https://proxy.corp:3128"));
  EXPECT_FALSE(validate_proxy_url("socks5://proxy.corp:1080"));
  auto bad = validate_proxy_url("not a url with a secret");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message.find("secret"), std::string::npos);
}

TEST_F(HttpClientTest, MissingExtraCaFileFailsAtConstruction) {
  ClientOptions options;
  options.extra_ca_file = "/nonexistent/aas-ca.pem";
  EXPECT_THROW(HttpClient(executor(), options), std::runtime_error);
}

}  // namespace
}  // namespace aas::http
