#include "core/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>

namespace aas {

namespace {
std::shared_ptr<spdlog::logger> make_access_logger() {
  auto logger = std::make_shared<spdlog::logger>(
      "access", std::make_shared<spdlog::sinks::stdout_sink_mt>());
  logger->set_pattern("%v");
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
}

spdlog::logger& access_log() {
  static std::shared_ptr<spdlog::logger> logger = make_access_logger();
  return *logger;
}

}  // namespace aas
