#pragma once
// Digests and random secrets over OpenSSL (never hand-rolled crypto), as lowercase hex.
#include <cstddef>
#include <string>
#include <string_view>

namespace aas {

std::string to_hex(const unsigned char* bytes, std::size_t n);
// SHA-256 of `data`: 64 hex characters.
std::string sha256_hex(std::string_view data);
// HMAC-SHA256 of `data` under `key`: 64 hex characters.
std::string hmac_sha256_hex(std::string_view key, std::string_view data);
// `n` bytes from OpenSSL's CSPRNG, as 2n hex characters. Throws std::runtime_error when the
// generator fails (it has no entropy): no secret is better than a guessable one.
std::string random_hex(std::size_t n);
// Equal contents in a time that does not depend on where they differ (CRYPTO_memcmp).
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

}  // namespace aas
