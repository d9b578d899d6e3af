#include "chat/model_call.hpp"

#include "llm/token_estimate.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <memory>
#include <tuple>
#include <utility>
#include <variant>

namespace aas::chat {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

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

std::int64_t output_allowance(std::int64_t cap) noexcept { return cap + cap / 4 + 8; }

namespace {

std::int64_t elapsed_ms(Clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
}

// The upstream's outcome of a streamed call, once it is known: on the heap, not a Result in the
// frame held for the whole stream (~0.3 KB).
using Outcome = std::unique_ptr<Result<llm::Completion>>;

void take_answer(CallResult& r, llm::Completion& c) {
  r.deployment = std::move(c.deployment);
  r.provider = std::move(c.provider);
  r.usage = c.usage;
  r.finish_reason = std::move(c.finish_reason);
  r.stop_sequence = std::move(c.stop_sequence);
}

// Runs the model's stream in a thread of its own bound to `end`, which the call's early ends emit:
// the client leaving (the observer's callback) and the time bounds' timer (both after setting
// `ended_early`), and a cancellation of this coroutine (passed on by hand). With a stop signal, the
// stream and the stop wait are one parallel group bound to `end`, the first to finish ending the
// other. Returns 0 when the stream ended first (its outcome then in `completion`, unless the
// call ended early: its exception is then its cancellation's), 1 when a stop request did.
// One spawned thread for a gateway stream, two for a chat stream: the client-gone wait and the
// watchdogs that were raced here each held a spawned thread and a frame for the whole stream.
// A coroutine of its own, so that the caller's frame does not keep the group's results.
asio::awaitable<std::size_t> race(Outcome& completion, asio::cancellation_signal& end,
                                  const bool& ended_early, asio::awaitable<Result<llm::Completion>> streaming,
                                  const StopSignal& stop) {
  const auto ex = co_await asio::this_coro::executor;
  // The slot is cleared when this coroutine's await completes.
  const asio::cancellation_state outer = co_await asio::this_coro::cancellation_state;
  if (asio::cancellation_slot slot = outer.slot(); slot.is_connected())
    slot.assign([&end](asio::cancellation_type type) { end.emit(type); });
  if (!stop) {
    auto [error, result] = co_await asio::co_spawn(
        ex, std::move(streaming), asio::bind_cancellation_slot(end.slot(), asio::as_tuple(asio::use_awaitable)));
    if (error && !ended_early) std::rethrow_exception(error);
    if (!error) completion = std::make_unique<Result<llm::Completion>>(std::move(result));
    co_return 0;
  }
  auto stopping = stop();
  auto [order, stream_error, result, stop_error] =
      co_await asio::experimental::make_parallel_group(asio::co_spawn(ex, std::move(streaming), asio::deferred),
                                                       asio::co_spawn(ex, std::move(stopping), asio::deferred))
          .async_wait(asio::experimental::wait_for_one(),
                      asio::bind_cancellation_slot(end.slot(), asio::use_awaitable));
  if (ended_early) co_return 0;
  // The winner's exception is the race's (the loser's is its cancellation's).
  if (std::exception_ptr error = order[0] == 0 ? stream_error : stop_error) std::rethrow_exception(error);
  if (order[0] == 0) completion = std::make_unique<Result<llm::Completion>>(std::move(result));
  co_return order[0];
}

// The gateway's streams (no stop requests): the stream in two steps — opening it (the router's
// attempts, retries and fallbacks, until the first piece reached the client) in a thread of its
// own bound to `end`, then reading the rest through the opened stream's own coroutine, awaited
// here and ended early by the stream's cancel() — so that a held stream keeps no frame of the
// layers that opened it, nor of one that only forwards. Sets
// `completion` unless the call ended early (the stream is then dropped: the deployment's slot
// and breaker ticket go back through their destructors, nothing is counted for or against it).
asio::awaitable<void> open_and_read(Outcome& completion, asio::cancellation_signal& end,
                                    const bool& ended_early, llm::LlmProvider& provider,
                                    const llm::ChatRequest& request, const llm::ChunkSink& sink) {
  const auto ex = co_await asio::this_coro::executor;
  // The slot is cleared when this coroutine's await completes.
  const asio::cancellation_state outer = co_await asio::this_coro::cancellation_state;
  if (asio::cancellation_slot slot = outer.slot(); slot.is_connected())
    slot.assign([&end](asio::cancellation_type type) { end.emit(type); });
  std::unique_ptr<llm::OpenStream> stream;
  {
    auto [error, opened] = co_await asio::co_spawn(
        ex, provider.open_stream(request, sink), asio::bind_cancellation_slot(end.slot(), asio::as_tuple(asio::use_awaitable)));
    if (error && !ended_early) std::rethrow_exception(error);
    if (error || ended_early) co_return;
    if (!opened) {
      completion = std::make_unique<Result<llm::Completion>>(std::move(opened.error()));
      co_return;
    }
    stream = std::move(*opened);
  }
  // The rest is read here, not in a thread of its own bound to `end` (its entry frame and
  // cancellation state were ~1 KB of every held stream): an early end cancels the stream itself.
  // (An outer cancellation reaches the reads through this coroutine's own slot.)
  end.slot().assign([&stream](asio::cancellation_type) { stream->cancel(); });
  co_await stream->read_rest(sink);
  end.slot().clear();
  if (ended_early) co_return;
  // Cancelled from outside (not by our own early end): as an Asio operation ends.
  if (outer.cancelled() != asio::cancellation_type::none)
    throw boost::system::system_error(asio::error::operation_aborted);
  completion = std::make_unique<Result<llm::Completion>>(stream->outcome(false));
}

Error client_disconnected() { return make_error(errc::unavailable, "the client disconnected"); }

Error timed_out(std::string message, std::string_view what, std::chrono::milliseconds after) {
  return make_error(errc::upstream_timeout, std::move(message),
                    std::string(what) + " " + std::to_string(after.count()) + " ms");
}

// The output cap a call was given (Accounting::admit sets max_tokens), or 0 for none.
std::int64_t output_cap(const llm::ChatRequest& request) {
  return request.max_tokens && *request.max_tokens > 0 ? *request.max_tokens : 0;
}

// A whole answer cut to the bounds; true when it was cut.
bool cut_to_bounds(std::string& text, const llm::ChatRequest& request, const CallLimits& limits) {
  bool cut = false;
  if (limits.max_answer_bytes > 0 && text.size() > limits.max_answer_bytes) {
    text.resize(llm::utf8_prefix(text, limits.max_answer_bytes).size());
    cut = true;
  }
  if (const std::int64_t cap = output_cap(request); cap > 0) {
    const std::size_t keep = llm::text_prefix_tokens(request.model, text, output_allowance(cap)).size();
    if (keep < text.size()) {
      text.resize(keep);
      cut = true;
    }
  }
  return cut;
}

// No tokenizer packs more than this many bytes into a token on average: an upstream claiming
// fewer tokens than that for its text is not believed.
constexpr std::int64_t max_plausible_bytes_per_token = 32;

// The upstream's output count, unless its text cannot fit in it: then our tokenizer's, flagged.
void distrust_implausible_usage(CallResult& r, const llm::ChatRequest& request) {
  if (!r.usage) return;
  const std::int64_t claimed = std::max<std::int64_t>(r.usage->output_tokens, 0);
  if (static_cast<std::int64_t>(r.text.size()) <= claimed * max_plausible_bytes_per_token) return;
  const std::int64_t ours =
      llm::count_text_tokens(request.model, r.text) + llm::count_tool_call_tokens(request.model, r.tool_calls);
  if (ours <= claimed) return;
  r.usage->output_tokens = ours;
  r.usage->estimated = true;
}

asio::awaitable<CallResult> call_once(const llm::Model& model, const llm::ChatRequest& request,
                                      const CallLimits& limits, Clock::time_point since) {
  CallResult r;
  const auto started = Clock::now();
  std::optional<Result<llm::Completion>> c;
  if (limits.timeout.count() > 0) {
    using namespace asio::experimental::awaitable_operators;
    if (since == Clock::time_point{}) since = started;
    asio::steady_timer deadline(co_await asio::this_coro::executor, since + limits.timeout);
    auto raced = co_await (model.provider->complete(request) ||
                           deadline.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (raced.index() == 0) c = std::move(std::get<0>(raced));
  } else {
    c = co_await model.provider->complete(request);
  }
  r.upstream = Clock::now() - started;
  r.latency_ms = elapsed_ms(started);
  if (!c) {
    r.end = CallEnd::failed;
    r.error = timed_out("the model did not answer in time", "no answer within", limits.timeout);
    co_return r;
  }
  if (!*c) {
    r.end = CallEnd::failed;
    r.error = c->error();
    co_return r;
  }
  r.end = CallEnd::complete;
  r.text = std::move((*c)->content);
  r.tool_calls = std::move((*c)->tool_calls);
  r.logprobs = std::move((*c)->logprobs);
  take_answer(r, **c);
  if (cut_to_bounds(r.text, request, limits)) {
    r.finish_reason = "length";
    r.stop_sequence.clear();
  }
  distrust_implausible_usage(r, request);
  co_return r;
}

}  // namespace

asio::awaitable<void> stream_model(const llm::Model& model, const llm::ChatRequest& request, TurnObserver& observer,
                                   const CallControl& control, CallResult& r) {
  const CallLimits& limits = control.limits;

  r = CallResult{};
  const auto started = Clock::now();
  const std::int64_t cap = output_cap(request);
  // What reached the client is kept here rather than in the provider, so a stream that is cut
  // (client gone, upstream dropped, stopped, over a bound) still leaves its partial answer to
  // store and bill.
  bool client_gone = false;
  bool cut = false;                    // we ended it at a bound: finish reason "length"
  std::int64_t counted_tokens = -1;    // our count of r.text once it could be near the cap
  auto last_piece = started;           // for the idle timeout
  std::size_t saved_bytes = 0;         // the checkpoints' progress
  auto saved_at = started;
  const Checkpoint* checkpoint = control.checkpoint;
  const auto save = [&] {
    checkpoint->save(std::string_view(r.text).substr(saved_bytes));
    saved_bytes = r.text.size();
    saved_at = Clock::now();
  };
  // Only what the client took is kept: a piece refused because the client is gone never reached it.
  const llm::ChunkSink sink = [&](const llm::StreamDelta& d) {
    last_piece = Clock::now();
    if (d.tool_call) {
      if (!observer.tool_call(*d.tool_call)) {
        client_gone = true;
        return false;
      }
      if (!r.ttft_ms) r.ttft_ms = elapsed_ms(started);
      llm::apply_tool_call_delta(r.tool_calls, *d.tool_call);
      return true;
    }
    std::string_view piece = d.text;
    if (limits.max_answer_bytes > 0 && r.text.size() + piece.size() > limits.max_answer_bytes) {
      piece = llm::utf8_prefix(piece, limits.max_answer_bytes - std::min(limits.max_answer_bytes, r.text.size()));
      cut = true;
    }
    // A token is at least a byte: below the cap in bytes there is nothing to count.
    if (cap > 0 && static_cast<std::int64_t>(r.text.size() + piece.size()) > cap) {
      if (counted_tokens < 0) counted_tokens = llm::count_text_tokens(request.model, r.text);
      const std::int64_t room = output_allowance(cap) - counted_tokens;
      const std::int64_t more = llm::count_text_tokens(request.model, piece);
      if (more > room) {
        piece = llm::text_prefix_tokens(request.model, piece, room);
        cut = true;
      }
      counted_tokens += std::min(more, room);
    }
    if (!piece.empty() || d.logprobs) {
      bool taken = false;
      if (d.logprobs) taken = observer.delta_logprobs(piece, *d.logprobs);
      else taken = observer.delta(piece);
      if (!taken) {
        client_gone = true;
        cut = false;
        return false;
      }
      if (!r.ttft_ms && !piece.empty()) r.ttft_ms = elapsed_ms(started);
      r.text.append(piece);
      if (d.logprobs) r.logprobs.insert(r.logprobs.end(), d.logprobs->begin(), d.logprobs->end());
    }
    if (cut) return false;
    if (checkpoint && static_cast<std::int64_t>(r.text.size() - saved_bytes) >= checkpoint->every_tokens * 4) save();
    return true;
  };

  // Ends the stream at its time bounds (by cancelling the race), and saves a checkpoint that the
  // token count has not triggered once its interval has passed: a timer with a completion
  // handler, not a watchdog coroutine in the race (its frame and a spawned thread, held for the
  // whole stream). The handler runs on the call's executor (a connection's strand), never at the
  // same time as the sink; `done` keeps one already queued when the race ended off this frame.
  std::optional<Error> overdue;
  bool ended_early = false;  // a time bound or the client's leaving cancelled the stream
  asio::cancellation_signal end_race;
  const auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex);
  const auto done = std::make_shared<bool>(false);
  std::function<void()> check;
  check = [&] {
    const auto now = Clock::now();
    auto due = Clock::time_point::max();
    if (limits.stream_max_duration.count() > 0) {
      if (now >= started + limits.stream_max_duration) {
        overdue = timed_out("the model's answer took too long", "the stream ran for more than",
                            limits.stream_max_duration);
        ended_early = true;
        return end_race.emit(asio::cancellation_type::terminal);
      }
      due = std::min(due, started + limits.stream_max_duration);
    }
    if (limits.stream_idle_timeout.count() > 0) {
      if (now >= last_piece + limits.stream_idle_timeout) {
        overdue = timed_out("the model's answer stalled", "no text for", limits.stream_idle_timeout);
        ended_early = true;
        return end_race.emit(asio::cancellation_type::terminal);
      }
      due = std::min(due, last_piece + limits.stream_idle_timeout);
    }
    if (checkpoint && r.text.size() > saved_bytes) {
      if (now >= saved_at + checkpoint->every) save();
      else due = std::min(due, saved_at + checkpoint->every);
    }
    timer.expires_at(due);
    timer.async_wait([&check, done](const boost::system::error_code& ec) {
      if (!ec && !*done) check();
    });
  };
  check();

