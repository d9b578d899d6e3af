#pragma once
// Resilience between the chat service and the providers: weighted choice among a model's
// deployments, retries with exponential backoff and full jitter (honouring Retry-After), a
// circuit breaker and a bounded, deadline-aware concurrency queue per deployment shared fairly
// between users (one FIFO per user, served in turn), and fallback
// along a chain of models. It is itself an LlmProvider, so the chat service does not know it is
// there.
#include "core/clock.hpp"
#include "llm/provider.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace aas::llm {

struct RetryPolicy {
  int max_attempts = 3;  // per deployment chain, first try included
  std::chrono::milliseconds base_delay{250};
  std::chrono::milliseconds max_delay{8000};
  std::chrono::milliseconds max_retry_after{20000};  // a longer Retry-After is not waited for
  std::chrono::milliseconds deadline{120000};         // for the whole call, fallbacks included
};

struct BreakerPolicy {
  int consecutive_failures = 5;         // opens after this many failures in a row
  double failure_ratio = 0.5;           // ... or this ratio over the window
  int min_calls_in_window = 20;         //     once the window holds this many calls
  std::chrono::milliseconds window{30000};
  std::chrono::milliseconds open_for{15000};  // then one half-open probe is let through
};

enum class BreakerState { closed, open, half_open };

struct Deployment {
  std::string name;            // for logs and metrics: "openai/gpt-4o-mini#1"
  std::string upstream_model;  // replaces ChatRequest::model for this deployment
  std::shared_ptr<LlmProvider> provider;
  int weight = 1;
  // Calls in flight to this deployment. When all are taken, waiting calls are served round-robin
  // across users (ChatRequest::fair_key), and a user holding ceil(max_concurrency / users with
  // calls running or waiting) slots already is passed over while another user waits.
  int max_concurrency = 64;
  int max_queue = 256;          // calls waiting beyond that; more fail at once with rate_limited
  // Slots only a user holding none of this deployment's slots may take, so that a newcomer is
  // served at once even when other users' long streams hold everything else (nothing is ever
  // preempted). -1: max_concurrency / 16 (4 of 64; none below 16). At most max_concurrency - 1.
  int reserved_slots = -1;
};

// Which failures are worth another attempt: rate limits, 408/409/5xx, timeouts and connection
// errors. A client error (400) or a refused request is not.
bool is_retryable(const Error& e) noexcept;

class RoutedModel;

struct RouterHooks {
  // Called for observability; all optional.
  std::function<void(const std::string& deployment, const Error& e, int attempt)> on_retry;
  std::function<void(const std::string& from_model, const std::string& to_model)> on_fallback;
  std::function<void(const std::string& deployment, BreakerState state)> on_breaker;
  // Every failed call to a deployment, retried or not (a cancelled call is not a failure).
  std::function<void(const std::string& deployment, const Error& e)> on_upstream_error;
  // A deployment's calls in flight and waiting for a slot, after every change. Called under the
  // router's lock (so the figures arrive in order): it must be quick and must not call the router.
  std::function<void(const std::string& deployment, int in_flight, int queued)> on_load;
};

// One model alias: its deployments, and the models to fall back to, in order.
class RoutedModel final : public LlmProvider {
 public:
  RoutedModel(std::string name, std::vector<Deployment> deployments, RetryPolicy retry,
              BreakerPolicy breaker, const Clock& clock, RouterHooks hooks = {});
  ~RoutedModel() override;

  void set_fallbacks(std::vector<std::shared_ptr<RoutedModel>> chain);

  std::string_view name() const override { return name_; }
  // Tries deployments (weighted, skipping open breakers), retrying per RetryPolicy, then the
  // fallback models. The last error is returned when everything failed: rate_limited with
  // retry_after when the upstreams said so, upstream_timeout, upstream_error or unavailable.
  boost::asio::awaitable<Result<Completion>> complete(const ChatRequest& req) override;
  // As complete, but only until the first chunk reached the sink: after that a failure is
  // returned as it is (never retried silently) and the caller keeps the partial answer.
  boost::asio::awaitable<Result<Completion>> stream(const ChatRequest& req,
                                                    const ChunkSink& sink) override;
  // The stream once it reached the client: it holds the deployment's slot and its breaker ticket
  // until its outcome is known, not the router's coroutines (retries and fallbacks are over then).
  boost::asio::awaitable<Result<std::unique_ptr<OpenStream>>> open_stream(const ChatRequest& req,
                                                                          const ChunkSink& sink) override;

  // Every deployment of this model must support the request (the router may pick any of them);
  // the fallback chain is not asked: a fallback that cannot honour it answers that 400 if reached.
  Result<void> supports(const ChatRequest& req) const override;
  // As complete (deployments, retries, breakers), without the fallback chain.
  boost::asio::awaitable<Result<Embeddings>> embed(const EmbeddingRequest& req) override;

  BreakerState breaker_state(const std::string& deployment) const;

 private:
  struct State;
  std::string name_;
  std::unique_ptr<State> state_;
};

}  // namespace aas::llm
