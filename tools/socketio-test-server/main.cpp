// socketio-test-server: the tiny servers the official Engine.IO and Socket.IO protocol test suites
// expect (see /work/shared/vendor/socketio-protocol-tests/README.md and its reference/ servers),
// built from the service's own src/realtime/socketio and src/http, on one port:
//   /engine.io/  an Engine.IO server that echoes every message back to its sender;
//   /socket.io/  a Socket.IO server whose namespaces "/" and "/custom" emit `auth` (the handshake's
//                auth payload) on connection, answer `message` with `message-back` (same
//                arguments) and acknowledge `message-with-ack` with its arguments.
// pingInterval 300 ms, pingTimeout 200 ms, maxPayload 1e6, connect timeout 1 s, as the suites
// expect. Run by tests/socketio-protocol/run.sh.
#include "auth/jwt.hpp"
#include "core/clock.hpp"
#include "core/log.hpp"
#include "http/dispatcher.hpp"
#include "http/server.hpp"
#include "realtime/socketio/engine.hpp"
#include "realtime/socketio/mount.hpp"
#include "realtime/socketio/server.hpp"

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <iostream>
#include <thread>

namespace asio = boost::asio;
using namespace aas;
using namespace aas::realtime;

namespace {

// Echoes every Engine.IO message to its sender.
class Echo final : public engineio::Listener {
 public:
  void on_open(const std::shared_ptr<engineio::Session>&) override {}
  asio::awaitable<bool> on_message(const std::shared_ptr<engineio::Session>& session, std::string data,
                                   bool binary) override {
    session->send(std::move(data), binary);
    co_return true;
  }
  void on_close(const std::shared_ptr<engineio::Session>&, std::string_view) override {}
};

void setup(socketio::Namespace& ns) {
  ns.on_connection([](const std::shared_ptr<socketio::Socket>& socket) {
    socket->emit("auth", {boost::json::array{socket->auth()}, {}});
    socket->on("message", [](const std::shared_ptr<socketio::Socket>& s, socketio::Message m, const socketio::Ack&) {
      s->emit("message-back", std::move(m));
    });
    socket->on("message-with-ack",
               [](const std::shared_ptr<socketio::Socket>&, socketio::Message m, const socketio::Ack& ack) {
                 if (ack) ack(std::move(m));
               });
  });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"socketio-test-server: the servers of the official Engine.IO / Socket.IO protocol test suites"};
  http::ServerOptions server_options;
  server_options.host = "127.0.0.1";
  server_options.port = 0;
  server_options.shutdown_grace = std::chrono::milliseconds(1000);
  std::string log_level = "warn";
  app.add_option("--host", server_options.host, "Address to listen on")->capture_default_str();
  app.add_option("--port", server_options.port, "Port to listen on; 0 picks a free one")->capture_default_str();
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, off")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  setup_logging(log_level);
  access_log().set_level(spdlog::level::off);

  asio::io_context ioc(2);
  engineio::Options engine_options;
  engine_options.ping_interval = std::chrono::milliseconds(300);
  engine_options.ping_timeout = std::chrono::milliseconds(200);
  engine_options.max_payload = 1'000'000;
  server_options.max_body_bytes = engine_options.max_payload;
  server_options.websocket.max_message_bytes = engine_options.max_payload;

  Echo echo;
  engineio::Server engine(ioc.get_executor(), engine_options, echo);
  socketio::Options sio_options;
  sio_options.connect_timeout = std::chrono::milliseconds(1000);
  socketio::Server sio(ioc.get_executor(), engine_options, sio_options);
  setup(sio.of("/"));
  setup(sio.of("/custom"));

  http::Router router;
  for (auto& r : engineio::polling_routes(engine, "/engine.io")) router.add(std::move(r));
  for (auto& r : engineio::polling_routes(sio.engine(), "/socket.io")) router.add(std::move(r));
  // The suites also expect 400 (not the router's 405) for a PUT, as engine.io answers it.
  for (auto [path, e] : {std::pair{"/engine.io/", &engine}, std::pair{"/socket.io/", &sio.engine()}}) {
    http::Route put{"PUT", path, http::Access::open,
                    [e](http::Context& ctx) -> asio::awaitable<Result<http::Response>> {
                      co_return co_await e->handle_polling(ctx.request);
                    }};
    put.json_body = false;
    router.add(std::move(put));
  }
  // The dispatcher wants an authenticator though every route here is open.
  SystemClock clock;
  auth::JwtOptions jwt;
  jwt.hs256_secret = "socketio-test-server-has-no-authenticated-routes";
  auth::JwtVerifier verifier(jwt, clock);
  http::Dispatcher dispatcher(std::move(router), verifier, http::DispatcherOptions{});
  auto engine_upgrades = engineio::upgrade_handler(engine, "/engine.io");
  auto sio_upgrades = engineio::upgrade_handler(sio.engine(), "/socket.io");
  http::Server server(ioc, server_options, dispatcher, [&](const http::Request& req) {
    return req.path.starts_with("/engine.io") ? engine_upgrades(req) : sio_upgrades(req);
  });
  try {
    server.start();
  } catch (const std::exception& e) {
    std::cerr << "socketio-test-server: " << e.what() << std::endl;
    return 1;
  }
  // The test harness reads the port from this line.
  std::cout << "socketio-test-server listening on port " << server.port() << std::endl;

  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    engine.close_all();
    sio.engine().close_all();
    server.shutdown([&](bool) { ioc.stop(); });
  });
  std::thread second([&] { ioc.run(); });
  ioc.run();
  second.join();
  flush_logs();
  return 0;
}
