#include "chat/gateway_service.hpp"

#include "core/offload.hpp"

#include <boost/asio/thread_pool.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

namespace aas::chat {

namespace asio = boost::asio;

asio::awaitable<Result<AdmittedCall>> GatewayService::admit(DirectRequest req, bool stream) {
  if (req.messages.empty()) co_return make_error(errc::invalid_request, "'messages' must not be empty");
  auto model = models_.find(req.model);
  if (!model) co_return model.error();
  AdmittedCall call;
  call.admitted_at = std::chrono::steady_clock::now();
  call.model = *model;
  call.request.model = call.model->upstream_model;
  call.request.messages = req.messages;
  call.request.temperature = req.temperature;
  call.request.max_tokens = req.max_tokens;
  call.request.request_id = req.request_id;
  auto grant = co_await offload(blocking_, [&] {
    return accounting_.admit(req.user_id, req.roles, *call.model, call.request, stream);
  });
  if (!grant) co_return grant.error();
  call.grant = std::move(*grant);
  call.input = std::move(req);
  co_return call;
}

asio::awaitable<void> GatewayService::record(AdmittedCall& call, const CallResult& result) {
  CallRecord what;
  what.kind = "gateway";
  what.user_id = call.input.user_id;
  what.model = call.model;
  what.request = &call.request;
  what.request_id = call.input.request_id;
  what.grant = &call.grant;
  what.admitted_at = call.admitted_at;
  auto recorded = co_await recorder_.record(what, result);
  if (!recorded)  // the grant, dropped unsettled, keeps its reservation: the safe side
    spdlog::error("gateway request_id={}: usage not recorded: {} {}", what.request_id,
                  recorded.error().message, recorded.error().detail);
}

namespace {

// What the client is told of a call the recorder billed.
DirectResult direct_result(const AdmittedCall& call, const CallResult& r) {
  DirectResult out;
  out.model = call.model->name;
  out.content = r.text;
  out.usage = r.cached ? llm::Usage{} : billed_usage(r, call.request);
  out.cost_micros = r.cached ? std::optional<std::int64_t>(0) : llm::cost_micros(call.model->pricing, out.usage);
  out.finish_reason = r.end == CallEnd::complete ? r.finish_reason : finish_reason_of(r);
  if (r.end != CallEnd::complete) out.interruption = r.error;
  return out;
}

}  // namespace

asio::awaitable<Result<DirectResult>> GatewayService::complete(AdmittedCall call) {
  const std::optional<std::string> key = cache_ ? response_cache_key(call.request) : std::nullopt;
  if (key) {
    // The cache may be Redis: a blocking call.
    if (auto hit = co_await offload(blocking_, [&] { return cache_->get(*key); })) {
      CallResult cached;
      cached.end = CallEnd::complete;
      cached.cached = true;
      cached.text = std::move(hit->content);
      cached.finish_reason = std::move(hit->finish_reason);
      co_await record(call, cached);
      DirectResult out = direct_result(call, cached);
      out.cached = true;
      co_return out;
    }
  }
  const CallResult result = co_await call_model(*call.model, call.request, nullptr);
  co_await record(call, result);
  if (result.end == CallEnd::failed) co_return *result.error;
  DirectResult out = direct_result(call, result);
  if (key) {
    out.cached = false;
    // Only whole answers are worth repeating.
    if (out.finish_reason == "stop" || out.finish_reason == "length")
      co_await offload(blocking_, [&] { cache_->put(*key, CachedAnswer{out.content, out.finish_reason}); });
  }
  co_return out;
}

asio::awaitable<Result<DirectResult>> GatewayService::stream(AdmittedCall call, TurnObserver& observer) {
  const CallResult result = co_await call_model(*call.model, call.request, &observer);
  co_await record(call, result);
  // Nothing sent yet: a plain error, nothing generated.
  if (result.end == CallEnd::failed) co_return *result.error;
  co_return direct_result(call, result);
}

}  // namespace aas::chat
