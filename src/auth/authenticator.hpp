#pragma once
// How a request's bearer token becomes a Principal. The dispatcher knows only this interface; the
// JwtVerifier checks tokens locally, and BackendAuthenticator (MAIN_BACKEND_URL) also asks the
// monolith about the tokens the local check refuses.
#include "auth/principal.hpp"
#include "core/error.hpp"

#include <boost/asio/awaitable.hpp>

#include <string_view>

namespace aas::auth {

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // unauthorized (client-safe message) for a token that is not good; unavailable when it cannot
  // be checked right now. `token` must stay alive until the returned awaitable completes.
  virtual boost::asio::awaitable<Result<Principal>> authenticate(std::string_view token) const = 0;
};

}  // namespace aas::auth
