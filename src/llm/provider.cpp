#include "llm/provider.hpp"

#include <boost/asio/this_coro.hpp>
#include <boost/system/system_error.hpp>

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

namespace {

// A stream that ended while it was opened: its outcome, kept.
class EndedStream final : public OpenStream {
 public:
  explicit EndedStream(Completion c) : completion_(std::move(c)) {}
  boost::asio::awaitable<void> read_rest(const ChunkSink&) override { co_return; }
  Result<Completion> outcome(bool) override { return std::move(completion_); }

 private:
  Completion completion_;
};

}  // namespace

boost::asio::awaitable<Result<std::unique_ptr<OpenStream>>> LlmProvider::open_stream(const ChatRequest& req,
                                                                                     const ChunkSink& sink) {
  auto completion = co_await stream(req, sink);
  if (!completion) co_return completion.error();
  co_return std::make_unique<EndedStream>(std::move(*completion));
}

boost::asio::awaitable<Result<Completion>> stream_through(LlmProvider& provider, const ChatRequest& req,
                                                          const ChunkSink& sink) {
  auto opened = co_await provider.open_stream(req, sink);
  if (!opened) co_return opened.error();
  co_await (*opened)->read_rest(sink);
  const boost::asio::cancellation_state cs = co_await boost::asio::this_coro::cancellation_state;
  const bool cancelled = cs.cancelled() != boost::asio::cancellation_type::none;
  Result<Completion> completion = (*opened)->outcome(cancelled);
  if (cancelled) throw boost::system::system_error(boost::asio::error::operation_aborted);
  co_return completion;
}

}  // namespace aas::llm
