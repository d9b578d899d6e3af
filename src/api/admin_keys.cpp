// Service keys, admin only: POST /api/ai/admin/keys (the key in the answer, this once), GET list
// and one, POST /api/ai/admin/keys/:id/rotate (a new key, this once; the old one stops working),
// DELETE /api/ai/admin/keys/:id (revoked; kept for the record). No answer but those two ever
// carries a key: only its hash is stored.
#include "api/api.hpp"
#include "api/json_io.hpp"
#include "api/limits_json.hpp"
#include "keys/key_service.hpp"
#include "llm/models.hpp"

namespace aas::api {

namespace {

namespace asio = boost::asio;
using Reply = asio::awaitable<Result<http::Response>>;

constexpr std::size_t kMaxNameChars = 200;
constexpr std::size_t kMaxModels = 100;

Error bad(std::string message) { return make_error(errc::invalid_request, std::move(message)); }

json::object key_json(const keys::KeyView& v) {
  const keys::ServiceKey& k = v.key;
  json::array models;
  for (const auto& m : k.allowed_models) models.emplace_back(m);
  const auto time = [](const std::optional<TimePoint>& t) { return t ? json::value(format_rfc3339(*t)) : json::value(nullptr); };
  return json::object{{"id", k.id},
                      {"name", k.name},
                      {"prefix", k.prefix},
                      {"principal", keys::principal_id(k.id)},
                      {"allowedModels", std::move(models)},
                      {"mayActForUsers", k.may_act_for_users},
                      {"limits", v.limits ? limit_override_to_json(*v.limits) : json::value(nullptr)},
                      {"status", k.revoked_at ? "revoked" : "active"},
                      {"createdAt", format_rfc3339(k.created_at)},
                      {"rotatedAt", time(k.rotated_at)},
                      {"revokedAt", time(k.revoked_at)}};
}

json::value issued_json(const keys::IssuedKey& issued) {
  json::object o = key_json(issued.view);
  o["key"] = issued.secret;
  return o;
}

// Ids are UUIDv7; anything else cannot name a key (404, as for an id that does not exist).
Result<std::string> key_id(const http::Context& ctx) {
  std::string id(ctx.param("id"));
  if (id.size() != 36) return make_error(errc::not_found, "service key not found");
  return id;
}

Reply create_key(Services& s, http::Context& ctx) {
  auto body = parse_object(ctx.request);
  if (!body) co_return body.error();
  if (auto r = allow_only(*body, {"name", "allowedModels", "mayActForUsers", "limits"}); !r) co_return r.error();
  keys::NewServiceKey key;
  auto name = optional_string(*body, "name");
  if (!name) co_return name.error();
  if (!*name || (*name)->empty() || (*name)->size() > kMaxNameChars)
    co_return bad("name is required: 1 to 200 characters");
  key.name = std::move(**name);
  if (const json::value* models = body->if_contains("allowedModels"); models && !models->is_null()) {
    if (!models->is_array() || models->get_array().size() > kMaxModels)
      co_return bad("allowedModels must be an array of at most 100 model names");
    for (const json::value& m : models->get_array()) {
      if (!m.is_string()) co_return bad("allowedModels must be an array of model names");
      const std::string name_of(m.get_string());
      auto found = s.models.find(name_of);
      if (!found) co_return bad("allowedModels: unknown model '" + name_of.substr(0, 100) + "'");
      key.allowed_models.push_back((*found)->name);
    }
  }
  auto act = optional_bool(*body, "mayActForUsers");
  if (!act) co_return act.error();
  key.may_act_for_users = act->value_or(false);
  std::optional<domain::LimitOverride> limits;
  if (const json::value* l = body->if_contains("limits"); l && !l->is_null()) {
    if (!l->is_object()) co_return bad("limits must be an object");
    auto parsed = limit_override_from_json(l->get_object());
    if (!parsed) co_return bad("limits: " + parsed.error().message);
    limits = std::move(*parsed);
  }
  auto issued = co_await s.keys->create(std::move(key), std::move(limits));
  if (!issued) co_return issued.error();
  co_return ok(issued_json(*issued), 201);
}

Reply list_keys(Services& s, http::Context& ctx) {
  auto page = page_request(ctx.request, 50);
  if (!page) co_return page.error();
  auto found = co_await s.keys->list(*page);
  if (!found) co_return found.error();
  json::array items;
  for (const keys::KeyView& v : found->items) items.push_back(key_json(v));
  co_return ok(json::object{{"items", std::move(items)},
                            {"nextCursor", found->next_cursor ? json::value(*found->next_cursor) : json::value(nullptr)}});
}

Reply get_key(Services& s, http::Context& ctx) {
  auto id = key_id(ctx);
  if (!id) co_return id.error();
  auto found = co_await s.keys->get(*id);
  if (!found) co_return found.error();
  co_return ok(key_json(*found));
}

Reply rotate_key(Services& s, http::Context& ctx) {
  auto id = key_id(ctx);
  if (!id) co_return id.error();
  auto issued = co_await s.keys->rotate(*id);
  if (!issued) co_return issued.error();
  co_return ok(issued_json(*issued));
}

Reply revoke_key(Services& s, http::Context& ctx) {
  auto id = key_id(ctx);
  if (!id) co_return id.error();
  auto revoked = co_await s.keys->revoke(*id);
  if (!revoked) co_return revoked.error();
  co_return ok(key_json(*revoked));
}

}  // namespace

void add_admin_key_routes(http::Router& router, Services& s) {
  if (!s.keys) return;
  router.add({"POST", "/api/ai/admin/keys", http::Access::admin, [&s](http::Context& c) { return create_key(s, c); }});
  router.add({"GET", "/api/ai/admin/keys", http::Access::admin, [&s](http::Context& c) { return list_keys(s, c); }});
  router.add({"GET", "/api/ai/admin/keys/:id", http::Access::admin, [&s](http::Context& c) { return get_key(s, c); }});
  router.add({"POST", "/api/ai/admin/keys/:id/rotate", http::Access::admin,
              [&s](http::Context& c) { return rotate_key(s, c); }});
  router.add({"DELETE", "/api/ai/admin/keys/:id", http::Access::admin,
              [&s](http::Context& c) { return revoke_key(s, c); }});
}

}  // namespace aas::api
