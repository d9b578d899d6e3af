#pragma once
// Who may hold a connection: a cap per client address and one for the whole server, so that one
// client opening idle sockets cannot use up the process's file descriptors (issue 18, finding 7).
#include <boost/asio/ip/address.hpp>

#include <array>
#include <cstddef>
#include <mutex>
#include <unordered_map>

namespace aas::http {

struct ConnectionLimits {
  std::size_t max_total = 0;       // 0: no cap
  std::size_t max_per_client = 0;  // 0: no cap
  // Loopback peers (the container's health check, an operator's curl) may go this far past
  // max_total, so a server full of outside clients still answers them.
  std::size_t loopback_reserve = 16;
};

// Thread-safe: the acceptor admits, each connection's coroutine releases.
class ConnectionGate {
 public:
  enum class Verdict { admitted, client_full, server_full };

  explicit ConnectionGate(ConnectionLimits limits) : limits_(limits) {}

  // Counts the connection when admitted; every admitted peer must be released once.
  Verdict admit(const boost::asio::ip::address& peer);
  void release(const boost::asio::ip::address& peer);
  std::size_t open() const;

 private:
  // A client is an IPv4 address, or an IPv6 /64 (one host usually owns a whole /64, so a cap
  // per address would be a cap on nothing). An IPv4-mapped IPv6 address is its IPv4 address.
  using ClientKey = std::array<unsigned char, 16>;
  struct KeyHash {
    std::size_t operator()(const ClientKey& k) const noexcept;
  };
  static ClientKey client_of(const boost::asio::ip::address& peer);

  const ConnectionLimits limits_;
  mutable std::mutex mutex_;
  std::size_t total_ = 0;
  std::unordered_map<ClientKey, std::size_t, KeyHash> per_client_;
};

}  // namespace aas::http
