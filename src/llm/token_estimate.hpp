#pragma once
#include "llm/provider.hpp"

#include <cstdint>
#include <string_view>
#include <vector>

namespace aas::llm {

// What the parts of a request that are not text cost, since no tokenizer can count them:
// - an image: OpenAI's tile rule needs the image's size, which we do not decode; we charge
//   85 tokens for detail "low" (OpenAI's fixed price for it) and 765 otherwise (a 1024x1024
//   image at high detail: 4 tiles of 170 plus 85) — the price of a typical photo, so that limits
//   reserve enough without decoding anything.
// - a tool call: the tokens of its name and arguments, plus 3 for the framing;
// - a tool definition: the tokens of its name, description and parameter schema, plus 8.
inline constexpr std::int64_t image_tokens_low_detail = 85;
inline constexpr std::int64_t image_tokens_default = 765;
inline constexpr std::int64_t tokens_per_tool_call = 3;
inline constexpr std::int64_t tokens_per_tool_definition = 8;
std::int64_t image_tokens(const ContentPart& image);

// A rough token count (about four bytes a token, as OpenAI suggests for English) for when no
// exact tokenizer or provider figure is available. Results built from it are flagged estimated.
std::int64_t estimate_tokens(std::string_view text);
// Adds the few tokens of framing each chat message costs, images and tool calls.
std::int64_t estimate_prompt_tokens(const std::vector<ChatMessage>& messages);
// The whole prompt: the messages and the tool definitions.
std::int64_t estimate_request_tokens(const ChatRequest& req);
// An answer's tool calls.
std::int64_t estimate_tool_call_tokens(const std::vector<ToolCall>& calls);

// The prompt tokens of a chat request to `upstream_model` with tiktoken's tables: exact for
// OpenAI's models' text (as OpenAI counts chat framing); for others (Anthropic, local models) an
// estimate by cl100k_base, closer to their tokenizers than counting bytes. Images, tool calls
// and tool definitions are counted as described above.
std::int64_t count_prompt_tokens(std::string_view upstream_model, const std::vector<ChatMessage>& messages);
std::int64_t count_request_tokens(const ChatRequest& req);
// The tokens of an answer's text, the same way.
std::int64_t count_text_tokens(std::string_view upstream_model, std::string_view text);
// The longest prefix of `text` (whole UTF-8 characters) that has at most `max_tokens` tokens,
// counted the same way: where an answer that ran past its output cap is cut.
std::string_view text_prefix_tokens(std::string_view upstream_model, std::string_view text, std::int64_t max_tokens);
// The longest prefix of `text` of at most `max_bytes` bytes that does not split a UTF-8 character.
std::string_view utf8_prefix(std::string_view text, std::size_t max_bytes) noexcept;
std::int64_t count_tool_call_tokens(std::string_view upstream_model, const std::vector<ToolCall>& calls);

}  // namespace aas::llm
