#include "llm/sse_parser.hpp"

#include <utility>

// Follows the WHATWG "Interpreting an event stream" rules, with two deliberate omissions: a leading
// byte-order mark is not stripped (no LLM upstream sends one) and `retry` is ignored (we do not
// reconnect: a broken model stream is an error, not something to resume).

namespace aas::llm {

namespace {

Error too_large(std::size_t limit) {
  return make_error(errc::upstream_error, "the model provider sent an invalid stream",
                    "server-sent event larger than " + std::to_string(limit) + " bytes");
}

}  // namespace

SseParser::SseParser(std::size_t max_event_bytes) : max_event_bytes_(max_event_bytes) {}

bool SseParser::has_partial() const {
  return !line_.empty() || has_data_ || !current_.event.empty();
}

Result<void> SseParser::feed(std::string_view bytes,
                             const std::function<void(SseEvent&&)>& on_event) {
  // One line is complete at each CR, LF or CRLF. A CR at the end of one feed and an LF at the
  // start of the next are one line end, so the CR is remembered across calls.
  const auto process_line = [&] {
    if (line_.empty()) {
      // A blank line dispatches. Without any data line there is nothing to dispatch, and the
      // event name collected so far is dropped with it (as the spec says).
      if (has_data_) {
        SseEvent ev;
        ev.event = current_.event.empty() ? "message" : std::move(current_.event);
        ev.data.swap(current_.data);
        ev.id = current_.id;  // the last event id carries over to later events
        on_event(std::move(ev));
        // The data's buffer back, unless the handler took it: the next event's data then needs
        // no allocation (one per relayed token otherwise).
        current_.data.swap(ev.data);
      }
      current_.event.clear();
      current_.data.clear();
      has_data_ = false;
      return;
    }
    if (line_.front() == ':') return;  // a comment: heartbeats look like this

    std::string_view line(line_);
    std::string_view field = line;
    std::string_view value;
    if (const auto colon = line.find(':'); colon != std::string_view::npos) {
      field = line.substr(0, colon);
      value = line.substr(colon + 1);
      if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    }
    if (field == "data") {
      if (has_data_) current_.data.push_back('\n');
      current_.data.append(value);
      has_data_ = true;
    } else if (field == "event") {
      current_.event.assign(value);
    } else if (field == "id") {
      if (value.find('\0') == std::string_view::npos) current_.id.assign(value);
    }
    // "retry" and unknown fields are ignored.
  };

  std::size_t pos = 0;
  while (pos < bytes.size()) {
    if (last_was_cr_) {
      last_was_cr_ = false;
      if (bytes[pos] == '\n') {  // the LF of a CRLF whose CR ended the previous line
        ++pos;
        continue;
      }
    }
    const std::size_t end = bytes.find_first_of("\r\n", pos);
    const std::string_view piece =
        bytes.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    // The whole event being built counts against the limit, so that neither one endless line
    // nor endless data lines can grow memory without bound.
    if (line_.size() + piece.size() + current_.data.size() + current_.event.size() >
        max_event_bytes_) {
      line_.clear();
      current_.data.clear();
      current_.event.clear();
      has_data_ = false;
      return too_large(max_event_bytes_);
    }
    line_.append(piece);
    if (end == std::string_view::npos) break;  // the line continues in the next feed

    process_line();
    line_.clear();
    last_was_cr_ = bytes[end] == '\r';
    pos = end + 1;
  }
  return {};
}

}  // namespace aas::llm
