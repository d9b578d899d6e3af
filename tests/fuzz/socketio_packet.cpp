// A Socket.IO packet's text (what a browser sends in an Engine.IO message) -> decode. What
// decode accepts, encode must write back in a form decode accepts again, with the same meaning.
#include "realtime/socketio/packet.hpp"

#include <boost/json/serialize.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace sio = aas::realtime::socketio;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto packet = sio::decode(text);
  if (!packet) return 0;
  const auto again = sio::decode(sio::encode(*packet));
  if (!again) std::abort();
  if (again->type != packet->type || again->nsp != packet->nsp || again->id != packet->id ||
      again->attachments != packet->attachments || again->data != packet->data)
    std::abort();
  return 0;
}
