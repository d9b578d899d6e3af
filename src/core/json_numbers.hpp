#pragma once
// Boost.JSON parses a number too large for a double (1e999) as ±infinity, and serialises that as
// `Infinity`, which is not JSON: a value read from a client and written on (stored metadata, a
// relayed Socket.IO event, a tool schema sent upstream) would come out unreadable. Readers of
// untrusted JSON refuse such values with this check (found by tests/fuzz/socketio_packet).
#include <boost/json/fwd.hpp>

namespace aas {

// True when a number anywhere in `v` is not finite. The parser's depth limit bounds the recursion.
bool has_non_finite_number(const boost::json::value& v);

}  // namespace aas
