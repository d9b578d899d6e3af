// Engine.IO input: a WebSocket frame (text or binary, by the first byte) and an HTTP
// long-polling body -> the decoders. Accepted payloads must survive encode -> decode unchanged.
#include "realtime/socketio/engine_protocol.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace eio = aas::realtime::engineio;

namespace {

bool same(const eio::Packet& a, const eio::Packet& b) {
  return a.type == b.type && a.data == b.data && a.binary == b.binary;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool binary_frame = data[0] & 1;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);

  if (const auto frame = eio::decode_frame(bytes, binary_frame)) {
    const auto again = eio::decode_frame(eio::encode_frame(*frame), frame->binary);
    if (!again || !same(*again, *frame)) std::abort();
  }
  if (const auto packets = eio::decode_payload(bytes)) {
    const auto again = eio::decode_payload(eio::encode_payload(*packets));
    if (!again || again->size() != packets->size()) std::abort();
    for (std::size_t i = 0; i < packets->size(); ++i)
      if (!same((*again)[i], (*packets)[i])) std::abort();
  }
  if (const auto decoded = eio::base64_decode(bytes)) {
    const auto again = eio::base64_decode(eio::base64_encode(*decoded));
    if (!again || *again != *decoded) std::abort();
  }
  return 0;
}
