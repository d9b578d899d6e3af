#include "chat/gateway_service.hpp"

#include "core/offload.hpp"
#include "llm/token_estimate.hpp"

#include <boost/asio/thread_pool.hpp>
#include <spdlog/spdlog.h>

#include <chrono>

namespace aas::chat {

namespace asio = boost::asio;

namespace {

// What the recorder needs to know of a gateway call.
CallRecord record_of(AdmittedCall& call) {
  CallRecord what;
  what.kind = "gateway";
  what.user_id = call.user_id;
  what.roles = call.roles;
  what.model = call.model;
  what.request = &call.request;
  what.request_id = call.request_id;
  what.grant = &call.grant;
  what.admitted_at = call.admitted_at;
  return what;
}

// What the client is told of a call the recorder billed (by the same rule). Takes the text.
DirectResult direct_result(const AdmittedCall& call, CallResult& r) {
  DirectResult out;
  out.model = call.model->name;
  out.content = std::move(r.text);
  out.tool_calls = std::move(r.tool_calls);
  out.logprobs = std::move(r.logprobs);
  out.usage = r.cached ? llm::Usage{} : billed_usage(r, call.request);
  out.cost_micros = r.cached ? std::optional<std::int64_t>(0) : llm::cost_micros(call.model->pricing, out.usage);
  out.finish_reason = r.end == CallEnd::complete ? r.finish_reason : finish_reason_of(r);
  if (r.end == CallEnd::complete && r.finish_reason == "stop") out.stop_sequence = std::move(r.stop_sequence);
  if (r.end != CallEnd::complete) out.interruption = r.error;
  return out;
}

// A model the gateway does not serve is 404, as OpenAI (model_not_found) and Anthropic
// (not_found_error) answer it, so their SDKs raise NotFoundError; the chat API keeps its 400.
Result<const llm::Model*> find_model(const llm::ModelRegistry& models, std::string_view name) {
  auto found = models.find(name);
  if (found) return found;
  Error e = found.error();
  const std::size_t available = e.message.find("; available: ");
  e.code = errc::not_found;
  e.message = "model '" + std::string(name.substr(0, 100)) + "' does not exist" +
              (available == std::string::npos ? std::string() : e.message.substr(available));
  return e;
}

}  // namespace

asio::awaitable<Result<AdmittedCall>> GatewayService::admit(DirectRequest req, bool stream) {
  if (req.call.messages.empty()) co_return make_error(errc::invalid_request, "'messages' must not be empty");
  auto model = find_model(models_, req.model);
  if (!model) co_return model.error();
  if ((*model)->embedding)
    co_return make_error(errc::invalid_request,
                         "model " + (*model)->name + " is an embedding model: use /v1/embeddings");
  AdmittedCall call;
  call.admitted_at = std::chrono::steady_clock::now();
  call.model = *model;
  call.request = std::move(req.call);  // the request's one copy is the call's
  call.request.model = call.model->upstream_model;
  call.request.request_id = req.request_id;
  call.request.fair_key = req.user_id;  // the router shares a deployment's slots between users
  // A parameter the model's provider cannot honour is refused before the limits count the call.
  if (auto supported = call.model->provider->supports(call.request); !supported) co_return supported.error();
  // Here when admission needs no I/O (the common case with the in-process limiter), else on the
  // blocking pool. (No co_await inside ?:, g++ 12.)
  auto grant = accounting_.admit_now(req.user_id, req.roles, *call.model, call.request, stream);
  if (!grant) {
    grant = co_await offload(blocking_, [&] {
      return accounting_.admit(req.user_id, req.roles, *call.model, call.request, stream);
    });
  }
  if (!*grant) co_return grant->error();
  call.grant = std::move(**grant);
  call.user_id = std::move(req.user_id);
  call.roles = std::move(req.roles);
  call.request_id = std::move(req.request_id);
  co_return call;
}

asio::awaitable<Result<std::vector<AdmittedCall>>> GatewayService::admit_each(DirectRequest req, int n, bool stream) {
  std::vector<AdmittedCall> calls;
  calls.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    DirectRequest one = i + 1 < n ? req : std::move(req);
    auto admitted = co_await admit(std::move(one), stream);
    if (!admitted) {
      for (AdmittedCall& call : calls) co_await release(call);
      co_return admitted.error();
    }
    calls.push_back(std::move(*admitted));
  }
  co_return calls;
}

asio::awaitable<void> GatewayService::release(AdmittedCall& call) {
  co_await offload(blocking_, [&] { call.grant.settle(0, 0); });  // may be a Redis round trip
}

asio::awaitable<void> GatewayService::record(CallRecord what, const CallResult& result) {
  auto recorded = co_await recorder_.record(what, result);
  if (!recorded)  // the grant, dropped unsettled, keeps its reservation: the safe side
    spdlog::error("{} request_id={}: usage not recorded: {} {}", what.kind, what.request_id,
                  recorded.error().message, recorded.error().detail);
}

