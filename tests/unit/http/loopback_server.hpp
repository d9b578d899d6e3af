#pragma once
// The fixture of the server tests: an http::Server on 127.0.0.1 and a free port, run by two I/O
// threads that the destructor stops.
#include "auth/jwt.hpp"
#include "core/clock.hpp"
#include "http/dispatcher.hpp"
#include "http/server.hpp"

#include <gtest/gtest.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

namespace aas::http {

class LoopbackServerTest : public ::testing::Test {
 protected:
  LoopbackServerTest() : verifier_(auth::JwtOptions{}, clock_) {}
  ~LoopbackServerTest() override {
    work_.reset();
    ioc_.stop();
    for (auto& t : threads_) t.join();
  }

  void start_server(Router router, ServerOptions options = {}, DispatcherOptions dispatcher_options = {},
                    UpgradeHandler upgrades = {}) {
    options.host = "127.0.0.1";
    options.port = 0;
    dispatcher_ = std::make_unique<Dispatcher>(std::move(router), verifier_, std::move(dispatcher_options));
    server_ = std::make_unique<Server>(ioc_, options, *dispatcher_, std::move(upgrades));
    server_->start();
    ASSERT_NE(server_->port(), 0);
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { ioc_.run(); });
  }

  // Server::shutdown closes the listener on the accept strand, a moment after it returns: connect
  // until a connection is refused (the event itself), giving up only after a deadline for a hang.
  bool refuses_connections() {
    using namespace std::chrono_literals;
    const boost::asio::ip::tcp::endpoint listener(boost::asio::ip::make_address("127.0.0.1"), server_->port());
    for (const auto deadline = std::chrono::steady_clock::now() + 30s; std::chrono::steady_clock::now() < deadline;
         std::this_thread::sleep_for(10ms)) {
      boost::asio::io_context io;
      boost::asio::ip::tcp::socket probe(io);
      boost::system::error_code ec;
      probe.connect(listener, ec);
      if (ec) return true;
    }
    return false;
  }

  SystemClock clock_;
  auth::JwtVerifier verifier_;
  boost::asio::io_context ioc_{2};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{ioc_.get_executor()};
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<Server> server_;
  std::vector<std::thread> threads_;
};

}  // namespace aas::http
