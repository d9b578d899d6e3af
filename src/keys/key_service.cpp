#include "keys/key_service.hpp"

#include "core/digest.hpp"
#include "core/offload.hpp"
#include "realtime/event_bus.hpp"
#include "store/store.hpp"

namespace aas::keys {

std::string principal_id(std::string_view key_id) { return "key:" + std::string(key_id); }

std::string hash_key(std::string_view key) { return sha256_hex(key); }

Secret new_secret() {
  Secret s;
  const std::string random = random_hex(32);
  s.key = std::string(kKeyPrefix) + random;
  s.prefix = std::string(kKeyPrefix) + random.substr(0, 8);
  s.hash = hash_key(s.key);
  return s;
}

Result<KeyView> KeyService::view(ServiceKey key) {
  auto limits = store_.get_limit_override(principal_id(key.id));
  if (!limits) return limits.error();
  return KeyView{std::move(key), std::move(*limits)};
}

void KeyService::announce_revoked(const std::string& key_id) {
  if (forget_) forget_(key_id);
  realtime::Event e;
  e.type = kRevokedEvent;
  e.user_id = principal_id(key_id);
  bus_.publish(e);
}

KeyService::Awaitable<IssuedKey> KeyService::create(NewServiceKey key, std::optional<domain::LimitOverride> limits) {
  co_return co_await offload(blocking_, [&]() -> Result<IssuedKey> {
    const Secret secret = new_secret();
    auto created = keys_.create(key, secret.prefix, secret.hash);
    if (!created) return created.error();
    std::optional<domain::LimitOverride> saved;
    if (limits) {
      limits->user_id = principal_id(created->id);
      auto put = store_.put_limit_override(*limits);
      if (!put) {
        // A key without the limits it was asked with must not go out: take it back.
        (void)keys_.revoke(created->id);
        return put.error();
      }
      saved = std::move(*put);
    }
    return IssuedKey{KeyView{std::move(*created), std::move(saved)}, secret.key};
  });
}

KeyService::Awaitable<domain::Page<KeyView>> KeyService::list(domain::PageRequest page) {
  co_return co_await offload(blocking_, [&]() -> Result<domain::Page<KeyView>> {
    auto found = keys_.list(page);
    if (!found) return found.error();
    domain::Page<KeyView> out;
    out.next_cursor = std::move(found->next_cursor);
    for (ServiceKey& k : found->items) {
      auto v = view(std::move(k));
      if (!v) return v.error();
      out.items.push_back(std::move(*v));
    }
    return out;
  });
}

KeyService::Awaitable<KeyView> KeyService::get(std::string id) {
  co_return co_await offload(blocking_, [&]() -> Result<KeyView> {
    auto found = keys_.get(id);
    if (!found) return found.error();
    return view(std::move(*found));
  });
}

KeyService::Awaitable<IssuedKey> KeyService::rotate(std::string id) {
  co_return co_await offload(blocking_, [&]() -> Result<IssuedKey> {
    const Secret secret = new_secret();
    auto rotated = keys_.rotate(id, secret.prefix, secret.hash);
    if (!rotated) return rotated.error();
    announce_revoked(id);
    auto v = view(std::move(*rotated));
    if (!v) return v.error();
    return IssuedKey{std::move(*v), secret.key};
  });
}

KeyService::Awaitable<KeyView> KeyService::revoke(std::string id) {
  co_return co_await offload(blocking_, [&]() -> Result<KeyView> {
    auto revoked = keys_.revoke(id);
    if (!revoked) return revoked.error();
    announce_revoked(id);
    return view(std::move(*revoked));
  });
}

}  // namespace aas::keys
