#include "llm/token_estimate.hpp"

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

}  // namespace aas::llm
