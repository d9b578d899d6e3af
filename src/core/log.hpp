#pragma once
// Logging goes through spdlog. Two loggers: the default one for events (human-readable, stderr),
// and `access` for one JSON line per HTTP request (stdout). Neither ever receives tokens, keys or
// message text.
#include <spdlog/spdlog.h>

#include <string_view>

namespace aas {

// level: trace, debug, info, warn, error, off. Unknown names fall back to info.
void setup_logging(std::string_view level);
spdlog::logger& access_log();
// Writes out what the buffered access log holds (at shutdown).
void flush_logs();

}  // namespace aas
