#include "chat/gateway_service.hpp"

#include "core/offload.hpp"
#include "llm/token_estimate.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/thread_pool.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <variant>

namespace aas::chat {

namespace asio = boost::asio;

namespace {

std::int64_t elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - since)
      .count();
}

CallOutcome outcome_of(const AdmittedCall& call) {
  CallOutcome o;
  o.kind = "gateway";
  o.user_id = call.input.user_id;
  o.model = call.model;
  o.request_id = call.input.request_id;
  return o;
}

}  // namespace

asio::awaitable<Result<AdmittedCall>> GatewayService::admit(DirectRequest req, bool stream) {
  if (req.call.messages.empty()) co_return make_error(errc::invalid_request, "'messages' must not be empty");
  auto model = models_.find(req.model);
  if (!model) co_return model.error();
  if ((*model)->embedding)
    co_return make_error(errc::invalid_request,
                         "model " + (*model)->name + " is an embedding model: use /v1/embeddings");
  AdmittedCall call;
  call.admitted_at = std::chrono::steady_clock::now();
  call.model = *model;
  call.request = req.call;
  call.request.model = call.model->upstream_model;
  call.request.request_id = req.request_id;
  // A parameter the model's provider cannot honour is refused before the limits count the call.
  if (auto supported = call.model->provider->supports(call.request); !supported) co_return supported.error();
  auto grant = co_await offload(blocking_, [&] {
    return accounting_.admit(req.user_id, req.roles, *call.model, call.request, stream);
  });
  if (!grant) co_return grant.error();
  call.grant = std::move(*grant);
  call.input = std::move(req);
  co_return call;
}

asio::awaitable<void> GatewayService::record(AdmittedCall& call, CallOutcome& outcome,
                                             std::chrono::steady_clock::duration upstream) {
  co_await record(call.grant, outcome, call.admitted_at, upstream);
}

asio::awaitable<void> GatewayService::record(limits::Grant& grant, CallOutcome& outcome,
                                             std::chrono::steady_clock::time_point admitted_at,
                                             std::chrono::steady_clock::duration upstream) {
  const store::UsageRecord row = Accounting::ledger_row(outcome);
  // Settling the grant may be a Redis round trip: it stays on the blocking pool with the write.
  auto written = co_await offload(blocking_, [&] {
    auto w = store_.record_usage(row);
    if (w) {
      const std::chrono::duration<double> total = std::chrono::steady_clock::now() - admitted_at;
      outcome.total_seconds = total.count();
      outcome.overhead_seconds = std::max(0.0, (total - upstream).count());
      accounting_.recorded(grant, outcome);
    }
    return w;
  });
  if (!written)  // the grant, dropped unsettled, keeps its reservation: the safe side
    spdlog::error("gateway request_id={}: usage not recorded: {} {}", row.request_id,
                  written.error().message, written.error().detail);
}

asio::awaitable<Result<DirectResult>> GatewayService::complete(AdmittedCall call) {
  const auto started = std::chrono::steady_clock::now();
  const std::optional<std::string> key =
      cache_ ? response_cache_key(call.request, options_.cache_shared ? std::string_view() : call.input.user_id)
             : std::nullopt;
  if (key) {
    // The cache may be Redis: a blocking call.
    if (auto hit = co_await offload(blocking_, [&] { return cache_->get(*key); })) {
      DirectResult out;
      out.model = call.model->name;
      out.content = std::move(hit->content);
      out.tool_calls = std::move(hit->tool_calls);
      out.finish_reason = std::move(hit->finish_reason);
      out.cost_micros = 0;
      out.cached = true;
      CallOutcome outcome = outcome_of(call);
      outcome.deployment = "cache";
      outcome.provider = "cache";
      outcome.cost_micros = 0;
      outcome.cached = true;
      co_await record(call, outcome, std::chrono::steady_clock::duration::zero());
      co_return out;
    }
  }
  auto completion = co_await call.model->provider->complete(call.request);
  const auto upstream = std::chrono::steady_clock::now() - started;
  CallOutcome outcome = outcome_of(call);
  outcome.latency_ms = elapsed_ms(started);
  if (!completion) {
    outcome.status = "error";
    outcome.cost_micros = llm::cost_micros(call.model->pricing, outcome.usage);
    co_await record(call, outcome, upstream);
    co_return completion.error();
  }
  DirectResult out;
  out.model = call.model->name;
  out.content = std::move(completion->content);
  out.tool_calls = std::move(completion->tool_calls);
  out.finish_reason = completion->finish_reason;
  out.usage = completion->usage;
  out.cost_micros = llm::cost_micros(call.model->pricing, out.usage);
  outcome.deployment = completion->deployment;
  outcome.provider = completion->provider;
  outcome.usage = out.usage;
  outcome.cost_micros = out.cost_micros;
  co_await record(call, outcome, upstream);
  if (key) {
    out.cached = false;
    // Only whole answers are worth repeating (tool calls included: the same request gets the
    // same calls, ids and all, as a deterministic upstream would give).
    if (out.finish_reason == "stop" || out.finish_reason == "length" || out.finish_reason == "tool_calls")
      co_await offload(blocking_, [&] {
        cache_->put(*key, CachedAnswer{out.content, out.finish_reason, out.tool_calls});
      });
  }
  co_return out;
}

