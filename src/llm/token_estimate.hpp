#pragma once
#include "llm/provider.hpp"

#include <cstdint>
#include <string_view>
#include <vector>

namespace aas::llm {

// A rough token count (about four bytes a token, as OpenAI suggests for English) for when no
// exact tokenizer or provider figure is available. Results built from it are flagged estimated.
std::int64_t estimate_tokens(std::string_view text);
// Adds the few tokens of framing each chat message costs.
std::int64_t estimate_prompt_tokens(const std::vector<ChatMessage>& messages);

}  // namespace aas::llm
