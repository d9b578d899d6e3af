#include "webhooks/webhooks.hpp"

#include "core/digest.hpp"
#include "core/ids.hpp"
#include "core/offload.hpp"
#include "http/client.hpp"
#include "webhooks/signature.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

namespace aas::webhooks {

namespace asio = boost::asio;
namespace json = boost::json;

std::chrono::milliseconds retry_delay(const Options& o, std::int64_t attempt, double unit) {
  const std::int64_t base = std::max<std::int64_t>(1, o.retry_base.count());
  std::int64_t delay = base;
  for (std::int64_t i = 1; i < attempt && delay < o.retry_max.count(); ++i) delay *= 2;
  delay = std::min<std::int64_t>(delay, o.retry_max.count());
  return std::chrono::milliseconds(delay / 2 + static_cast<std::int64_t>(unit * static_cast<double>(delay - delay / 2)));
}

std::string redacted_endpoint(std::string_view url) {
  auto u = boost::urls::parse_uri(url);
  if (!u) return "(invalid url)";
  std::string out = std::string(u->scheme()) + "://" + std::string(u->encoded_host());
  if (u->has_port()) out += ":" + std::string(u->port());
  out += std::string(u->encoded_path());
  return out;
}

Webhooks::Webhooks(DeliveryStore& store, EndpointStore* endpoints, std::shared_ptr<http::HttpClient> client,
                   asio::thread_pool& blocking, const Clock& clock, Options options)
    : store_(store),
      endpoints_(endpoints),
      client_(std::move(client)),
      blocking_(blocking),
      clock_(clock),
      options_(std::move(options)) {}

void Webhooks::refresh_endpoints() {
  if (!endpoints_) return;
  auto all = endpoints_->all();
  if (!all) {
    spdlog::warn("webhooks: cannot read the endpoints: {}", all.error().detail);
    return;
  }
  const std::lock_guard lock(endpoints_mu_);
  endpoint_cache_ = std::move(*all);
  has_endpoints_ = !endpoint_cache_.empty();
}

std::optional<std::string> Webhooks::secret_for(const Delivery& d) {
  if (d.endpoint_id.empty()) return options_.secret;
  const std::lock_guard lock(endpoints_mu_);
  for (const Endpoint& e : endpoint_cache_)
    if (e.id == d.endpoint_id) return e.secret;
  return std::nullopt;
}

void Webhooks::announce(std::string_view type, const std::string& tenant, std::string data_json) {
  if (!enabled()) return;
  const std::string event_id = "evt_" + new_uuid_v7();
  std::string payload = "{\"id\":" + json::serialize(json::string(event_id)) + ",\"type\":" +
                        json::serialize(json::string(type)) + ",\"createdAt\":\"" + format_rfc3339(clock_.now()) +
                        "\",\"data\":" + data_json + "}";
  std::vector<NewDelivery> deliveries;
  for (const std::string& url : options_.urls) deliveries.push_back({url, event_id, std::string(type), payload, {}});
  {
    const std::lock_guard lock(endpoints_mu_);
    for (const Endpoint& e : endpoint_cache_)
      if (e.tenant == tenant && e.wants(type)) deliveries.push_back({e.url, event_id, std::string(type), payload, e.id});
  }
  if (deliveries.empty()) return;
  if (auto r = store_.enqueue(deliveries); !r)
    spdlog::error("webhooks: cannot queue {} {}: {}", type, event_id, r.error().detail);
}

void Webhooks::message_completed(const realtime::Event& e) {
  json::object data{{"userId", e.user_id},
                    {"conversationId", e.conversation_id},
                    {"messageId", e.message_id},
                    {"status", e.status},
                    {"model", e.model}};
  data["inputTokens"] = e.input_tokens ? json::value(*e.input_tokens) : json::value(nullptr);
  data["outputTokens"] = e.output_tokens ? json::value(*e.output_tokens) : json::value(nullptr);
  announce("message.completed", e.user_id, json::serialize(data));
}

void Webhooks::document_indexed(const std::string& user_id, const std::string& knowledge_base_id,
                                const std::string& document_id, std::int64_t chunks) {
  announce("knowledge.document.indexed", user_id, json::serialize(json::object{{"userId", user_id},
                                                                       {"knowledgeBaseId", knowledge_base_id},
                                                                       {"documentId", document_id},
                                                                       {"chunks", chunks}}));
}

void Webhooks::budget_threshold(const std::string& user_id, const std::string& period, int threshold_percent,
                                std::int64_t spent_micros, std::int64_t limit_micros) {
  announce("budget.threshold", user_id, json::serialize(json::object{{"userId", user_id},
                                                             {"period", period},
                                                             {"thresholdPercent", threshold_percent},
                                                             {"spentUsd", static_cast<double>(spent_micros) / 1e6},
                                                             {"limitUsd", static_cast<double>(limit_micros) / 1e6}}));
}

asio::awaitable<void> Webhooks::attempt(const Delivery& d) {
  const std::optional<std::string> secret = secret_for(d);
  if (!secret) {  // its endpoint was deleted: nobody to deliver to
    auto marked = co_await offload(blocking_, [&] {
      return store_.attempt_failed(d.id, std::nullopt, "the endpoint was deleted", std::nullopt);
    });
    if (!marked) spdlog::error("webhooks: cannot record attempt of {}: {}", d.id, marked.error().detail);
    co_return;
  }
  http::ClientRequest req;
  req.method = "POST";
  req.url = d.endpoint;
  req.body = d.payload;
  req.first_byte_timeout = options_.timeout;
  req.total_timeout = options_.timeout;
  const std::int64_t t = std::chrono::duration_cast<std::chrono::seconds>(clock_.now().time_since_epoch()).count();
  req.headers = {{"content-type", "application/json"},
                 {"user-agent", "ai-agent-service-webhooks"},
                 {"x-aas-event", d.event_type},
                 {"x-aas-delivery", d.id},
                 {std::string(kSignatureHeader), signature_header(*secret, t, d.payload)}};
  auto res = co_await client_->request(std::move(req));

  std::optional<int> status;
  std::string error;
  bool retry = true;
  if (!res) {
    error = res.error().detail.empty() ? res.error().message : res.error().detail;
  } else {
    status = res->status;
    if (res->status >= 200 && res->status < 300) {
      auto ok = co_await offload(blocking_, [&] { return store_.delivered(d.id, res->status); });
      if (!ok) spdlog::error("webhooks: delivery {} sent but not marked: {}", d.id, ok.error().detail);
      co_return;
    }
    error = "HTTP " + std::to_string(res->status);
    retry = res->status >= 500 || res->status == 408 || res->status == 429;
  }
  std::optional<TimePoint> retry_at;
  if (retry && d.attempts < options_.max_attempts) {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    const double unit = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    retry_at = clock_.now() + retry_delay(options_, d.attempts, unit);
  }
  spdlog::warn("webhooks: {} {} to {} failed (attempt {}): {}; {}", d.event_type, d.id, redacted_endpoint(d.endpoint),
               d.attempts, error, retry_at ? "will retry" : "giving up");
  auto marked = co_await offload(blocking_, [&] { return store_.attempt_failed(d.id, status, error, retry_at); });
  if (!marked) spdlog::error("webhooks: cannot record attempt of {}: {}", d.id, marked.error().detail);
}

asio::awaitable<void> Webhooks::run() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  std::chrono::milliseconds quiet{0};  // since the store was last read, while no endpoint exists
  while (!stopped_) {
    // No endpoint, so no event can have been queued: the store is read every idle_poll only. One
    // created on this replica makes enabled() true at once; one on another is seen within idle_poll.
    if (!enabled() && quiet < options_.idle_poll) {
      quiet += options_.poll;
      timer.expires_after(options_.poll);
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    quiet = std::chrono::milliseconds{0};
    // Endpoints created, rotated or deleted by another replica are seen from here on.
    if (endpoints_) co_await offload(blocking_, [this] { refresh_endpoints(); });
    const TimePoint now = clock_.now();
    // A lease a little longer than an attempt can take: a replica gone mid-attempt hands it on.
    const TimePoint lease_until = now + options_.timeout + std::chrono::seconds(5);
    auto due = co_await offload(blocking_, [&] { return store_.claim(now, lease_until, options_.batch); });
    if (!due) spdlog::warn("webhooks: cannot read the queue: {}", due.error().detail);
    const bool full = due && static_cast<int>(due->size()) == options_.batch;
    if (due)
      for (const Delivery& d : *due) co_await attempt(d);
    if (full) continue;  // more may be due at once
    timer.expires_after(options_.poll);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

asio::awaitable<Result<domain::Page<Delivery>>> Webhooks::deliveries(domain::PageRequest page,
                                                                     std::optional<std::string> status) {
  co_return co_await offload(blocking_, [&] { return store_.list(page, status); });
}

namespace {

Error no_endpoint_store() {
  return make_error(errc::invalid_request, "per-tenant webhook endpoints are not available");
}

std::string new_secret() { return "whsec_" + random_hex(32); }

}  // namespace

// Each change is read back into this replica's endpoints at once: its next event sees it.
asio::awaitable<Result<Endpoint>> Webhooks::create_endpoint(NewEndpoint e) {
  if (!endpoints_) co_return no_endpoint_store();
  e.secret = new_secret();
  co_return co_await offload(blocking_, [&] {
    auto created = endpoints_->create(e);
    refresh_endpoints();
    return created;
  });
}

asio::awaitable<Result<domain::Page<Endpoint>>> Webhooks::list_endpoints(domain::PageRequest page) {
  if (!endpoints_) co_return no_endpoint_store();
  co_return co_await offload(blocking_, [&] { return endpoints_->list(page); });
}

asio::awaitable<Result<Endpoint>> Webhooks::get_endpoint(std::string id) {
  if (!endpoints_) co_return no_endpoint_store();
  co_return co_await offload(blocking_, [&] { return endpoints_->get(id); });
}

asio::awaitable<Result<Endpoint>> Webhooks::rotate_endpoint_secret(std::string id) {
  if (!endpoints_) co_return no_endpoint_store();
  const std::string secret = new_secret();
  co_return co_await offload(blocking_, [&] {
    auto rotated = endpoints_->rotate(id, secret);
    refresh_endpoints();
    return rotated;
  });
}

asio::awaitable<Result<Endpoint>> Webhooks::delete_endpoint(std::string id) {
  if (!endpoints_) co_return no_endpoint_store();
  co_return co_await offload(blocking_, [&] {
    auto removed = endpoints_->remove(id);
    refresh_endpoints();
    return removed;
  });
}

void WebhookEventTap::publish(const realtime::Event& event) {
  inner_.publish(event);
  if (event.type == "message.completed") hooks_.message_completed(event);
}

}  // namespace aas::webhooks