asio::awaitable<Result<DirectResult>> GatewayService::stream(AdmittedCall call, GatewayObserver& observer) {
  using namespace asio::experimental::awaitable_operators;
  const llm::ChatRequest& request = call.request;
  const auto started = std::chrono::steady_clock::now();
  std::optional<std::int64_t> ttft_ms;

  DirectResult out;
  out.model = call.model->name;
  bool client_gone = false;
  const llm::ChunkSink sink = [&](const llm::StreamDelta& d) {
    if (!ttft_ms && (!d.text.empty() || d.tool_call)) ttft_ms = elapsed_ms(started);
    if (d.tool_call) {
      llm::apply_tool_call_delta(out.tool_calls, *d.tool_call);
      if (!observer.tool_call(*d.tool_call)) client_gone = true;
    } else {
      out.content.append(d.text);
      if (!observer.delta(d.text)) client_gone = true;
    }
    return !client_gone;
  };
  std::variant<Result<llm::Completion>, std::monostate> raced =
      co_await (call.model->provider->stream(request, sink) || observer.gone());
  const auto upstream = std::chrono::steady_clock::now() - started;

  CallOutcome outcome = outcome_of(call);
  std::optional<Error> failure;
  if (raced.index() == 0 && std::get<0>(raced)) {
    outcome.deployment = std::get<0>(raced)->deployment;
    outcome.provider = std::get<0>(raced)->provider;
  }
  if (raced.index() == 0 && std::get<0>(raced) && !client_gone) {
    const llm::Completion& c = *std::get<0>(raced);
    out.finish_reason = c.finish_reason;
    out.usage = c.usage;
  } else if (raced.index() == 0 && !std::get<0>(raced) && out.content.empty() && out.tool_calls.empty()) {
    failure = std::get<0>(raced).error();  // nothing sent yet: a plain error, nothing generated
    outcome.status = "error";
  } else {
    out.interruption = raced.index() == 0 && !std::get<0>(raced)
                           ? std::get<0>(raced).error()
                           : make_error(errc::unavailable, "the client disconnected");
    // What was used is still billed; without the provider's figures, estimated and flagged.
    out.usage.input_tokens = llm::count_request_tokens(request);
    out.usage.output_tokens = llm::count_text_tokens(request.model, out.content) +
                              llm::count_tool_call_tokens(request.model, out.tool_calls);
    out.usage.estimated = true;
    out.finish_reason = client_gone || raced.index() == 1 ? "cancelled" : "interrupted";
    outcome.status = "interrupted";
    spdlog::info("gateway stream request_id={} model={} interrupted: {}", call.input.request_id, out.model,
                 out.interruption->detail.empty() ? out.interruption->message : out.interruption->detail);
  }
  out.cost_micros = llm::cost_micros(call.model->pricing, out.usage);
  outcome.usage = out.usage;
  outcome.cost_micros = out.cost_micros;
  outcome.latency_ms = elapsed_ms(started);
  outcome.ttft_ms = ttft_ms;
  co_await record(call, outcome, upstream);
  if (failure) co_return *failure;
  co_return out;
}

asio::awaitable<Result<EmbeddingResult>> GatewayService::embed(EmbeddingCall call) {
  if (call.inputs.empty()) co_return make_error(errc::invalid_request, "'input' must not be empty");
  if (call.model.empty()) call.model = options_.embedding_model;
  if (call.model.empty())
    co_return make_error(errc::invalid_request, "'model' is required: no default embedding model is configured");
  auto found = models_.find(call.model);
  if (!found) co_return found.error();
  const llm::Model& model = **found;
  if (!model.embedding) co_return llm::cannot_embed(model.name);
  const auto admitted_at = std::chrono::steady_clock::now();

  llm::EmbeddingRequest request;
  request.model = model.upstream_model;
  request.dimensions = call.dimensions;
  request.user = call.user;
  request.request_id = call.request_id;
  llm::Usage worst;
  for (const std::string& text : call.inputs) worst.input_tokens += llm::count_text_tokens(model.upstream_model, text);
  request.inputs = std::move(call.inputs);
  auto grant = co_await offload(blocking_, [&] {
    return accounting_.admit_usage(call.user_id, call.roles, model, worst, false);
  });
  if (!grant) co_return grant.error();

  const auto started = std::chrono::steady_clock::now();
  auto embeddings = co_await model.provider->embed(request);
  const auto upstream = std::chrono::steady_clock::now() - started;
  CallOutcome outcome;
  outcome.kind = "embedding";
  outcome.user_id = call.user_id;
  outcome.model = &model;
  outcome.request_id = call.request_id;
  outcome.latency_ms = elapsed_ms(started);
  if (!embeddings) {
    // A model that cannot embed (the only invalid_request of embed()) is the request's mistake:
    // nothing was called, nothing to bill; the reservation is released.
    if (embeddings.error().code == errc::invalid_request) {
      co_await offload(blocking_, [&] { grant->settle(0, 0); });  // may be a Redis round trip
      co_return llm::cannot_embed(model.name);
    }
    outcome.status = "error";
    outcome.cost_micros = llm::cost_micros(model.pricing, outcome.usage);
    co_await record(*grant, outcome, admitted_at, upstream);
    co_return embeddings.error();
  }
  EmbeddingResult out;
  out.model = model.name;
  out.vectors = std::move(embeddings->vectors);
  out.usage = embeddings->usage;
  out.cost_micros = llm::cost_micros(model.pricing, out.usage);
  outcome.deployment = embeddings->deployment;
  outcome.provider = embeddings->provider;
  outcome.usage = out.usage;
  outcome.cost_micros = out.cost_micros;
  co_await record(*grant, outcome, admitted_at, upstream);
  co_return out;
}

}  // namespace aas::chat
