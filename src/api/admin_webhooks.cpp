// Webhooks, admin only. The delivery log: GET /api/ai/admin/webhooks/deliveries?status=&limit=&cursor=
// (newest first; endpoints shown without credentials or query; payloads not listed). Per-tenant
// endpoints: POST /api/ai/admin/webhooks {url, tenant, events?} (its signing secret in the answer,
// this once), GET list and one, POST /api/ai/admin/webhooks/:id/rotate-secret (a new secret, this
// once; deliveries still queued are signed with it), DELETE /api/ai/admin/webhooks/:id (its queued
// deliveries are given up).
#include "api/api.hpp"
#include "api/json_io.hpp"
#include "webhooks/webhooks.hpp"

#include <boost/url/parse.hpp>

#include <algorithm>

namespace aas::api {

namespace {

using Reply = boost::asio::awaitable<Result<http::Response>>;

json::value delivery_json(const webhooks::Delivery& d) {
  const auto n = [](const std::optional<std::int64_t>& v) { return v ? json::value(*v) : json::value(nullptr); };
  return json::object{{"id", d.id},
                      {"eventId", d.event_id},
                      {"eventType", d.event_type},
                      {"endpoint", webhooks::redacted_endpoint(d.endpoint)},
                      {"endpointId", d.endpoint_id.empty() ? json::value(nullptr) : json::value(d.endpoint_id)},
                      {"status", d.status},
                      {"attempts", d.attempts},
                      {"nextAttemptAt", d.status == "pending" ? json::value(format_rfc3339(d.next_attempt_at)) : json::value(nullptr)},
                      {"lastStatus", n(d.last_status)},
                      {"lastError", d.last_error ? json::value(*d.last_error) : json::value(nullptr)},
                      {"createdAt", format_rfc3339(d.created_at)},
                      {"updatedAt", format_rfc3339(d.updated_at)}};
}

Reply list_deliveries(Services& s, http::Context& ctx) {
  auto page = page_request(ctx.request, 50);
  if (!page) co_return page.error();
  std::optional<std::string> status = ctx.request.query("status");
  if (status && *status != "pending" && *status != "delivered" && *status != "failed")
    co_return make_error(errc::invalid_request, "status must be pending, delivered or failed");
  auto found = co_await s.webhooks->deliveries(*page, std::move(status));
  if (!found) co_return found.error();
  json::array items;
  for (const webhooks::Delivery& d : found->items) items.push_back(delivery_json(d));
  co_return ok(json::object{{"items", std::move(items)},
                            {"nextCursor", found->next_cursor ? json::value(*found->next_cursor) : json::value(nullptr)}});
}

constexpr std::string_view kEventTypes[] = {"message.completed", "knowledge.document.indexed", "budget.threshold"};
constexpr std::size_t kMaxTenantChars = 200;
constexpr std::size_t kMaxUrlChars = 2048;

Error bad(std::string message) { return make_error(errc::invalid_request, std::move(message)); }

// The secret never: only creation and rotation add it (endpoint_with_secret).
json::object endpoint_json(const webhooks::Endpoint& e) {
  json::array events;
  for (const std::string& t : e.events) events.emplace_back(t);
  return json::object{{"id", e.id},
                      {"url", e.url},
                      {"tenant", e.tenant},
                      {"events", std::move(events)},
                      {"createdAt", format_rfc3339(e.created_at)},
                      {"rotatedAt", e.rotated_at ? json::value(format_rfc3339(*e.rotated_at)) : json::value(nullptr)}};
}

json::object endpoint_with_secret(const webhooks::Endpoint& e) {
  json::object o = endpoint_json(e);
  o["secret"] = e.secret;
  return o;
}

// Ids are UUIDv7; anything else cannot name an endpoint (404, as for one that does not exist).
Result<std::string> endpoint_id(const http::Context& ctx) {
  std::string id(ctx.param("id"));
  if (id.size() != 36) return make_error(errc::not_found, "webhook endpoint not found");
  return id;
}

Reply create_endpoint(Services& s, http::Context& ctx) {
  auto body = parse_object(ctx.request);
  if (!body) co_return body.error();
  if (auto r = allow_only(*body, {"url", "tenant", "events"}); !r) co_return r.error();
  webhooks::NewEndpoint e;
  auto url = optional_string(*body, "url");
  if (!url) co_return url.error();
  const auto is_http = [](const std::string& u) {
    auto parsed = boost::urls::parse_uri(u);
    return parsed && (parsed->scheme() == "http" || parsed->scheme() == "https") && !parsed->encoded_host().empty();
  };
  if (!*url || (*url)->size() > kMaxUrlChars || !is_http(**url))
    co_return bad("url is required: an http:// or https:// URL");
  e.url = std::move(**url);
  auto tenant = optional_string(*body, "tenant");
  if (!tenant) co_return tenant.error();
  if (!*tenant || (*tenant)->empty() || (*tenant)->size() > kMaxTenantChars)
    co_return bad("tenant is required: the user id or service key principal (key:<id>) whose events it receives");
  e.tenant = std::move(**tenant);
  if (const json::value* events = body->if_contains("events"); events && !events->is_null()) {
    if (!events->is_array()) co_return bad("events must be an array of event types");
    for (const json::value& t : events->get_array()) {
      const std::string type = t.is_string() ? std::string(t.get_string()) : std::string();
      if (std::find(std::begin(kEventTypes), std::end(kEventTypes), type) == std::end(kEventTypes))
        co_return bad("events: each must be message.completed, knowledge.document.indexed or budget.threshold");
      if (std::find(e.events.begin(), e.events.end(), type) == e.events.end()) e.events.push_back(type);
    }
  }
  auto created = co_await s.webhooks->create_endpoint(std::move(e));
  if (!created) co_return created.error();
  co_return ok(endpoint_with_secret(*created), 201);
}

Reply list_endpoints(Services& s, http::Context& ctx) {
  auto page = page_request(ctx.request, 50);
  if (!page) co_return page.error();
  auto found = co_await s.webhooks->list_endpoints(*page);
  if (!found) co_return found.error();
  json::array items;
  for (const webhooks::Endpoint& e : found->items) items.push_back(endpoint_json(e));
  co_return ok(json::object{{"items", std::move(items)},
                            {"nextCursor", found->next_cursor ? json::value(*found->next_cursor) : json::value(nullptr)}});
}

Reply get_endpoint(Services& s, http::Context& ctx) {
  auto id = endpoint_id(ctx);
  if (!id) co_return id.error();
  auto found = co_await s.webhooks->get_endpoint(std::move(*id));
  if (!found) co_return found.error();
  co_return ok(endpoint_json(*found));
}

Reply rotate_secret(Services& s, http::Context& ctx) {
  auto id = endpoint_id(ctx);
  if (!id) co_return id.error();
  auto rotated = co_await s.webhooks->rotate_endpoint_secret(std::move(*id));
  if (!rotated) co_return rotated.error();
  co_return ok(endpoint_with_secret(*rotated));
}

Reply delete_endpoint(Services& s, http::Context& ctx) {
  auto id = endpoint_id(ctx);
  if (!id) co_return id.error();
  auto removed = co_await s.webhooks->delete_endpoint(std::move(*id));
  if (!removed) co_return removed.error();
  co_return ok(endpoint_json(*removed));
}

}  // namespace

void add_admin_webhook_routes(http::Router& router, Services& s) {
  if (!s.webhooks) return;
  router.add({"GET", "/api/ai/admin/webhooks/deliveries", http::Access::admin,
              [&s](http::Context& c) { return list_deliveries(s, c); }});
  router.add({"POST", "/api/ai/admin/webhooks", http::Access::admin,
              [&s](http::Context& c) { return create_endpoint(s, c); }});
  router.add({"GET", "/api/ai/admin/webhooks", http::Access::admin,
              [&s](http::Context& c) { return list_endpoints(s, c); }});
  router.add({"GET", "/api/ai/admin/webhooks/:id", http::Access::admin,
              [&s](http::Context& c) { return get_endpoint(s, c); }});
  router.add({"POST", "/api/ai/admin/webhooks/:id/rotate-secret", http::Access::admin,
              [&s](http::Context& c) { return rotate_secret(s, c); }});
  router.add({"DELETE", "/api/ai/admin/webhooks/:id", http::Access::admin,
              [&s](http::Context& c) { return delete_endpoint(s, c); }});
}

}  // namespace aas::api
