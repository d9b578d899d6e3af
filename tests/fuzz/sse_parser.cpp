// Upstream stream bytes -> llm::SseParser. The same bytes fed whole and fed in pieces (cut where
// the first input byte says, so CR|LF splits are reached) must give the same events: the parser's
// state across feed() calls is what a network split exercises.
#include "llm/sse_parser.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace {

struct Outcome {
  std::vector<aas::llm::SseEvent> events;
  bool failed = false;
};

Outcome run(std::string_view bytes, std::size_t piece) {
  aas::llm::SseParser parser(1024);  // small, so the size limit is reached too
  Outcome out;
  for (std::size_t pos = 0; pos < bytes.size() && !out.failed; pos += piece) {
    const auto r = parser.feed(bytes.substr(pos, piece),
                               [&](aas::llm::SseEvent&& ev) { out.events.push_back(std::move(ev)); });
    out.failed = r.has_error();
  }
  (void)parser.has_partial();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t piece = 1 + data[0] % 16;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  const Outcome whole = run(bytes, bytes.size() + 1);
  const Outcome split = run(bytes, piece);
  // The limit counts the buffered event, so where it trips may differ with the split; the events
  // before either failure must agree.
  if (!whole.failed && !split.failed) {
    if (whole.events.size() != split.events.size()) std::abort();
    for (std::size_t i = 0; i < whole.events.size(); ++i) {
      const auto& a = whole.events[i];
      const auto& b = split.events[i];
      if (a.event != b.event || a.data != b.data || a.id != b.id) std::abort();
    }
  }
  return 0;
}
