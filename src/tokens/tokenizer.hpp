#pragma once
// Token counting that matches OpenAI's tiktoken exactly (cl100k_base, o200k_base), for the prompt
// estimates of limits and budgets. The tables come from the npm package `tiktoken` pinned in
// tests/blackbox/package-lock.json and are embedded at build time (src/tokens/data/generate.mjs).
//
// Text is UTF-8. Invalid UTF-8 is first replaced the way a JavaScript TextDecoder (and so the npm
// package, which only takes JS strings) does it: each maximal invalid subsequence becomes U+FFFD.
// decode(encode(x)) == x for valid UTF-8; for invalid input it gives that replaced text.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace aas::tokens {

enum class Encoding { cl100k_base, o200k_base };

std::string_view name(Encoding encoding);

class Tokenizer {
 public:
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;
  ~Tokenizer();

  // allow_special = false encodes special-token text such as "<|endoftext|>" as ordinary text
  // (tiktoken's encode_ordinary); true turns it into the special token (encode(text, "all")).
  std::vector<std::uint32_t> encode(std::string_view text, bool allow_special = false) const;

  // encode(text, allow_special).size(), without building the vector.
  std::size_t count(std::string_view text, bool allow_special = false) const;

  // Throws std::out_of_range for an id that is not in the encoding.
  std::string decode(std::span<const std::uint32_t> ids) const;

  Encoding encoding() const;

 private:
  friend const Tokenizer& tokenizer(Encoding encoding);
  explicit Tokenizer(Encoding encoding);

  struct Impl;
  std::unique_ptr<const Impl> impl_;
};

// The shared tokenizer of an encoding, built on first use (a few ms) and safe to use from any thread.
const Tokenizer& tokenizer(Encoding encoding);

// gpt-4o*, gpt-4.1*, gpt-4.5*, gpt-5*, o1*, o3*, o4* -> o200k_base; gpt-4*, gpt-3.5*,
// text-embedding-3*, text-embedding-ada-002 -> cl100k_base ("ft:" fine-tunes keep their base's);
// anything else -> nullopt (the caller decides how to estimate).
std::optional<Encoding> encoding_for_model(std::string_view model);

struct ChatMessage {
  std::string role;
  std::string content;
  std::optional<std::string> name;
};

// Prompt tokens of a chat request as OpenAI documents them (the cookbook's num_tokens_from_messages):
// 3 per message, plus the tokens of role and content, plus the name's tokens and 1 when it has one,
// plus 3 that prime the reply.
std::size_t count_chat(Encoding encoding, std::span<const ChatMessage> messages);

}  // namespace aas::tokens
