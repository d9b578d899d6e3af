#pragma once
// Prometheus metrics behind a small facade, so that prometheus-cpp stays inside src/metrics and
// every other module records through plain calls. All methods are thread-safe.
//
// Labels are bounded sets on purpose: a route PATTERN (never a raw path), a configured model or
// deployment name, an error code name. There is no user label anywhere: per-user figures belong in
// the usage tables, and one time series per user would grow without bound in Prometheus.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace aas::metrics {

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // One HTTP request: http_requests_total{method,route,status}, http_request_duration_seconds{route}.
  // route: the route pattern (/api/ai/conversations/:id) or "unmatched". A method outside the
  // standard ones is counted as "other" (clients choose it freely).
  void http_request(std::string_view method, std::string_view route, int status, double seconds);

  // One chat or gateway turn. model: a configured model name; status: complete | interrupted |
  // error | rejected. ai_chat_requests_total{model,status}, ai_chat_duration_seconds{model}.
  void chat_request(std::string_view model, std::string_view status, double seconds);
  // ai_tokens_used_total{model,type}; type: input | output | cached_input | cache_write | reasoning.
  void tokens(std::string_view model, std::string_view type, std::int64_t n);
  // ai_cost_usd_total{model}, in USD (micros / 1e6).
  void cost_micros(std::string_view model, std::int64_t micros);
  void time_to_first_token(std::string_view model, double seconds);
  // Time spent in the gateway itself: the turn's total minus the upstream's time.
  void gateway_overhead(std::string_view model, double seconds);

  // ai_upstream_errors_total{deployment,class}; error_class: the error code name (rate_limited,
  // upstream_error, upstream_timeout, unavailable, ...).
  void upstream_error(std::string_view deployment, std::string_view error_class);
  void retry(std::string_view deployment);
  void fallback(std::string_view from_model, std::string_view to_model);
  // ai_circuit_state{deployment}: 0 closed, 1 open, 2 half-open.
  void breaker_state(std::string_view deployment, int state);
  // ai_deployment_in_flight{deployment}, ai_deployment_queued{deployment}: its slots taken, and
  // the calls waiting for one.
  void deployment_load(std::string_view deployment, int in_flight, int queued);
  // ai_limit_rejections_total{limit}; limit: rpm | tpm | concurrency | budget_daily | budget_monthly.
  void limit_rejection(std::string_view limit);
  void cache_hit(std::string_view model);  // ai_cache_hits_total: answered from the response cache

  // ai_redis_up: 1 while Redis answers, 0 while it does not (only with REDIS_URL).
  void redis_up(bool up);

  // ai_active_streams: answers being streamed right now.
  void stream_started();
  void stream_ended();

  // The Prometheus text exposition (format 0.0.4) of everything above plus the process metrics.
  std::string expose() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aas::metrics
