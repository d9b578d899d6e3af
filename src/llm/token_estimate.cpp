#include "llm/token_estimate.hpp"

#include "tokens/tokenizer.hpp"

#include <algorithm>
#include <span>
#include <string>

namespace aas::llm {

namespace {

tokens::Encoding encoding_of(std::string_view upstream_model) {
  return tokens::encoding_for_model(upstream_model).value_or(tokens::Encoding::cl100k_base);
}

// What a message costs beyond its text, with `count` counting a text's tokens.
template <class Count>
std::int64_t non_text_tokens(const ChatMessage& m, const Count& count) {
  std::int64_t total = 0;
  for (const ContentPart& p : m.parts)
    if (p.kind == ContentPart::Kind::image) total += image_tokens(p);
  for (const ToolCall& c : m.tool_calls)
    total += count(c.name) + count(c.arguments) + tokens_per_tool_call;
  if (!m.tool_call_id.empty()) total += count(m.tool_call_id);
  return total;
}

template <class Count>
std::int64_t tool_definition_tokens(const std::vector<ToolDefinition>& tools, const Count& count) {
  std::int64_t total = 0;
  for (const ToolDefinition& t : tools)
    total += count(t.name) + count(t.description) + count(t.parameters) + tokens_per_tool_definition;
  return total;
}

}  // namespace

std::int64_t image_tokens(const ContentPart& image) {
  return image.detail == "low" ? image_tokens_low_detail : image_tokens_default;
}

std::int64_t estimate_tokens(std::string_view text) {
  if (text.empty()) return 0;
  return static_cast<std::int64_t>((text.size() + 3) / 4);
}

std::int64_t estimate_prompt_tokens(const std::vector<ChatMessage>& messages) {
  constexpr std::int64_t per_message = 4;  // role and separators
  constexpr std::int64_t reply_priming = 3;
  std::int64_t total = reply_priming;
  for (const ChatMessage& m : messages)
    total += per_message + estimate_tokens(m.content) + non_text_tokens(m, estimate_tokens);
  return total;
}

std::int64_t estimate_request_tokens(const ChatRequest& req) {
  return estimate_prompt_tokens(req.messages) + tool_definition_tokens(req.tools, estimate_tokens);
}

std::int64_t estimate_tool_call_tokens(const std::vector<ToolCall>& calls) {
  std::int64_t total = 0;
  for (const ToolCall& c : calls)
    total += estimate_tokens(c.name) + estimate_tokens(c.arguments) + tokens_per_tool_call;
  return total;
}

std::int64_t count_text_tokens(std::string_view upstream_model, std::string_view text) {
  return static_cast<std::int64_t>(tokens::tokenizer(encoding_of(upstream_model)).count(text));
}

std::string_view utf8_prefix(std::string_view text, std::size_t max_bytes) noexcept {
  if (text.size() <= max_bytes) return text;
  std::size_t n = max_bytes;
  // Back off over continuation bytes (10xxxxxx) to the start of the character cut in two.
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  return text.substr(0, n);
}

std::string_view text_prefix_tokens(std::string_view upstream_model, std::string_view text, std::int64_t max_tokens) {
  if (max_tokens <= 0) return text.substr(0, 0);
  // No token is shorter than a byte: a text no longer than the cap fits whatever it holds.
  if (text.size() <= static_cast<std::size_t>(max_tokens)) return text;
  const tokens::Tokenizer& t = tokens::tokenizer(encoding_of(upstream_model));
  const std::vector<std::uint32_t> ids = t.encode(text);
  if (ids.size() <= static_cast<std::size_t>(max_tokens)) return text;
  // decode(encode(x)) == x for valid UTF-8, so the first ids decode to a prefix of the text
  // (possibly ending inside a character a later id completes).
  const std::string head = t.decode(std::span<const std::uint32_t>(ids.data(), static_cast<std::size_t>(max_tokens)));
  return utf8_prefix(text, std::min(head.size(), text.size()));
}

std::int64_t count_prompt_tokens(std::string_view upstream_model,
                                 const std::vector<ChatMessage>& messages) {
  const tokens::Encoding encoding = encoding_of(upstream_model);
  const auto count = [&](std::string_view text) {
    return static_cast<std::int64_t>(tokens::tokenizer(encoding).count(text));
  };
  std::vector<tokens::ChatMessage> converted;
  converted.reserve(messages.size());
  std::int64_t extra = 0;
  for (const ChatMessage& m : messages) {
    converted.push_back({m.role, m.content,
                         m.name.empty() ? std::nullopt : std::optional<std::string>(m.name)});
    extra += non_text_tokens(m, count);
  }
  return static_cast<std::int64_t>(tokens::count_chat(encoding, converted)) + extra;
}

std::int64_t count_request_tokens(const ChatRequest& req) {
  const tokens::Encoding encoding = encoding_of(req.model);
  const auto count = [&](std::string_view text) {
    return static_cast<std::int64_t>(tokens::tokenizer(encoding).count(text));
  };
  return count_prompt_tokens(req.model, req.messages) + tool_definition_tokens(req.tools, count);
}

std::int64_t count_tool_call_tokens(std::string_view upstream_model, const std::vector<ToolCall>& calls) {
  std::int64_t total = 0;
  for (const ToolCall& c : calls)
    total += count_text_tokens(upstream_model, c.name) + count_text_tokens(upstream_model, c.arguments) +
             tokens_per_tool_call;
  return total;
}

}  // namespace aas::llm
