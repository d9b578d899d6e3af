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

// The prompt tokens of a chat request to `upstream_model` with tiktoken's tables: exact for
// OpenAI's models (as OpenAI counts chat framing); for others (Anthropic, local models) an
// estimate by cl100k_base, closer to their tokenizers than counting bytes.
std::int64_t count_prompt_tokens(std::string_view upstream_model, const std::vector<ChatMessage>& messages);
// The tokens of an answer's text, the same way.
std::int64_t count_text_tokens(std::string_view upstream_model, std::string_view text);

}  // namespace aas::llm
