#pragma once
// HS256 tokens signed by hand (OpenSSL's HMAC), for headers and claims libjwt would never write:
// the JWT unit tests and the jwt fuzz target (tests/fuzz/jwt.cpp) share it.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>
#include <string_view>

namespace aas::testing {

inline std::string base64url(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

inline std::string hand_signed_hs256(std::string_view header, std::string_view payload,
                                     std::string_view key) {
  const std::string input = base64url(header) + "." + base64url(payload);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  return input + "." + base64url(std::string_view(reinterpret_cast<const char*>(mac), len));
}

}  // namespace aas::testing
