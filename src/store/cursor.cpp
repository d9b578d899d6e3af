#include "store/cursor.hpp"

#include <charconv>

namespace aas::store {

namespace {

// Only the canonical form the stores write (lowercase 8-4-4-4-12): ids compare as text, so an
// uppercase variant would sort elsewhere and silently skip or repeat items.
bool is_canonical_id(std::string_view s) noexcept {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string encode_conversation_cursor(std::int64_t updated_at_ms, std::string_view id) {
  std::string out = std::to_string(updated_at_ms);
  out.push_back(':');
  out.append(id);
  return out;
}

std::optional<ConversationCursor> decode_conversation_cursor(std::string_view s) {
  const auto colon = s.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const std::string_view ms = s.substr(0, colon);
  const std::string_view id = s.substr(colon + 1);
  // Digits only, no sign, no leading zeros: exactly what encode writes.
  if (ms.empty() || (ms.size() > 1 && ms[0] == '0')) return std::nullopt;
  for (char c : ms)
    if (c < '0' || c > '9') return std::nullopt;
  ConversationCursor out;
  const auto [end, ec] = std::from_chars(ms.data(), ms.data() + ms.size(), out.updated_at_ms);
  if (ec != std::errc{} || end != ms.data() + ms.size()) return std::nullopt;  // overflow
  if (!is_canonical_id(id)) return std::nullopt;
  out.id = std::string(id);
  return out;
}

std::string encode_message_cursor(std::string_view id) { return std::string(id); }

std::optional<std::string> decode_message_cursor(std::string_view s) {
  if (!is_canonical_id(s)) return std::nullopt;
  return std::string(s);
}

}  // namespace aas::store
