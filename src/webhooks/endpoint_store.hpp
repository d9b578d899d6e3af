#pragma once
// Per-tenant webhook endpoints (table webhook_endpoints of migration 12), managed by admins at
// /api/ai/admin/webhooks. An endpoint belongs to one tenant: the principal whose events it
// receives, exactly as the events name it in data.userId — a user id, or "key:<id>" for a service
// key's own calls (a key acting for a user with X-On-Behalf-Of makes that user's events). Another
// tenant's events never reach it. The endpoints of WEBHOOK_URLS stay global (every event).
// The port sits beside DeliveryStore; its SQLite and PostgreSQL adapters are in
// webhooks/sql_endpoint_store.cpp.
#include "core/clock.hpp"
#include "core/error.hpp"
#include "domain/records.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aas::webhooks {

struct Endpoint {
  std::string id;  // UUIDv7
  std::string url;
  // Signs the endpoint's deliveries (HMAC-SHA256, as WEBHOOK_SECRET does the global ones). Kept
  // as it is (a signature needs it), shown to the admin only when created or rotated.
  std::string secret;
  std::string tenant;
  std::vector<std::string> events;  // the event types it receives; empty: every type
  TimePoint created_at{};
  std::optional<TimePoint> rotated_at;

  bool wants(std::string_view type) const;
};

struct NewEndpoint {
  std::string url;
  std::string secret;
  std::string tenant;
  std::vector<std::string> events;
};

class EndpointStore {
 public:
  virtual ~EndpointStore() = default;
  virtual Result<Endpoint> create(const NewEndpoint& e) = 0;
  // Every endpoint (the dispatcher keeps them in memory; there are few).
  virtual Result<std::vector<Endpoint>> all() = 0;
  // The admin list, oldest first.
  virtual Result<domain::Page<Endpoint>> list(const domain::PageRequest& page) = 0;
  virtual Result<Endpoint> get(std::string_view id) = 0;  // not_found
  virtual Result<Endpoint> rotate(std::string_view id, std::string_view secret) = 0;  // not_found
  virtual Result<Endpoint> remove(std::string_view id) = 0;  // the removed endpoint; not_found
};

// Throws on a database that cannot be opened (a start-up error). `clock` must outlive the store.
std::unique_ptr<EndpointStore> open_sqlite_endpoint_store(const std::string& path, const Clock& clock);
std::unique_ptr<EndpointStore> open_postgres_endpoint_store(const std::string& url, const Clock& clock);

}  // namespace aas::webhooks
