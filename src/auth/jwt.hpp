#pragma once
// JWT verification and issuing over libjwt (never hand-rolled crypto).
#include "auth/authenticator.hpp"
#include "auth/principal.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"

#include <boost/json/fwd.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aas::auth {

struct JwtOptions {
  // HS256 shared with the monolith (JWT_SECRET). Empty when only public keys are used.
  std::string hs256_secret;
  // PEM public key for RS256 or ES256 (JWT_PUBLIC_KEY / JWT_PUBLIC_KEY_FILE). Empty if unused.
  std::string public_key_pem;
  // Accepted algorithms: a subset of HS256, RS256, ES256. "none" is never accepted.
  std::vector<std::string> algorithms{"HS256"};
  std::optional<std::string> issuer;    // checked against `iss` when set
  std::optional<std::string> audience;  // checked against `aud` (string or array) when set
  std::chrono::seconds leeway{30};      // allowed clock skew for exp / nbf
  // The user id is the first of these claims present (string or integer; `sub` must be a string).
  std::vector<std::string> user_claims{"sub", "id", "userId"};
  // Roles: the first of these claims present, a string or an array of strings.
  std::vector<std::string> role_claims{"role", "roles"};
  std::string admin_role = "admin";
};

class JwtVerifier final : public Authenticator {
 public:
  // Throws std::invalid_argument on a configuration that can never verify anything as intended:
  // no algorithm, one other than HS256/RS256/ES256 (or "none"), or a public_key_pem that does not
  // parse as a PEM public key. A missing key for an allowed algorithm is not an error here; such
  // tokens are simply rejected.
  JwtVerifier(JwtOptions options, const Clock& clock);
  // unauthorized (with a client-safe message) on any failure: malformed, alg none or not allowed,
  // bad signature, expired, not yet valid, wrong issuer or audience, no user id claim.
  Result<Principal> verify(std::string_view token) const;
  // verify(), as an Authenticator (no I/O: it completes at once).
  boost::asio::awaitable<Result<Principal>> authenticate(std::string_view token) const override;

 private:
  JwtOptions options_;
  const Clock& clock_;
};

// The principal a claims object names: the user id from the first of `user_claims` present
// (string or integer), roles from the first of `role_claims`, admin when they hold `admin_role`.
// Used for a token's payload and for the user object the main backend returns.
Result<Principal> principal_from_claims(const boost::json::object& claims, const JwtOptions& options);

struct TokenClaims {
  std::string user_id;
  std::vector<std::string> roles;
  std::chrono::seconds ttl{3600};
  std::optional<std::string> issuer;
  std::optional<std::string> audience;
};

// HS256 token for local use (`ai-agent-service token`) and tests.
Result<std::string> issue_hs256_token(const TokenClaims& claims, std::string_view secret,
                                      TimePoint now);

}  // namespace aas::auth
