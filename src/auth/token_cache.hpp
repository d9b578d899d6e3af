#pragma once
// Remembers the principal of a token that was verified, until the token expires, so the same
// token is not verified again on every request. Verifying an HS256 JWT through libjwt and OpenSSL 3
// costs ~85,000 instructions (OpenSSL fetches the digest by name, libjwt base64-decodes through
// BIO chains, jansson parses the claims): 16 % of a whole gateway call (bench/gateway/cost.sh).
// A client sends the same token for many requests, so a hit is the common case.
//
// What is kept: only principals that carry `valid_until` (a JWT's exp plus the leeway, set by the
// JwtVerifier); a principal without it (the main backend's answer for an opaque token, cached by
// BackendAuthenticator itself under its own rules) is passed through and not kept. Refusals are
// never kept: a bad token is checked each time. The key is the whole token, compared exactly.
// The result of verifying a given token can only change with time (exp, nbf, iat), and the cache
// is bounded by exp; keys and options do not change while the service runs.
#include "auth/authenticator.hpp"
#include "core/clock.hpp"

#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

namespace aas::auth {

class VerifiedTokenCache final : public Authenticator {
 public:
  // At most `max_entries` tokens (each a few hundred bytes); when full, the cache starts afresh,
  // which also drops expired entries: no per-entry bookkeeping on the hot path.
  VerifiedTokenCache(const Authenticator& inner, const Clock& clock, std::size_t max_entries = 4096)
      : inner_(inner), clock_(clock), max_entries_(max_entries) {}

  boost::asio::awaitable<Result<Principal>> authenticate(std::string_view token) const override;

  std::size_t size() const;

 private:
  const Authenticator& inner_;
  const Clock& clock_;
  const std::size_t max_entries_;
  mutable std::mutex mutex_;  // requests are served on several threads
  mutable std::unordered_map<std::string, Principal> verified_;
};

}  // namespace aas::auth
