// Bearer tokens -> auth::JwtVerifier (HS256 and RS256 allowed, issuer and audience checked, a fixed
// clock). Half the inputs are used as the token as sent; the other half are taken as a claims
// object and signed with the right secret, so the checks behind the signature (exp/nbf numbers,
// iss/aud shapes, user and role claims) get fuzzed too and not only the base64 and the signature.
#include "auth/jwt.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

constexpr std::string_view kSecret = "fuzz-secret-of-reasonable-length-0123456789";

class FixedClock final : public aas::Clock {
 public:
  aas::TimePoint now() const override { return aas::from_unix_ms(1'800'000'000'000); }
};

std::string base64url(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

std::string hs256(std::string_view payload) {
  const std::string input = base64url(R"({"alg":"HS256","typ":"JWT"})") + "." + base64url(payload);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), kSecret.data(), static_cast<int>(kSecret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  return input + "." + base64url(std::string_view(reinterpret_cast<const char*>(mac), len));
}

const aas::auth::JwtVerifier& verifier() {
  static const FixedClock clock;
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
