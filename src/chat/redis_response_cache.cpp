#include "chat/redis_response_cache.hpp"

#include <spdlog/spdlog.h>

namespace aas::chat {

RedisResponseCache::RedisResponseCache(redis::Client& redis, std::string prefix, std::chrono::milliseconds ttl)
    : redis_(redis), prefix_(std::move(prefix)), ttl_(ttl) {}

std::string RedisResponseCache::redis_key(const std::string& key) const {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = prefix_ + "cache:";
  for (unsigned char ch : key) {
    out += hex[ch >> 4];
    out += hex[ch & 0xf];
  }
  return out;
}

void RedisResponseCache::failed(const Error& e) {
  if (!degraded_.exchange(true)) spdlog::warn("response cache: redis unavailable ({}); answering without it", e.detail);
}

std::optional<CachedAnswer> RedisResponseCache::get(const std::string& key) {
  auto r = redis_.command({"GET", redis_key(key)});
  if (!r) {
    failed(r.error());
    return std::nullopt;
  }
  degraded_ = false;
  if (r->type != redis::Reply::Type::string) return std::nullopt;
  return decode_cached_answer(r->str);
}

void RedisResponseCache::put(const std::string& key, CachedAnswer answer) {
  auto r = redis_.command({"SET", redis_key(key), encode_cached_answer(answer), "PX",
                           std::to_string(ttl_.count())});
  if (!r) failed(r.error());
}

}  // namespace aas::chat
