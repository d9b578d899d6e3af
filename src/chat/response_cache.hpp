#pragma once
// A cache of answers to deterministic requests (temperature 0: the same model, messages and
// max_tokens give the same answer), so a repeated question costs nothing upstream. A cached
// answer is marked as such, costs 0 and is counted in the metrics. The embedded default is an
// in-process LRU with a time to live; a Redis adapter (production mode) can fill the same port.
#include "core/clock.hpp"
#include "llm/provider.hpp"

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>

namespace aas::chat {

struct CachedAnswer {
  std::string content;
  std::string finish_reason;
};

class ResponseCache {
 public:
  virtual ~ResponseCache() = default;
  virtual std::optional<CachedAnswer> get(const std::string& key) = 0;
  virtual void put(const std::string& key, CachedAnswer answer) = 0;
};

// The key of a request that may be answered from the cache: a SHA-256 over the upstream model,
// max_tokens and every message (length-prefixed, so no two requests share a key); nullopt when
// the request is not deterministic (temperature absent or not 0).
std::optional<std::string> response_cache_key(const llm::ChatRequest& req);

class LruResponseCache final : public ResponseCache {
 public:
  LruResponseCache(const Clock& clock, std::size_t capacity, std::chrono::milliseconds ttl);
  ~LruResponseCache() override;
  std::optional<CachedAnswer> get(const std::string& key) override;
  void put(const std::string& key, CachedAnswer answer) override;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace aas::chat
