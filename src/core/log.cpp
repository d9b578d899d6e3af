#include "core/log.hpp"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <chrono>
#include <cstdio>
#include <mutex>

namespace aas {

namespace {

// stdout through C stdio's buffer, flushed by spdlog's periodic flusher (once a second) and at
// exit. spdlog's own stdout sink flushes after every line: one write system call per request,
// a measurable share of a small request's cost.
class BufferedStdoutSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    std::fwrite(formatted.data(), 1, formatted.size(), stdout);
  }
  void flush_() override { std::fflush(stdout); }
};

std::shared_ptr<spdlog::logger> make_access_logger() {
  auto logger = std::make_shared<spdlog::logger>("access", std::make_shared<BufferedStdoutSink>());
  logger->set_pattern("%v");
  logger->flush_on(spdlog::level::off);
  spdlog::register_logger(logger);
  return logger;
}

}  // namespace

void setup_logging(std::string_view level) {
  auto lvl = spdlog::level::from_str(std::string(level));
  if (lvl == spdlog::level::off && level != "off") lvl = spdlog::level::info;
  auto logger = std::make_shared<spdlog::logger>(
      "aas", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  logger->set_level(lvl);
  spdlog::set_default_logger(logger);
  access_log().set_level(lvl == spdlog::level::off ? lvl : spdlog::level::info);
  spdlog::flush_every(std::chrono::seconds(1));
}

spdlog::logger& access_log() {
  static std::shared_ptr<spdlog::logger> logger = make_access_logger();
  return *logger;
}

void flush_logs() {
  access_log().flush();
  spdlog::default_logger()->flush();
}

}  // namespace aas