asio::awaitable<Result<DirectResult>> GatewayService::complete(AdmittedCall call) {
  // A cached answer has no log probabilities: a request that asks for them is never cached.
  const std::optional<std::string> key =
      cache_ && !call.request.logprobs ? response_cache_key(call.request, options_.cache_shared ? std::string_view() : call.user_id)
             : std::nullopt;
  if (key) {
    // The cache may be Redis: a blocking call.
    if (auto hit = co_await offload(blocking_, [&] { return cache_->get(*key); })) {
      CallResult cached;
      cached.end = CallEnd::complete;
      cached.cached = true;
      cached.text = std::move(hit->content);
      cached.tool_calls = std::move(hit->tool_calls);
      cached.finish_reason = std::move(hit->finish_reason);
      cached.stop_sequence = std::move(hit->stop_sequence);
      co_await record(record_of(call), cached);
      DirectResult out = direct_result(call, cached);
      out.cached = true;
      co_return out;
    }
  }
  CallControl control{accounting_.call_limits()};
  control.since = call.admitted_at;  // admit() started as the request arrived
  CallResult result = co_await call_model(*call.model, call.request, nullptr, control);
  co_await record(record_of(call), result);
  if (result.end == CallEnd::failed) co_return *result.error;
  DirectResult out = direct_result(call, result);
  if (key) {
    out.cached = false;
    // Only whole answers are worth repeating (tool calls included: the same request gets the
    // same calls, ids and all, as a deterministic upstream would give).
    if (out.finish_reason == "stop" || out.finish_reason == "length" || out.finish_reason == "tool_calls")
      co_await offload(blocking_, [&] {
        cache_->put(*key, CachedAnswer{out.content, out.finish_reason, out.tool_calls, out.stop_sequence});
      });
  }
  co_return out;
}

asio::awaitable<Result<DirectResult>> GatewayService::stream(AdmittedCall& call, TurnObserver& observer) {
  CallResult result;
  co_await call_streamed(call, observer, result);
  co_return co_await streamed(call, result);
}

// Its own frame, not the stream's.
asio::awaitable<Result<DirectResult>> GatewayService::streamed(AdmittedCall& call, CallResult& result) {
  co_await record(record_of(call), result);
  // Nothing sent yet: a plain error, nothing generated.
  if (result.end == CallEnd::failed) co_return *result.error;
  co_return direct_result(call, result);
}

asio::awaitable<Result<EmbeddingResult>> GatewayService::embed(EmbeddingCall call) {
  if (call.inputs.empty()) co_return make_error(errc::invalid_request, "'input' must not be empty");
  if (call.model.empty()) call.model = options_.embedding_model;
  if (call.model.empty())
    co_return make_error(errc::invalid_request, "'model' is required: no default embedding model is configured");
  auto found = find_model(models_, call.model);
  if (!found) co_return found.error();
  const llm::Model& model = **found;
  if (!model.embedding) co_return llm::cannot_embed(model.name);
  const auto admitted_at = std::chrono::steady_clock::now();

  llm::EmbeddingRequest request;
  request.model = model.upstream_model;
  request.dimensions = call.dimensions;
  request.user = call.user;
  request.request_id = call.request_id;
  request.fair_key = call.user_id;
  llm::Usage worst;
  for (const std::string& text : call.inputs) worst.input_tokens += llm::count_text_tokens(model.upstream_model, text);
  request.inputs = std::move(call.inputs);
  auto grant = co_await offload(blocking_, [&] {
    return accounting_.admit_usage(call.user_id, call.roles, model, worst, false);
  });
  if (!grant) co_return grant.error();

  const auto started = std::chrono::steady_clock::now();
  auto embeddings = co_await model.provider->embed(request);
  CallResult result;
  result.upstream = std::chrono::steady_clock::now() - started;
  result.latency_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(result.upstream).count();
  if (!embeddings) {
    // A model that cannot embed (the only invalid_request of embed()) is the request's mistake:
    // nothing was called, nothing to bill; the reservation is released.
    if (embeddings.error().code == errc::invalid_request) {
      co_await offload(blocking_, [&] { grant->settle(0, 0); });  // may be a Redis round trip
      co_return llm::cannot_embed(model.name);
    }
    result.end = CallEnd::failed;
    result.error = embeddings.error();
  } else {
    result.end = CallEnd::complete;
    result.usage = embeddings->usage;
    result.deployment = embeddings->deployment;
    result.provider = embeddings->provider;
  }
  CallRecord what;
  what.kind = "embedding";
  what.user_id = call.user_id;
  what.roles = call.roles;
  what.model = &model;
  what.request_id = call.request_id;
  what.grant = &*grant;
  what.admitted_at = admitted_at;
  co_await record(what, result);
  if (!embeddings) co_return embeddings.error();

  EmbeddingResult out;
  out.model = model.name;
  out.vectors = std::move(embeddings->vectors);
  out.usage = embeddings->usage;
  out.cost_micros = llm::cost_micros(model.pricing, out.usage);
  co_return out;
}

}  // namespace aas::chat
