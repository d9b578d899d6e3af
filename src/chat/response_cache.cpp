#include "chat/response_cache.hpp"

#include <openssl/evp.h>

#include <list>
#include <mutex>
#include <unordered_map>

namespace aas::chat {

std::optional<std::string> response_cache_key(const llm::ChatRequest& req) {
  if (!req.temperature || *req.temperature != 0.0) return std::nullopt;
  std::string material;
  const auto add = [&material](std::string_view part) {
    material += std::to_string(part.size());
    material += ':';
    material += part;
  };
  add(req.model);
  add(req.max_tokens ? std::to_string(*req.max_tokens) : std::string("-"));
  for (const llm::ChatMessage& m : req.messages) {
    add(m.role);
    add(m.content);
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(material.data(), material.size(), md, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(md), len);
}

struct LruResponseCache::State {
  struct Entry {
    std::string key;
    CachedAnswer answer;
    TimePoint expires;
  };
  State(const Clock& c, std::size_t cap, std::chrono::milliseconds t) : clock(c), capacity(cap), ttl(t) {}
  const Clock& clock;
  std::size_t capacity;
  std::chrono::milliseconds ttl;
  std::mutex mu;
  std::list<Entry> order;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index;
};

LruResponseCache::LruResponseCache(const Clock& clock, std::size_t capacity, std::chrono::milliseconds ttl)
    : state_(std::make_unique<State>(clock, capacity, ttl)) {}

LruResponseCache::~LruResponseCache() = default;

std::optional<CachedAnswer> LruResponseCache::get(const std::string& key) {
  std::lock_guard lock(state_->mu);
  auto it = state_->index.find(key);
  if (it == state_->index.end()) return std::nullopt;
  if (it->second->expires <= state_->clock.now()) {
    state_->order.erase(it->second);
    state_->index.erase(it);
    return std::nullopt;
  }
  state_->order.splice(state_->order.begin(), state_->order, it->second);
  return it->second->answer;
}

void LruResponseCache::put(const std::string& key, CachedAnswer answer) {
  if (state_->capacity == 0) return;
  std::lock_guard lock(state_->mu);
  const TimePoint expires = state_->clock.now() + state_->ttl;
  if (auto it = state_->index.find(key); it != state_->index.end()) {
    it->second->answer = std::move(answer);
    it->second->expires = expires;
    state_->order.splice(state_->order.begin(), state_->order, it->second);
    return;
  }
  state_->order.push_front({key, std::move(answer), expires});
  state_->index[key] = state_->order.begin();
  while (state_->order.size() > state_->capacity) {
    state_->index.erase(state_->order.back().key);
    state_->order.pop_back();
  }
}

}  // namespace aas::chat
