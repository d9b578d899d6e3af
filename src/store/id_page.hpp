#pragma once
// Pages keyed by UUIDv7 id (creation order), for the ports beside store::Store (service keys,
// webhook deliveries): the cursor is the last id returned, as for messages (store/cursor.hpp).
#include "core/error.hpp"
#include "domain/records.hpp"
#include "store/cursor.hpp"

#include <string>
#include <utility>
#include <vector>

namespace aas::store {

// The id a page continues from: `first` (before or after every id, as the order needs) for the
// first page, the cursor's id otherwise; invalid_request for a cursor the service did not write.
inline Result<std::string> page_from(const domain::PageRequest& page, std::string first) {
  if (!page.cursor) return first;
  auto id = decode_message_cursor(*page.cursor);
  if (!id) return make_error(errc::invalid_request, "invalid cursor");
  return *id;
}

// `items` holds up to limit + 1 rows (each with an `id`): the extra one only says that another
// page follows.
template <class T>
domain::Page<T> id_page(std::vector<T> items, int limit) {
  domain::Page<T> out{std::move(items), std::nullopt};
  if (out.items.size() > static_cast<std::size_t>(limit)) {
    out.items.pop_back();
    out.next_cursor = encode_message_cursor(out.items.back().id);
  }
  return out;
}

}  // namespace aas::store
