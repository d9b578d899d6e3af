// Bearer tokens -> auth::JwtVerifier (HS256, issuer and audience checked, a fixed
// clock). Half the inputs are used as the token as sent; the other half are taken as a claims
// object and signed with the right secret, so the checks behind the signature (exp/nbf numbers,
// iss/aud shapes, user and role claims) get fuzzed too and not only the base64 and the signature.
#include "auth/jwt.hpp"

#include "testing/fake_clock.hpp"
#include "testing/hs256.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

constexpr std::string_view kSecret = "fuzz-secret-of-reasonable-length-0123456789";

std::string hs256(std::string_view payload) {
  return aas::testing::hand_signed_hs256(R"({"alg":"HS256","typ":"JWT"})", payload, kSecret);
}

const aas::auth::JwtVerifier& verifier() {
  static const aas::testing::FakeClock clock(aas::from_unix_ms(1'800'000'000'000));
  static const aas::auth::JwtVerifier v = [] {
    aas::auth::JwtOptions o;
    o.hs256_secret = std::string(kSecret);
    o.algorithms = {"HS256"};
    o.issuer = "todo-app";
    o.audience = "ai";
    return aas::auth::JwtVerifier(o, clock);
  }();
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const auto r = (data[0] & 1) ? verifier().verify(hs256(rest)) : verifier().verify(rest);
  // An accepted token always names a user.
  if (r && r->user_id.empty()) std::abort();
  return 0;
}
