// Arbitrary bytes (valid UTF-8 or not) -> the tokenizer, both encodings, with and without special
// tokens. count() must equal encode().size(), and decode(encode(x)) must give x with each invalid
// UTF-8 sequence replaced (tokenizer.hpp's contract).
#include "tokens/tokenizer.hpp"
#include "tokens/utf8.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace tk = aas::tokens;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const tk::Encoding encoding = (data[0] & 1) ? tk::Encoding::o200k_base : tk::Encoding::cl100k_base;
  const bool allow_special = data[0] & 2;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const tk::Tokenizer& t = tk::tokenizer(encoding);
  const auto ids = t.encode(text, allow_special);
  if (t.count(text, allow_special) != ids.size()) std::abort();
  if (t.decode(ids) != tk::detail::replace_invalid_utf8(text)) std::abort();
  return 0;
}
