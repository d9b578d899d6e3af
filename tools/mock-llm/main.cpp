// mock-llm: command line, server start-up and signal handling. The routes live in openai.cpp,
// anthropic.cpp and control.cpp; timing and faults in faults.cpp.
#include "mock.hpp"
#include "ticker.hpp"

#include "auth/jwt.hpp"
#include "core/clock.hpp"
#include "core/log.hpp"
#include "http/dispatcher.hpp"
#include "http/server.hpp"

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/spdlog.h>

#include <csignal>
#include <iostream>
#include <thread>

namespace asio = boost::asio;
using namespace aas;

int main(int argc, char** argv) {
  CLI::App app{"mock-llm: a fake OpenAI + Anthropic upstream with fault injection (see "
               "tools/mock-llm/README.md for the x-mock-* request headers)"};
  mockllm::Settings settings;
  http::ServerOptions server_options;
  server_options.host = "127.0.0.1";
  server_options.port = 0;
  // Embedding batches can be large; a test tool has no reason to be stricter than the real API.
  server_options.max_body_bytes = 64 * 1024 * 1024;
  // A drip never ends by itself: shutdown waits this long for open streams, then stops anyway.
  server_options.shutdown_grace = std::chrono::milliseconds(2000);

  long long delay_ms = 0;
  long long drip_interval_ms = 500;
  std::optional<std::size_t> answer_tokens;
  std::string models_csv;
  std::string log_level = "warn";
  bool access_log_on = false;
  unsigned threads = 1;

  app.add_option("--host", server_options.host, "Address to listen on")->capture_default_str();
  app.add_option("--port", server_options.port, "Port to listen on; 0 picks a free one")
      ->capture_default_str();
  app.add_option("--require-key", settings.require_key,
                 "API key every request must carry (Authorization: Bearer KEY, or x-api-key for "
                 "Anthropic); 401 otherwise");
  app.add_option("--models", models_csv,
                 "Comma-separated model ids: listed by /v1/models, any other model gets 404");
  app.add_option("--delay-ms", delay_ms, "Delay before the first token (or the whole answer)")
      ->check(CLI::Range(0LL, 3'600'000LL))
      ->capture_default_str();
  app.add_option("--tokens-per-second", settings.tokens_per_second,
                 "Pace of streamed tokens; 0 = as fast as possible")
      ->check(CLI::Range(0.0, 1e6))
      ->capture_default_str();
  app.add_option("--answer-tokens", answer_tokens,
                 "Answer length in tokens (default: the natural answer 'Mock answer to: ...')");
  app.add_option("--drip-interval-ms", drip_interval_ms, "Interval of x-mock-drip tokens")
      ->check(CLI::Range(1LL, 3'600'000LL))
      ->capture_default_str();
  app.add_option("--threads", threads, "I/O threads")->check(CLI::Range(1u, 64u))->capture_default_str();
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, off")->capture_default_str();
  app.add_flag("--access-log", access_log_on, "One JSON line per request on stdout");
  CLI11_PARSE(app, argc, argv);

  settings.delay = std::chrono::milliseconds(delay_ms);
  settings.drip_interval = std::chrono::milliseconds(drip_interval_ms);
  settings.answer_tokens = answer_tokens;
  for (std::size_t start = 0; start <= models_csv.size() && !models_csv.empty();) {
    const std::size_t comma = std::min(models_csv.find(',', start), models_csv.size());
    if (comma > start) settings.models.push_back(models_csv.substr(start, comma - start));
    start = comma + 1;
  }

  setup_logging(log_level);
  if (!access_log_on) access_log().set_level(spdlog::level::off);

  mockllm::Mock mock;
  mock.settings = std::move(settings);
  http::Router router;
  mockllm::add_openai_routes(router, mock);
  mockllm::add_anthropic_routes(router, mock);
  mockllm::add_shared_routes(router, mock);

  // The dispatcher wants a verifier even though every mock route is open; no token is ever checked.
  SystemClock clock;
  auth::JwtOptions jwt;
  jwt.hs256_secret = "mock-llm-has-no-authenticated-routes";
  auth::JwtVerifier verifier(jwt, clock);
  // No request timeout: a test may ask for a delay as long as it likes.
  http::Dispatcher dispatcher(std::move(router), verifier,
                              http::DispatcherOptions{{}, std::chrono::milliseconds(0)});

  asio::io_context ioc(static_cast<int>(threads));
  // Made after the io_context and so destroyed before it.
  mockllm::Ticker ticker(ioc.get_executor());
  mock.ticker = &ticker;
  http::Server server(ioc, server_options, dispatcher);
  try {
    server.start();
  } catch (const std::exception& e) {
    std::cerr << "mock-llm: " << e.what() << std::endl;
    return 1;
  }
  // Tests read the real port from this line.
  std::cerr << "mock-llm listening on http://" << server_options.host << ":" << server.port()
            << std::endl;

  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    server.shutdown([&](bool) { ioc.stop(); });
  });

  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads; ++i) pool.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : pool) t.join();
  flush_logs();
  return 0;
}
