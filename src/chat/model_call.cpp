#include "chat/model_call.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include <variant>

namespace aas::chat {

namespace asio = boost::asio;

std::string_view to_string(CallEnd end) noexcept {
  switch (end) {
    case CallEnd::complete: return "complete";
    case CallEnd::interrupted: return "interrupted";
    case CallEnd::stopped: return "stopped";
    case CallEnd::cancelled: return "cancelled";
    case CallEnd::failed: return "failed";
  }
  return "failed";
}

namespace {

std::int64_t elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - since)
      .count();
}

void take_answer(CallResult& r, llm::Completion& c) {
  r.deployment = std::move(c.deployment);
  r.provider = std::move(c.provider);
  r.usage = c.usage;
  r.finish_reason = std::move(c.finish_reason);
}

Error client_disconnected() { return make_error(errc::unavailable, "the client disconnected"); }

}  // namespace

asio::awaitable<CallResult> call_model(const llm::Model& model, const llm::ChatRequest& request,
                                       TurnObserver* observer, const StopSignal& stop) {
  using namespace asio::experimental::awaitable_operators;
  CallResult r;
  const auto started = std::chrono::steady_clock::now();

  if (!observer) {
    Result<llm::Completion> c = co_await model.provider->complete(request);
    r.upstream = std::chrono::steady_clock::now() - started;
    r.latency_ms = elapsed_ms(started);
    if (!c) {
      r.end = CallEnd::failed;
      r.error = c.error();
      co_return r;
    }
    r.end = CallEnd::complete;
    r.text = std::move(c->content);
    r.tool_calls = std::move(c->tool_calls);
    take_answer(r, *c);
    co_return r;
  }

  // What reached the client is kept here rather than in the provider, so a stream that is cut
  // (client gone, upstream dropped, stopped) still leaves its partial answer to store and bill.
  bool client_gone = false;
  // Only what the client took is kept: a piece refused because the client is gone never reached it.
  const llm::ChunkSink sink = [&](const llm::StreamDelta& d) {
    const bool taken = d.tool_call ? observer->tool_call(*d.tool_call) : observer->delta(d.text);
    if (!taken) {
      client_gone = true;
      return false;
    }
    if (!r.ttft_ms && (!d.text.empty() || d.tool_call)) r.ttft_ms = elapsed_ms(started);
    if (d.tool_call) llm::apply_tool_call_delta(r.tool_calls, *d.tool_call);
    else r.text.append(d.text);
    return true;
  };
  // A departed client, or a stop request, cancels the model call at once instead of at its next
  // word. (No co_await inside a condition: g++ 12 miscompiles some of those.)
  std::optional<Result<llm::Completion>> completion;
  bool stopped = false;
  if (stop) {
    std::variant<Result<llm::Completion>, std::monostate, std::monostate> raced =
        co_await (model.provider->stream(request, sink) || observer->gone() || stop());
    if (raced.index() == 0) completion = std::move(std::get<0>(raced));
    else if (raced.index() == 1) client_gone = true;
    else stopped = true;
  } else {
    std::variant<Result<llm::Completion>, std::monostate> raced =
        co_await (model.provider->stream(request, sink) || observer->gone());
    if (raced.index() == 0) completion = std::move(std::get<0>(raced));
    else client_gone = true;
  }
  r.upstream = std::chrono::steady_clock::now() - started;
  r.latency_ms = elapsed_ms(started);

  if (completion && *completion) take_answer(r, **completion);
  if (stopped) {
    r.end = CallEnd::stopped;
  } else if (client_gone) {
    r.end = CallEnd::cancelled;
    r.error = client_disconnected();
  } else if (completion && !*completion) {
    r.end = r.text.empty() && r.tool_calls.empty() ? CallEnd::failed : CallEnd::interrupted;
    r.error = completion->error();
  } else {
    r.end = CallEnd::complete;
  }
  co_return r;
}

}  // namespace aas::chat
