#pragma once
// Keyset cursors shared by every Store adapter, so a cursor means the same thing whichever
// database is behind the service. Clients treat them as opaque; the store parses them strictly
// and answers invalid_request "invalid cursor" for anything it did not write itself.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace aas::store {

// Conversations sort by (updated_at desc, id desc): the cursor is "<updated_at ms>:<id>".
struct ConversationCursor {
  std::int64_t updated_at_ms = 0;
  std::string id;
};
std::string encode_conversation_cursor(std::int64_t updated_at_ms, std::string_view id);
std::optional<ConversationCursor> decode_conversation_cursor(std::string_view s);

// Messages sort by id (UUIDv7, creation order): the cursor is the last id returned.
std::string encode_message_cursor(std::string_view id);
std::optional<std::string> decode_message_cursor(std::string_view s);

}  // namespace aas::store
