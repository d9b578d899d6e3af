#include "http/connection_gate.hpp"

#include <algorithm>
#include <string_view>

namespace aas::http {

namespace ip = boost::asio::ip;

namespace {

// A v4-mapped IPv6 peer (a dual-stack listener) is the IPv4 client it stands for.
ip::address unmapped(const ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return ip::make_address_v4(ip::v4_mapped, a.to_v6());
  return a;
}

}  // namespace

std::size_t ConnectionGate::KeyHash::operator()(const ClientKey& k) const noexcept {
  return std::hash<std::string_view>{}(std::string_view(reinterpret_cast<const char*>(k.data()), k.size()));
}

ConnectionGate::ClientKey ConnectionGate::client_of(const ip::address& peer) {
  ClientKey key{};
  const ip::address a = unmapped(peer);
  if (a.is_v4()) {
    const auto bytes = a.to_v4().to_bytes();
    std::copy(bytes.begin(), bytes.end(), key.begin());
    key[15] = 4;  // keeps 1.2.3.4 apart from the IPv6 prefix 0102:0304::/64
  } else {
    const auto bytes = a.to_v6().to_bytes();
    std::copy(bytes.begin(), bytes.begin() + 8, key.begin());
    key[15] = 6;
  }
  return key;
}

ConnectionGate::Verdict ConnectionGate::admit(const ip::address& peer) {
  const ClientKey key = client_of(peer);
  std::lock_guard lock(mutex_);
  if (limits_.max_total != 0) {
    const std::size_t cap = unmapped(peer).is_loopback() ? limits_.max_total + limits_.loopback_reserve
                                                         : limits_.max_total;
    if (total_ >= cap) return Verdict::server_full;
  }
  std::size_t& mine = per_client_[key];
  if (limits_.max_per_client != 0 && mine >= limits_.max_per_client) return Verdict::client_full;
  ++mine;
  ++total_;
  return Verdict::admitted;
}

void ConnectionGate::release(const ip::address& peer) {
  const ClientKey key = client_of(peer);
  std::lock_guard lock(mutex_);
  const auto it = per_client_.find(key);
  if (it == per_client_.end()) return;
  if (--it->second == 0) per_client_.erase(it);
  --total_;
}

std::size_t ConnectionGate::open() const {
  std::lock_guard lock(mutex_);
  return total_;
}

}  // namespace aas::http
