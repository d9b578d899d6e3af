#include "http/socket_options.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace aas::http {

bool detect_dead_peers(int fd, std::chrono::seconds timeout) {
  const int on = 1;
  // Probe after a third of the timeout idle, then every tenth, three times.
  const int idle = static_cast<int>(std::max<long long>(1, timeout.count() / 3));
  const int interval = static_cast<int>(std::max<long long>(1, timeout.count() / 10));
  const int count = 3;
  const unsigned user_timeout_ms = static_cast<unsigned>(timeout.count() * 1000);
  bool ok = setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on) == 0;
  ok = setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle) == 0 && ok;
  ok = setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval) == 0 && ok;
  ok = setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count) == 0 && ok;
  ok = setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof user_timeout_ms) == 0 && ok;
  return ok;
}

}  // namespace aas::http
