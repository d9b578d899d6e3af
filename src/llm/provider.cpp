#include "llm/provider.hpp"

namespace aas::llm {

void apply_tool_call_delta(std::vector<ToolCall>& calls, const ToolCallDelta& d) {
  if (d.index < 0) return;
  const auto index = static_cast<std::size_t>(d.index);
  // Indexes arrive in order; a gap (a server that skips one) is filled with empty calls so
  // that the index keeps naming the same call.
  if (index >= calls.size()) calls.resize(index + 1);
  ToolCall& call = calls[index];
  if (call.id.empty()) call.id = d.id;
  if (call.name.empty()) call.name = d.name;
  call.arguments += d.arguments;
}

bool plainly_supported(const ChatRequest& req) noexcept {
  if (!req.tools.empty() || !req.tool_choice.empty() || req.parallel_tool_calls ||
      req.response_format.kind != ResponseFormat::Kind::text || req.seed || req.presence_penalty ||
      req.frequency_penalty || req.logprobs || req.top_logprobs)
    return false;
  for (const ChatMessage& m : req.messages)
    if (!m.parts.empty() || !m.tool_calls.empty() || !m.tool_call_id.empty() || !m.name.empty()) return false;
  return true;
}

Error cannot_embed(std::string_view model) {
  return make_error(errc::invalid_request, "model " + std::string(model) + " cannot embed");
}

boost::asio::awaitable<Result<Embeddings>> LlmProvider::embed(const EmbeddingRequest& req) {
  co_return cannot_embed(req.model);
}

}  // namespace aas::llm