  // A departed client cancels the model call at once instead of at its next word. The observer
  // may call back while the sink runs (a piece it refused): the cancellation is posted, so that
  // it never lands in the middle of the provider's own work; `done` drops one that comes late.
  observer.on_gone([&, done] {
    client_gone = true;
    asio::post(ex, [&, done] {
      if (*done) return;
      ended_early = true;
      end_race.emit(asio::cancellation_type::terminal);
    });
  });

  // (No co_await inside a condition: g++ 12 miscompiles some of those.)
  Outcome completion;
  std::size_t first = 0;  // 0 the stream, 1 a stop request
  if (!overdue && !client_gone && control.stop) {
    auto streaming = model.provider->stream(request, sink);
    first = co_await race(completion, end_race, ended_early, std::move(streaming), control.stop);
  } else if (!overdue && !client_gone) {
    co_await open_and_read(completion, end_race, ended_early, *model.provider, request, sink);
  }
  *done = true;
  observer.on_gone(nullptr);
  timer.cancel();
  const bool stopped = !ended_early && first == 1;
  r.upstream = Clock::now() - started;
  r.latency_ms = elapsed_ms(started);

  if (completion && *completion) take_answer(r, **completion);
  if (stopped) {
    r.end = CallEnd::stopped;
  } else if (cut) {
    // Ended by us at a bound: a whole answer as far as it goes, billed by our count of it.
    r.end = CallEnd::complete;
    r.finish_reason = "length";
    r.usage.reset();
  } else if (client_gone) {
    r.end = CallEnd::cancelled;
    r.error = client_disconnected();
  } else if (overdue || (completion && !*completion)) {
    r.end = r.text.empty() && r.tool_calls.empty() ? CallEnd::failed : CallEnd::interrupted;
    r.error = overdue ? *overdue : completion->error();
  } else {
    r.end = CallEnd::complete;
  }
  distrust_implausible_usage(r, request);
}

namespace {

// call_model's streamed call, for callers that take the result as a value (the chat's).
asio::awaitable<CallResult> call_streamed(const llm::Model& model, const llm::ChatRequest& request,
                                          TurnObserver& observer, const CallControl& control) {
  CallResult r;
  co_await stream_model(model, request, observer, control, r);
  co_return r;
}

}  // namespace

// Not a coroutine itself: a stream's frame holds neither the buffered call's result nor its awaitable.
asio::awaitable<CallResult> call_model(const llm::Model& model, const llm::ChatRequest& request,
                                       TurnObserver* observer, const CallControl& control) {
  if (!observer) return call_once(model, request, control.limits, control.since);
  return call_streamed(model, request, *observer, control);
}

}  // namespace aas::chat
