// The webhook delivery log, admin only: GET /api/ai/admin/webhooks/deliveries?status=&limit=&cursor=
// (newest first). Endpoints are shown without credentials or query; payloads are not listed.
#include "api/api.hpp"
#include "api/json_io.hpp"
#include "webhooks/webhooks.hpp"

namespace aas::api {

namespace {

using Reply = boost::asio::awaitable<Result<http::Response>>;

json::value delivery_json(const webhooks::Delivery& d) {
  const auto n = [](const std::optional<std::int64_t>& v) { return v ? json::value(*v) : json::value(nullptr); };
  return json::object{{"id", d.id},
                      {"eventId", d.event_id},
                      {"eventType", d.event_type},
                      {"endpoint", webhooks::redacted_endpoint(d.endpoint)},
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

}  // namespace

void add_admin_webhook_routes(http::Router& router, Services& s) {
  if (!s.webhooks) return;
  router.add({"GET", "/api/ai/admin/webhooks/deliveries", http::Access::admin,
              [&s](http::Context& c) { return list_deliveries(s, c); }});
}

}  // namespace aas::api
