// Dead-peer detection on a streamed connection: the options land on a real TCP socket.
#include "http/socket_options.hpp"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

namespace aas::http {
namespace {

int option(int fd, int level, int name) {
  int value = -1;
  socklen_t len = sizeof value;
  EXPECT_EQ(getsockopt(fd, level, name, &value, &len), 0);
  return value;
}

TEST(DetectDeadPeers, SetsKeepaliveProbesAndAUserTimeout) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(option(fd, SOL_SOCKET, SO_KEEPALIVE), 0);
  ASSERT_TRUE(detect_dead_peers(fd, std::chrono::seconds(30)));
  EXPECT_EQ(option(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
  EXPECT_EQ(option(fd, IPPROTO_TCP, TCP_KEEPIDLE), 10);
  EXPECT_EQ(option(fd, IPPROTO_TCP, TCP_KEEPINTVL), 3);
  EXPECT_EQ(option(fd, IPPROTO_TCP, TCP_KEEPCNT), 3);
  EXPECT_EQ(option(fd, IPPROTO_TCP, TCP_USER_TIMEOUT), 30000);
  close(fd);
}

TEST(DetectDeadPeers, ReportsWhatTheKernelRefuses) {
  EXPECT_FALSE(detect_dead_peers(-1, std::chrono::seconds(30)));
}

}  // namespace
}  // namespace aas::http
