#pragma once
// Private to the key store adapters: the column list and the row reader both dialects share.
#include "keys/key_store.hpp"

#include <boost/json.hpp>

#include <string>
#include <vector>

namespace aas::keys::detail {

// The columns every SELECT / RETURNING of a key lists, in this order.
#define AAS_KEY_COLUMNS "id, name, prefix, allowed_models, may_act_for_users, created_at, rotated_at, revoked_at"

inline std::string encode_models(const std::vector<std::string>& models) {
  boost::json::array a;
  for (const auto& m : models) a.emplace_back(m);
  return boost::json::serialize(a);
}

inline std::vector<std::string> decode_models(const std::string& text) {
  std::vector<std::string> out;
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(text, ec);
  if (ec || !v.is_array()) return out;
  for (const auto& m : v.get_array())
    if (m.is_string()) out.emplace_back(m.get_string());
  return out;
}

// `row` answers text(col), int64(col), optional_int64(col) for the current row.
template <class Row>
ServiceKey read_key(const Row& row) {
  ServiceKey k;
  k.id = row.text(0);
  k.name = row.text(1);
  k.prefix = row.text(2);
  k.allowed_models = decode_models(row.text(3));
  k.may_act_for_users = row.flag(4);
  k.created_at = from_unix_ms(row.int64(5));
  if (auto t = row.optional_int64(6)) k.rotated_at = from_unix_ms(*t);
  if (auto t = row.optional_int64(7)) k.revoked_at = from_unix_ms(*t);
  return k;
}

}  // namespace aas::keys::detail
