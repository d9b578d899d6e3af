#include "chat/response_cache.hpp"

#include <openssl/evp.h>

#include <list>
#include <mutex>
#include <unordered_map>

namespace aas::chat {

namespace {

// Length-prefixed fields: "5:hello", so that no two field lists share an encoding.
void add_field(std::string& out, std::string_view field) {
  out += std::to_string(field.size());
  out += ':';
  out += field;
}

template <class T>
std::string optional_text(const std::optional<T>& v) {
  return v ? std::to_string(*v) : std::string("-");
}

// A decimal of 1 to `digits` digits and nothing else, as lengths and counts are written.
std::optional<std::size_t> decimal(std::string_view s, std::size_t digits) {
  if (s.empty() || s.size() > digits) return std::nullopt;
  std::size_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::size_t>(c - '0');
  }
  return n;
}

// Reads one field written by add_field from the front of `in`.
std::optional<std::string> take_field(std::string_view& in) {
  const std::size_t colon = in.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const std::optional<std::size_t> size = decimal(in.substr(0, colon), 12);
  if (!size || in.size() - colon - 1 < *size) return std::nullopt;
  std::string field(in.substr(colon + 1, *size));
  in.remove_prefix(colon + 1 + *size);
  return field;
}

constexpr std::string_view answer_format = "aas-answer-3";

}  // namespace

std::optional<std::string> response_cache_key(const llm::ChatRequest& req, std::string_view scope) {
  if (!req.temperature || *req.temperature != 0.0) return std::nullopt;
  std::string material;
  const auto add = [&material](std::string_view part) { add_field(material, part); };
  add(scope);
  add(req.model);
  add(optional_text(req.max_tokens));
  add(req.top_p ? std::to_string(*req.top_p) : "-");
  add(optional_text(req.seed));
  add(req.presence_penalty ? std::to_string(*req.presence_penalty) : "-");
  add(req.frequency_penalty ? std::to_string(*req.frequency_penalty) : "-");
  add(std::to_string(req.stop.size()));
  for (const std::string& s : req.stop) add(s);
  add(req.user);
  add(std::to_string(req.tools.size()));
  for (const llm::ToolDefinition& t : req.tools) {
    add(t.name);
    add(t.description);
    add(t.parameters);
    add(t.strict ? "strict" : "-");
  }
  add(req.tool_choice);
  add(req.parallel_tool_calls ? (*req.parallel_tool_calls ? "parallel" : "serial") : "-");
  add(std::to_string(static_cast<int>(req.response_format.kind)));
  add(req.response_format.schema_name);
  add(req.response_format.schema);
  add(req.response_format.strict ? "strict" : "-");
  add(std::to_string(req.messages.size()));
  for (const llm::ChatMessage& m : req.messages) {
    add(m.role);
    add(m.content);
    add(m.name);
    add(m.tool_call_id);
    add(std::to_string(m.parts.size()));
    for (const llm::ContentPart& p : m.parts) {
      add(p.kind == llm::ContentPart::Kind::text ? "text" : "image");
      add(p.text);
      add(p.image_url);
      add(p.detail);
    }
    add(std::to_string(m.tool_calls.size()));
    for (const llm::ToolCall& c : m.tool_calls) {
      add(c.id);
      add(c.name);
      add(c.arguments);
    }
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(material.data(), material.size(), md, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(md), len);
}

std::string encode_cached_answer(const CachedAnswer& answer) {
  std::string out;
  add_field(out, answer_format);
  add_field(out, answer.finish_reason);
  add_field(out, answer.content);
  add_field(out, answer.stop_sequence);
  add_field(out, std::to_string(answer.tool_calls.size()));
  for (const llm::ToolCall& c : answer.tool_calls) {
    add_field(out, c.id);
    add_field(out, c.name);
    add_field(out, c.arguments);
  }
  return out;
}

std::optional<CachedAnswer> decode_cached_answer(std::string_view bytes) {
  if (take_field(bytes) != answer_format) return std::nullopt;
  CachedAnswer a;
  auto finish = take_field(bytes);
  auto content = take_field(bytes);
  auto stop_sequence = take_field(bytes);
  auto count = take_field(bytes);
  // A count that is not a number (an entry another writer damaged) is a miss, not an exception.
  const std::optional<std::size_t> calls = count ? decimal(*count, 6) : std::nullopt;
  if (!finish || !content || !stop_sequence || !calls) return std::nullopt;
  a.finish_reason = std::move(*finish);
  a.content = std::move(*content);
  a.stop_sequence = std::move(*stop_sequence);
  for (std::size_t n = *calls; n > 0; --n) {
    auto id = take_field(bytes);
    auto name = take_field(bytes);
    auto arguments = take_field(bytes);
    if (!id || !name || !arguments) return std::nullopt;
    a.tool_calls.push_back({std::move(*id), std::move(*name), std::move(*arguments)});
  }
  if (!bytes.empty()) return std::nullopt;
  return a;
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
