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
#include <string_view>
#include <vector>

namespace aas::chat {

struct CachedAnswer {
  std::string content;
  std::string finish_reason;
  std::vector<llm::ToolCall> tool_calls;  // an answer that called tools is cached with its calls
  std::string stop_sequence;  // the request's stop sequence that ended it, when the upstream said
};

// One string for a cache that stores bytes (Redis): length-prefixed fields, so any content
// round-trips. decode gives nullopt for anything else (an entry of an older format: a miss).
std::string encode_cached_answer(const CachedAnswer& answer);
std::optional<CachedAnswer> decode_cached_answer(std::string_view bytes);

class ResponseCache {
 public:
  virtual ~ResponseCache() = default;
  virtual std::optional<CachedAnswer> get(const std::string& key) = 0;
  virtual void put(const std::string& key, CachedAnswer answer) = 0;
};

// The key of a request that may be answered from the cache: a SHA-256 over `scope` (the user, so
// that one user's cached answer is never a fast hit for another — a timing side channel; empty
// when the cache is shared), the upstream model, every parameter that shapes the answer
// (max_tokens, top_p, seed, penalties, stop, tools, tool_choice, parallel_tool_calls,
// response_format) and every message with its parts, tool calls and tool_call_id
// (length-prefixed, so no two requests share a key); nullopt when the request is not
// deterministic (temperature absent or not 0).
std::optional<std::string> response_cache_key(const llm::ChatRequest& req, std::string_view scope = {});

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
