#pragma once
// Standard base64 (RFC 4648, with padding), by OpenSSL's EVP_EncodeBlock / EVP_DecodeBlock.
#include <optional>
#include <string>
#include <string_view>

namespace aas {

std::string base64_encode(std::string_view bytes);
// nullopt for anything that is not canonical padded base64 (wrong length, a character outside the
// alphabet, whitespace, misplaced padding).
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace aas
