#include "api/gateway_stream.hpp"

#include "api/stream_gauge.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/this_coro.hpp>

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

// Runs the calls; `keep` (may be null) gets the last answer with the usage of all, or the
// first error. Everything a held stream keeps is in this frame, the producer's and the channel's:
// the route's stream body returns this coroutine itself rather than awaiting it in one more.
asio::awaitable<void> run_calls(chat::GatewayService& gateway, metrics::Metrics& metrics,
                                std::vector<chat::AdmittedCall> calls, http::BodyWriter& out, http::ErrorShape shape,
                                MakeRelay make_relay, std::optional<Result<chat::DirectResult>>* keep) {
  const StreamGauge gauge(metrics);
  const auto ex = co_await asio::this_coro::executor;
  http::SseChannel channel(out, ex);
  const std::unique_ptr<StreamRelay> relay = make_relay(channel);
  const std::string request_id = calls.front().input.request_id;
  std::optional<Result<chat::DirectResult>> own;
  std::optional<Result<chat::DirectResult>>& outcome = keep != nullptr ? *keep : own;
  auto produce = [&]() -> asio::awaitable<void> {
    llm::Usage total;
    std::optional<Error> failure;
    for (std::size_t i = 0; i < calls.size(); ++i) {
      if (failure) {  // a choice failed: the others are not asked for
        co_await gateway.release(calls[i]);
        continue;
      }
      // The model call's result here, not in a frame of GatewayService::stream held for the stream.
      chat::CallResult called = co_await gateway.call_streamed(calls[i], *relay);
      outcome = co_await gateway.streamed(calls[i], called);
      const Result<chat::DirectResult>& result = *outcome;
      if (!result) failure = result.error();
      else failure = result->interruption;
      if (failure) continue;
      total += result->usage;
      if (i + 1 < calls.size()) relay->next_choice(*result);
    }
    // Failed before its first word, and nothing sent yet (no heartbeat either): the status and
    // error body of a failed request (429, 502, 504...), as the non-streamed call answers.
    // (No co_await inside a condition: g++ 12 miscompiles some of those.)
    if (failure && !relay->started()) {
      const bool replaced = co_await out.replace(http::error_response(*failure, request_id, shape));
      if (replaced) {
        channel.finish();
        co_return;
      }
    }
    if (failure) {
      relay->fail(*failure);
    } else {
      (*outcome)->usage = total;
      relay->finish(**outcome);
    }
    channel.finish();
  };
  // Both run to their end (a failure of one cancels the other), as `&&` would, without its
  // coroutine held for the whole stream.
  auto producing = produce();
  auto pumping = channel.pump();
  auto [order, produce_error, pump_error] =
      co_await asio::experimental::make_parallel_group(asio::co_spawn(ex, std::move(producing), asio::deferred),
                                                       asio::co_spawn(ex, std::move(pumping), asio::deferred))
          .async_wait(asio::experimental::wait_for_one_error(), asio::use_awaitable);
  if (produce_error) std::rethrow_exception(produce_error);
  if (pump_error) std::rethrow_exception(pump_error);
}

}  // namespace

asio::awaitable<Result<chat::DirectResult>> run_stream(chat::GatewayService& gateway, metrics::Metrics& metrics,
                                                       chat::AdmittedCall call, http::BodyWriter& out,
                                                       http::ErrorShape shape, MakeRelay make_relay) {
  std::vector<chat::AdmittedCall> calls;
  calls.push_back(std::move(call));
  std::optional<Result<chat::DirectResult>> outcome;
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
