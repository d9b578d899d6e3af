#pragma once
// Webhooks: the service tells the monolith what happened by POSTing signed JSON events to the
// endpoints of WEBHOOK_URLS. Announcing an event queues one delivery per endpoint in the store (it
// survives a restart); the dispatcher, running on every replica, claims due deliveries, sends them
// and retries failures (5xx, 408, 429, timeouts, connection errors) with exponential backoff and
// jitter, up to max_attempts; any other answer gives up at once. Delivery is at least once: a
// receiver deduplicates by the event id (or X-AAS-Delivery).
//
// Tenancy: the endpoints of WEBHOOK_URLS are the deployment's and receive every user's events
// (each event names its user). Admins add per-tenant endpoints (endpoint_store.hpp, migration 12):
// each receives only the events whose data.userId is its tenant, signed with its own secret; no
// event reaches another tenant's endpoint. Every replica keeps the endpoints in memory, read
// again at each poll of the queue, so one created, rotated or deleted on another replica is seen
// within a poll interval (Options::poll, or Options::idle_poll while the replica knows of none).
//
// Events (body: {"id": "evt_…", "type", "createdAt", "data": {…}}):
//   message.completed          an answer was recorded: userId, conversationId, messageId, status,
//                              model, inputTokens, outputTokens (not the text)
//   knowledge.document.indexed a knowledge-base document is searchable: userId, knowledgeBaseId,
//                              documentId, chunks
//   budget.threshold           a user's spending crossed a share of a budget: userId, period
//                              (daily|monthly), thresholdPercent, spentUsd, limitUsd
#include "core/clock.hpp"
#include "core/error.hpp"
#include "domain/records.hpp"
#include "realtime/event_bus.hpp"
#include "webhooks/delivery_store.hpp"
#include "webhooks/endpoint_store.hpp"

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace boost::asio { class thread_pool; }
namespace aas::http { class HttpClient; }

namespace aas::webhooks {

struct Options {
  std::vector<std::string> urls;  // WEBHOOK_URLS; empty: webhooks off
  std::string secret;             // WEBHOOK_SECRET
  int max_attempts = 8;
  std::chrono::milliseconds timeout{5000};            // one attempt
  std::chrono::milliseconds retry_base{1000};         // the first retry's delay; doubles each time
  std::chrono::milliseconds retry_max{15 * 60'000};   // the longest delay
  std::chrono::milliseconds poll{500};                // how often the dispatcher looks for due ones
  // How often it reads the store while no endpoint exists (no WEBHOOK_URLS, no per-tenant
  // endpoint): no event can be queued then, so an idle service does not query it twice a second.
  std::chrono::milliseconds idle_poll{5000};
  int batch = 16;
};

// The delay before attempt `attempt + 1` after `attempt` failed: base * 2^(attempt-1), capped,
// then a random point in its upper half (jitter, so receivers that come back are not hit by
// every retry at once). `unit` is in [0, 1).
std::chrono::milliseconds retry_delay(const Options& o, std::int64_t attempt, double unit);

class Webhooks {
 public:
  // `endpoints` (may be null: WEBHOOK_URLS only) holds the per-tenant endpoints.
  Webhooks(DeliveryStore& store, EndpointStore* endpoints, std::shared_ptr<http::HttpClient> client,
           boost::asio::thread_pool& blocking, const Clock& clock, Options options);

  // Some endpoint would receive an event now (announcing is a no-op otherwise).
  bool enabled() const { return !options_.urls.empty() || has_endpoints_.load(); }
  // The dispatcher has work to look for: WEBHOOK_URLS, or endpoints that admins may add.
  bool active() const { return !options_.urls.empty() || endpoints_ != nullptr; }
  // Reads the per-tenant endpoints again (start-up; run() does it at every poll). Blocking.
  void refresh_endpoints();

  // Announcing queues a delivery per endpoint; it writes to the store, so call it off the I/O
  // threads. A failure to queue is logged, not thrown: events are never the record.
  void message_completed(const realtime::Event& e);
  void document_indexed(const std::string& user_id, const std::string& knowledge_base_id,
                        const std::string& document_id, std::int64_t chunks);
  void budget_threshold(const std::string& user_id, const std::string& period, int threshold_percent,
                        std::int64_t spent_micros, std::int64_t limit_micros);

  // The delivery loop: runs until stop(); start it on the I/O executor (co_spawn).
  boost::asio::awaitable<void> run();
  void stop() { stopped_ = true; }

  // The delivery log (admin).
  boost::asio::awaitable<Result<domain::Page<Delivery>>> deliveries(domain::PageRequest page,
                                                                     std::optional<std::string> status);

  // Per-tenant endpoints (admin). Creation and rotation draw a new secret ("whsec_" + 64 hex
  // digits), returned in the endpoint: the only time it is shown. invalid_request without an
  // endpoint store.
  boost::asio::awaitable<Result<Endpoint>> create_endpoint(NewEndpoint e);
  boost::asio::awaitable<Result<domain::Page<Endpoint>>> list_endpoints(domain::PageRequest page);
  boost::asio::awaitable<Result<Endpoint>> get_endpoint(std::string id);
  boost::asio::awaitable<Result<Endpoint>> rotate_endpoint_secret(std::string id);
  boost::asio::awaitable<Result<Endpoint>> delete_endpoint(std::string id);

 private:
  // Queues the event for WEBHOOK_URLS and for the endpoints of `tenant` that want `type`.
  void announce(std::string_view type, const std::string& tenant, std::string data_json);
  boost::asio::awaitable<void> attempt(const Delivery& d);
  // The secret that signs `d`: WEBHOOK_SECRET, or its endpoint's (nullopt: the endpoint is gone).
  std::optional<std::string> secret_for(const Delivery& d);

  DeliveryStore& store_;
  EndpointStore* endpoints_;
  std::mutex endpoints_mu_;
  std::vector<Endpoint> endpoint_cache_;  // under endpoints_mu_
  std::atomic<bool> has_endpoints_{false};
  std::shared_ptr<http::HttpClient> client_;
  boost::asio::thread_pool& blocking_;
  const Clock& clock_;
  Options options_;
  std::atomic<bool> stopped_{false};
};

// The event bus the recorder publishes on, seen by the webhooks: message.completed is queued for
// delivery by the replica that recorded it (once, not once per replica as a bus subscriber would).
class WebhookEventTap final : public realtime::EventBus {
 public:
  WebhookEventTap(realtime::EventBus& inner, Webhooks& hooks) : inner_(inner), hooks_(hooks) {}
  void publish(const realtime::Event& event) override;
  void subscribe(Handler handler) override { inner_.subscribe(std::move(handler)); }

 private:
  realtime::EventBus& inner_;
  Webhooks& hooks_;
};

// The endpoint as the delivery log shows it: scheme, host, port and path (no credentials, no query).
std::string redacted_endpoint(std::string_view url);

}  // namespace aas::webhooks
