#pragma once
// Socket settings the server applies to long-lived (streamed) connections.
#include <chrono>

namespace aas::http {

// A client that vanished without closing its connection (network gone, laptop asleep) is
// otherwise noticed only when TCP gives up retransmitting, ~15 minutes on Linux: its stream would
// keep the model call running and hold one of the user's concurrent-stream slots that long.
// Keepalive probes find a dead peer on an idle connection; TCP_USER_TIMEOUT drops one whose sent
// data stays unacknowledged for `timeout` (SSE heartbeats send something every 15 s). Returns
// false when the kernel refused an option (the connection works as before).
bool detect_dead_peers(int socket_fd, std::chrono::seconds timeout);

}  // namespace aas::http
