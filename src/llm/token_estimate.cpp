#include "llm/token_estimate.hpp"

#include "tokens/tokenizer.hpp"

namespace aas::llm {

std::int64_t estimate_tokens(std::string_view text) {
  if (text.empty()) return 0;
  return static_cast<std::int64_t>((text.size() + 3) / 4);
}

std::int64_t estimate_prompt_tokens(const std::vector<ChatMessage>& messages) {
  constexpr std::int64_t per_message = 4;  // role and separators
  constexpr std::int64_t reply_priming = 3;
  std::int64_t total = reply_priming;
  for (const ChatMessage& m : messages) total += per_message + estimate_tokens(m.content);
  return total;
}

namespace {
tokens::Encoding encoding_of(std::string_view upstream_model) {
  return tokens::encoding_for_model(upstream_model).value_or(tokens::Encoding::cl100k_base);
}
}  // namespace

std::int64_t count_text_tokens(std::string_view upstream_model, std::string_view text) {
  return static_cast<std::int64_t>(tokens::tokenizer(encoding_of(upstream_model)).count(text));
}

std::int64_t count_prompt_tokens(std::string_view upstream_model,
                                 const std::vector<ChatMessage>& messages) {
  const tokens::Encoding encoding = encoding_of(upstream_model);
  std::vector<tokens::ChatMessage> converted;
  converted.reserve(messages.size());
  for (const ChatMessage& m : messages) converted.push_back({m.role, m.content, std::nullopt});
  return static_cast<std::int64_t>(tokens::count_chat(encoding, converted));
}

}  // namespace aas::llm
