#pragma once
// JSON at the edge: reading request bodies and query parameters into native types with clear
// 400s, and writing domain structs as the camelCase objects of docs/openapi.yaml.
#include "core/error.hpp"
#include "http/message.hpp"
#include "domain/records.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aas::api {

namespace json = boost::json;

// The body as a JSON object; 400 for anything else (empty, malformed, an array, ...), and for a
// string or field name anywhere in it holding U+0000 (refuse_nul_text).
Result<json::object> parse_object(const http::Request& req);
// 400 naming the first field (`messages[0].content`) whose text or name holds U+0000. One rule for
// every body (and Socket.IO event): PostgreSQL would cut such text at the NUL and SQLite keep it,
// so it is refused before it can reach either.
Result<void> refuse_nul_text(const json::value& v);
// 400 naming the first field that is not in `known`.
Result<void> allow_only(const json::object& body, std::initializer_list<std::string_view> known);

// The member `key`, or nullptr when it is absent or null: a null member counts as an absent one.
const json::value* member(const json::object& body, std::string_view key);

// Absent or null: nullopt. Present and not an integer from lo to hi: 400 "'key' <what>".
Result<std::optional<std::int64_t>> optional_int(const json::object& body, std::string_view key, std::int64_t lo,
                                                 std::int64_t hi, std::string_view what);

// Absent or null: nullopt. Present and not a string: 400.
Result<std::optional<std::string>> optional_string(const json::object& body, std::string_view key);

// Absent or null: nullopt. Present and not an array of strings: 400.
Result<std::optional<std::vector<std::string>>> optional_string_array(const json::object& body, std::string_view key);

// Absent or null: nullopt. Present and not a boolean: 400.
Result<std::optional<bool>> optional_bool(const json::object& body, std::string_view key);

// For PATCH: absent (present = false), null (present, no value) or a value.
struct NullableString {
  bool present = false;
  std::optional<std::string> value;
};
Result<NullableString> nullable_string(const json::object& body, std::string_view key);

// A JSON object field kept as text (metadata); absent: nullopt; not an object: 400.
Result<std::optional<std::string>> optional_object_text(const json::object& body, std::string_view key);

// ?limit=&cursor= with limit an integer in 1..100 (400 otherwise).
Result<domain::PageRequest> page_request(const http::Request& req, int default_limit);

json::value to_json(const domain::Conversation& c);
json::value to_json(const domain::Message& m);
json::value cost_to_json(const std::optional<std::int64_t>& cost_micros);
// {"items": [...], "nextCursor": ...}
template <class T>
json::value page_to_json(const domain::Page<T>& page) {
  json::array items;
  items.reserve(page.items.size());
  for (const T& item : page.items) items.push_back(to_json(item));
  json::object out;
  out["items"] = std::move(items);
  out["nextCursor"] = page.next_cursor ? json::value(*page.next_cursor) : json::value(nullptr);
  return out;
}

// The success envelope around `data`.
http::Response ok(const json::value& data, int status = 200);

}  // namespace aas::api
