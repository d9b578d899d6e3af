#pragma once
// Incremental parser of the text/event-stream format (WHATWG HTML "server-sent events"): bytes go
// in as they arrive, whole events come out. Handles CRLF/LF/CR line ends split across chunks,
// multi-line data, comments (heartbeats) and a size limit per event.
#include "core/error.hpp"

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace aas::llm {

struct SseEvent {
  std::string event;  // "message" when the stream names none
  std::string data;   // data lines joined with '\n'
  std::string id;
};

class SseParser {
 public:
  explicit SseParser(std::size_t max_event_bytes = 4 * 1024 * 1024);
  // Feeds bytes; calls on_event for each complete event. upstream_error when an event grows
  // past the limit.
  Result<void> feed(std::string_view bytes, const std::function<void(SseEvent&&)>& on_event);
  // True when bytes of an unfinished event are buffered (a stream that ended mid-event).
  bool has_partial() const;

 private:
  std::size_t max_event_bytes_;
  std::string line_;
  SseEvent current_;
  bool has_data_ = false;
  bool last_was_cr_ = false;
};

}  // namespace aas::llm
