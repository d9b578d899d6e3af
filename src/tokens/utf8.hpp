#pragma once
// UTF-8 checks for the tokenizer. Internal to src/tokens.

#include <string>
#include <string_view>

namespace aas::tokens::detail {

bool is_valid_utf8(std::string_view text);

// Replaces each maximal invalid subsequence with U+FFFD, exactly as the WHATWG Encoding Standard's
// UTF-8 decoder (JavaScript's TextDecoder) does; valid sequences are kept byte for byte.
std::string replace_invalid_utf8(std::string_view text);

}  // namespace aas::tokens::detail
