#include "api/gateway_stream.hpp"

#include "api/stream_gauge.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <exception>

namespace aas::api {

namespace asio = boost::asio;

asio::awaitable<Result<chat::AdmittedCall>> admit_call(chat::GatewayService& gateway, const http::Context& ctx,
                                                       std::string model, llm::ChatRequest call, bool stream) {
  // A named request moved in, not a braced temporary as the argument: g++ 12 mis-builds the
  // coroutine's parameter copy from the latter (the admitted call's strings were freed twice).
  chat::DirectRequest request{ctx.user().user_id, ctx.user().roles, std::move(model), std::move(call), ctx.request_id};
  auto admitted = co_await gateway.admit(std::move(request), stream);
  co_return admitted;
}

asio::awaitable<Result<std::vector<chat::AdmittedCall>>> admit_calls(chat::GatewayService& gateway,
                                                                     const http::Context& ctx, std::string model,
                                                                     llm::ChatRequest call, int n, bool stream) {
  chat::DirectRequest request{ctx.user().user_id, ctx.user().roles, std::move(model), std::move(call), ctx.request_id};
  auto admitted = co_await gateway.admit_each(std::move(request), n, stream);
  co_return admitted;
}

namespace {

using Outcome = std::optional<Result<chat::DirectResult>>;

// The channel's pump in a thread of its own, while the calls run in the stream body's coroutine:
// a parallel group of the two (each a spawned thread) kept a thread more and the group's state
// for the whole of every held stream (~1.3 KB). join() waits for the pump's end (after the
// channel's finish(), or once the client left) before the channel may go.
class PumpThread {
 public:
  PumpThread(http::SseChannel& channel, const asio::any_io_executor& ex)
      : ended_signal_(ex, asio::steady_timer::time_point::max()) {
    // On the stream's strand, as the pump itself.
    auto on_end = [this](std::exception_ptr error) {
      error_ = std::move(error);
      ended_ = true;
      ended_signal_.cancel();
    };
    asio::co_spawn(ex, channel.pump(), std::move(on_end));
  }
  PumpThread(const PumpThread&) = delete;
  PumpThread& operator=(const PumpThread&) = delete;

  asio::awaitable<void> join() {
    while (!ended_) co_await ended_signal_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (error_) std::rethrow_exception(error_);
  }

 private:
  asio::steady_timer ended_signal_;  // never expires; cancelled when the pump ends
  bool ended_ = false;
  std::exception_ptr error_;
};

// A call's record and answer (GatewayService::streamed), in a frame of its own: its result's
// temporary is not kept in the frame that holds the stream.
asio::awaitable<void> record(chat::GatewayService& gateway, chat::AdmittedCall& call, chat::CallResult& called,
                             Outcome& outcome) {
  outcome = co_await gateway.streamed(call, called);
}

// The stream's last events; or, for a call that failed before its first word while nothing was
// sent yet (no heartbeat either), the status and error body of a failed request (429, 502,
// 504...), as the non-streamed call answers.
asio::awaitable<void> conclude(StreamRelay& relay, Outcome& outcome, const std::optional<Error>& failure,
                               const llm::Usage& total, http::BodyWriter& out, const std::string& request_id,
                               http::ErrorShape shape) {
  // (No co_await inside a condition: g++ 12 miscompiles some of those.)
  if (failure && !relay.started()) {
    const bool replaced = co_await out.replace(http::error_response(*failure, request_id, shape));
    if (replaced) co_return;
  }
  if (failure) {
    relay.fail(*failure);
  } else {
    (*outcome)->usage = total;
    relay.finish(**outcome);
  }
}

// The calls one after the other through the relay; `keep` (may be null) gets the last answer
// with the usage of all, or the first error.
asio::awaitable<void> produce(chat::GatewayService& gateway, std::vector<chat::AdmittedCall>& calls,
                              StreamRelay& relay, http::BodyWriter& out, http::ErrorShape shape, Outcome* keep) {
  llm::Usage total;
  std::optional<Error> failure;
  // Without `keep`, made once a call has ended: not a result's room in the frame of every held stream.
  std::unique_ptr<Outcome> own;
  Outcome* outcome = keep;
  for (std::size_t i = 0; i < calls.size(); ++i) {
    if (failure) {  // a choice failed: the others are not asked for
      co_await gateway.release(calls[i]);
      continue;
    }
    // The model call's result here, not in a frame of GatewayService::stream held for the stream.
    chat::CallResult called;
    co_await gateway.call_streamed(calls[i], relay, called);
    if (!outcome) outcome = (own = std::make_unique<Outcome>()).get();
    co_await record(gateway, calls[i], called, *outcome);
    const Result<chat::DirectResult>& result = **outcome;
    if (!result) failure = result.error();
    else failure = result->interruption;
    if (failure) continue;
    total += result->usage;
    if (i + 1 < calls.size()) relay.next_choice(*result);
  }
  co_await conclude(relay, *outcome, failure, total, out, calls.front().request_id, shape);
}

// Runs the calls; `keep` (may be null) gets the last answer with the usage of all, or the
// first error. Everything a held stream keeps is in this frame, the producer's and the channel's:
// the route's stream body returns this coroutine itself rather than awaiting it in one more.
asio::awaitable<void> run_calls(chat::GatewayService& gateway, metrics::Metrics& metrics,
                                std::vector<chat::AdmittedCall> calls, http::BodyWriter& out, http::ErrorShape shape,
                                MakeRelay make_relay, Outcome* keep) {
  const StreamGauge gauge(metrics);
  const auto ex = co_await asio::this_coro::executor;
  http::SseChannel channel(out, ex);
  const std::unique_ptr<StreamRelay> relay = make_relay(channel);
  PumpThread pump(channel, ex);
  // Whatever the calls did, the pump ends (it writes what is queued) before the channel goes.
  std::exception_ptr failed;
  try {
    co_await produce(gateway, calls, *relay, out, shape, keep);
  } catch (...) {
    failed = std::current_exception();
  }
  channel.finish();
  co_await pump.join();
  if (failed) std::rethrow_exception(failed);
}

}  // namespace

asio::awaitable<Result<chat::DirectResult>> run_stream(chat::GatewayService& gateway, metrics::Metrics& metrics,
                                                       chat::AdmittedCall call, http::BodyWriter& out,
                                                       http::ErrorShape shape, MakeRelay make_relay) {
  std::vector<chat::AdmittedCall> calls;
  calls.push_back(std::move(call));
  Outcome outcome;
  co_await run_calls(gateway, metrics, std::move(calls), out, shape, std::move(make_relay), &outcome);
  if (!outcome) co_return make_error(errc::internal, "the stream ended before its call");
  co_return std::move(*outcome);
}

asio::awaitable<void> relay_streams(chat::GatewayService& gateway, metrics::Metrics& metrics,
                                    std::vector<chat::AdmittedCall> calls, http::BodyWriter& out,
                                    http::ErrorShape shape, MakeRelay make_relay) {
  return run_calls(gateway, metrics, std::move(calls), out, shape, std::move(make_relay), nullptr);
}

}  // namespace aas::api
