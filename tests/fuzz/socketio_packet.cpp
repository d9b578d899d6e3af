// A Socket.IO packet's text (what a browser sends in an Engine.IO message) -> decode. What
// decode accepts, encode must write back in a form decode accepts again, with the same meaning.
#include "realtime/socketio/packet.hpp"

#include <boost/json/value.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace sio = aas::realtime::socketio;
namespace json = boost::json;

namespace {

// JSON equality where doubles may differ in the last bit: Boost.JSON 1.81 does not parse numbers
// beyond 2^64 (or with many digits) to the nearest double, so a serialised double can come back
// one ulp away. That is Boost's documented precision, not a framing fault of ours.
bool same(const json::value& a, const json::value& b) {
  if (a.is_double() || b.is_double()) {
    if (!a.is_number() || !b.is_number()) return false;
    const double x = a.to_number<double>(), y = b.to_number<double>();
    return x == y || std::fabs(x - y) <= 1e-12 * std::fmax(std::fabs(x), std::fabs(y));
  }
  if (a.kind() != b.kind()) return false;
  if (a.is_array()) {
    const auto &p = a.as_array(), &q = b.as_array();
    if (p.size() != q.size()) return false;
    for (std::size_t i = 0; i < p.size(); ++i)
      if (!same(p[i], q[i])) return false;
    return true;
  }
  if (a.is_object()) {
    const auto &p = a.as_object(), &q = b.as_object();
    if (p.size() != q.size()) return false;
    for (const auto& kv : p) {
      const auto* other = q.if_contains(kv.key());
      if (!other || !same(kv.value(), *other)) return false;
    }
    return true;
  }
  return a == b;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto packet = sio::decode(text);
  if (!packet) return 0;
  const auto again = sio::decode(sio::encode(*packet));
  if (!again) std::abort();
  if (again->type != packet->type || again->nsp != packet->nsp || again->id != packet->id ||
      again->attachments != packet->attachments || !same(again->data, packet->data))
    std::abort();
  return 0;
}
