#pragma once
// Token check against the main backend (MAIN_BACKEND_URL), as the plan's middleware does it:
// a token the local JWT check refuses is sent to `GET {base}/api/auth/verify` as a Bearer token,
// and the user the backend names becomes the principal. Answers are cached for a short while,
// keyed by the token's SHA-256 (the cache never holds a token), so a burst of requests with one
// token costs one backend call.
#include "auth/authenticator.hpp"
#include "auth/jwt.hpp"

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

namespace aas::http { class HttpClient; }

namespace aas::auth {

struct BackendOptions {
  std::string base_url;  // e.g. http://backend-1:4000; /api/auth/verify is appended
  std::chrono::milliseconds timeout{3000};            // the whole backend exchange
  std::chrono::milliseconds positive_ttl{60000};      // how long an accepted token is trusted
  std::chrono::milliseconds negative_ttl{10000};      // how long a refused token stays refused
  std::size_t max_cache_entries = 10000;
};

class BackendAuthenticator final : public Authenticator {
 public:
  // `local` and `clock` must outlive this object; `options` (user and role claims, admin role)
  // say how to read the backend's user object, as for token claims.
  BackendAuthenticator(const JwtVerifier& local, std::shared_ptr<http::HttpClient> client,
                       BackendOptions backend, JwtOptions claims, const Clock& clock);
  ~BackendAuthenticator() override;

  // The local check first; only when it refuses the token is the backend asked. A backend that
  // refuses (401/403, or a body saying `valid: false` / `success: false`) → unauthorized, cached;
  // one that cannot be reached, times out or answers anything else → unavailable (503), not
  // cached, so an outage does not log users out.
  boost::asio::awaitable<Result<Principal>> authenticate(std::string_view token) const override;

 private:
  struct Cache;
  const JwtVerifier& local_;
  std::shared_ptr<http::HttpClient> client_;
  BackendOptions backend_;
  JwtOptions claims_;
  const Clock& clock_;
  std::unique_ptr<Cache> cache_;
};

// The principal in a backend's answer body: the object under `user` (at the top or inside
// `data`), else `data`, else the body itself, read with the same user and role claims as a
// token. unauthorized when the body says the token is not valid; upstream_error when it names
// no user. Exposed for tests.
Result<Principal> principal_from_backend_body(std::string_view body, const JwtOptions& claims);

}  // namespace aas::auth
