#include "http/connection_gate.hpp"

#include <gtest/gtest.h>

namespace aas::http {
namespace {

using boost::asio::ip::make_address;
using Verdict = ConnectionGate::Verdict;

TEST(ConnectionGate, CapsEachClientAndCountsReleases) {
  ConnectionGate gate({.max_total = 100, .max_per_client = 2});
  const auto a = make_address("203.0.113.7");
  const auto b = make_address("203.0.113.8");
  EXPECT_EQ(gate.admit(a), Verdict::admitted);
  EXPECT_EQ(gate.admit(a), Verdict::admitted);
  EXPECT_EQ(gate.admit(a), Verdict::client_full);
  EXPECT_EQ(gate.admit(b), Verdict::admitted) << "another client is not held up";
  EXPECT_EQ(gate.open(), 3u);
  gate.release(a);
  EXPECT_EQ(gate.admit(a), Verdict::admitted) << "a released slot is free again";
  EXPECT_EQ(gate.open(), 3u);
}

TEST(ConnectionGate, CapsTheServerButKeepsAReserveForLoopback) {
  ConnectionGate gate({.max_total = 3, .max_per_client = 0, .loopback_reserve = 2});
  for (const char* peer : {"198.51.100.1", "198.51.100.2", "198.51.100.3"})
    EXPECT_EQ(gate.admit(make_address(peer)), Verdict::admitted) << peer;
  EXPECT_EQ(gate.admit(make_address("198.51.100.4")), Verdict::server_full);
  EXPECT_EQ(gate.admit(make_address("127.0.0.1")), Verdict::admitted) << "the health check gets through";
  EXPECT_EQ(gate.admit(make_address("::1")), Verdict::admitted);
  EXPECT_EQ(gate.admit(make_address("127.0.0.1")), Verdict::server_full) << "the reserve is bounded too";
  gate.release(make_address("198.51.100.1"));
  EXPECT_EQ(gate.open(), 4u);
  EXPECT_EQ(gate.admit(make_address("198.51.100.4")), Verdict::server_full) << "loopback still holds more than the cap";
  gate.release(make_address("::1"));
  gate.release(make_address("127.0.0.1"));
  EXPECT_EQ(gate.admit(make_address("198.51.100.4")), Verdict::admitted);
  EXPECT_EQ(gate.admit(make_address("198.51.100.5")), Verdict::server_full);
}

TEST(ConnectionGate, ZeroMeansNoCap) {
  ConnectionGate gate({.max_total = 0, .max_per_client = 0});
  const auto a = make_address("203.0.113.7");
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(gate.admit(a), Verdict::admitted);
  EXPECT_EQ(gate.open(), 1000u);
}

TEST(ConnectionGate, AnIpv6ClientIsItsSlash64AndAMappedIpv4IsItsIpv4) {
  ConnectionGate gate({.max_total = 100, .max_per_client = 2});
  EXPECT_EQ(gate.admit(make_address("2001:db8:1:2::1")), Verdict::admitted);
  EXPECT_EQ(gate.admit(make_address("2001:db8:1:2:ffff::9")), Verdict::admitted);
  EXPECT_EQ(gate.admit(make_address("2001:db8:1:2::abcd")), Verdict::client_full) << "same /64";
  EXPECT_EQ(gate.admit(make_address("2001:db8:1:3::1")), Verdict::admitted) << "another /64";

  EXPECT_EQ(gate.admit(make_address("192.0.2.1")), Verdict::admitted);
  EXPECT_EQ(gate.admit(make_address("::ffff:192.0.2.1")), Verdict::admitted);
  EXPECT_EQ(gate.admit(make_address("192.0.2.1")), Verdict::client_full) << "a dual-stack listener's view of the same client";
  gate.release(make_address("::ffff:192.0.2.1"));
  EXPECT_EQ(gate.admit(make_address("192.0.2.1")), Verdict::admitted);
}

}  // namespace
}  // namespace aas::http
