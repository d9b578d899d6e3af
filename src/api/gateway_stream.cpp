#include "api/gateway_stream.hpp"

#include "api/stream_gauge.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
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

asio::awaitable<Result<chat::DirectResult>> run_stream(chat::GatewayService& gateway, metrics::Metrics& metrics,
                                                       chat::AdmittedCall call, http::BodyWriter& out,
                                                       http::ErrorShape shape, MakeRelay make_relay) {
  using namespace asio::experimental::awaitable_operators;
  const StreamGauge gauge(metrics);
  http::SseChannel channel(out, co_await asio::this_coro::executor);
  const std::unique_ptr<StreamRelay> relay = make_relay(channel);
  const std::string request_id = call.input.request_id;
  std::optional<Result<chat::DirectResult>> outcome;
  auto produce = [&]() -> asio::awaitable<void> {
    outcome = co_await gateway.stream(std::move(call), *relay);
    const Result<chat::DirectResult>& result = *outcome;
    std::optional<Error> failure;
    if (!result) failure = result.error();
    else failure = result->interruption;
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
    if (failure) relay->fail(*failure);
    else relay->finish(*result);
    channel.finish();
  };
  co_await (produce() && channel.pump());
  if (!outcome) co_return make_error(errc::internal, "the stream ended before its call");
  co_return std::move(*outcome);
}

}  // namespace aas::api
