#pragma once
// Webhook deliveries queued in the database (table webhook_deliveries of migration 10), so an
// event announced just before a restart is still delivered after it. One row per event and
// endpoint. The port sits beside store::Store; its SQLite and PostgreSQL adapters are in
// webhooks/sql_delivery_store.cpp.
#include "core/clock.hpp"
#include "core/error.hpp"
#include "domain/records.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aas::webhooks {

struct Delivery {
  std::string id;  // UUIDv7; sent as X-AAS-Delivery
  std::string endpoint;
  std::string endpoint_id;  // a tenant's endpoint (signed with its secret); empty: WEBHOOK_URLS
  std::string event_id;
  std::string event_type;
  std::string payload;  // the JSON body, exactly as signed and sent
  std::string status;   // pending | delivered | failed
  std::int64_t attempts = 0;
  TimePoint next_attempt_at{};
  std::optional<std::int64_t> last_status;  // the HTTP status of the last attempt
  std::optional<std::string> last_error;
  TimePoint created_at{};
  TimePoint updated_at{};
};

struct NewDelivery {
  std::string endpoint;
  std::string event_id;
  std::string event_type;
  std::string payload;
  std::string endpoint_id;  // empty: a WEBHOOK_URLS endpoint
};

class DeliveryStore {
 public:
  virtual ~DeliveryStore() = default;
  // Queues deliveries due at once, in one transaction.
  virtual Result<void> enqueue(const std::vector<NewDelivery>& deliveries) = 0;
  // Up to `max` pending deliveries due at `now` (the longest due first; returned oldest first), each leased: its next attempt
  // moves to `lease_until` and its attempts count goes up, so no other replica takes it while
  // this one tries. A replica that dies mid-attempt leaves the lease to run out: the delivery is
  // tried again then (at least once, never lost).
  virtual Result<std::vector<Delivery>> claim(TimePoint now, TimePoint lease_until, int max) = 0;
  virtual Result<void> delivered(std::string_view id, int http_status) = 0;
  // A failed attempt: tried again at `retry_at`, or, without one, given up (status failed).
  virtual Result<void> attempt_failed(std::string_view id, std::optional<int> http_status, std::string_view error,
                                      std::optional<TimePoint> retry_at) = 0;
  // The delivery log, newest first; `status` filters when set.
  virtual Result<domain::Page<Delivery>> list(const domain::PageRequest& page,
                                              const std::optional<std::string>& status) = 0;
};

// Throws on a database that cannot be opened (a start-up error). `clock` must outlive the store.
std::unique_ptr<DeliveryStore> open_sqlite_delivery_store(const std::string& path, const Clock& clock);
std::unique_ptr<DeliveryStore> open_postgres_delivery_store(const std::string& url, const Clock& clock);

}  // namespace aas::webhooks
