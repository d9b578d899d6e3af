#pragma once
// The models a client may name, each bound to a provider and an upstream model name.
#include "core/error.hpp"
#include "llm/provider.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aas::llm {

// USD per one million tokens, in micro-dollars (2.50 $/1M tokens = 2'500'000).
struct Pricing {
  std::int64_t input_per_mtok_micros = 0;   // uncached prompt tokens
  std::int64_t output_per_mtok_micros = 0;  // completion tokens, reasoning included
  std::optional<std::int64_t> cached_input_per_mtok_micros;  // cache reads; unset: input's price
  std::optional<std::int64_t> cache_write_per_mtok_micros;   // cache writes; unset: input's price
};

struct Model {
  std::string name;            // what clients send ("gpt-4o-mini", "mock")
  std::string upstream_model;  // what the provider is asked for
  std::shared_ptr<LlmProvider> provider;
  std::optional<Pricing> pricing;  // unknown price: cost is null, never 0
  std::optional<std::int64_t> context_window;     // tokens, when known
  std::optional<std::int64_t> max_output_tokens;  // the most an answer may have, when known
  // Serves embeddings, not chat (EMBEDDING_MODEL, or an upstream model named "*embed*"): the
  // gateway and the chat refuse a chat call to it, and the gateway an embeddings call to any
  // other model, with a 400.
  bool embedding = false;
};

class ModelRegistry {
 public:
  void add(Model model);
  void set_default(std::string name);

  // invalid_request naming the models available when `name` is unknown.
  Result<const Model*> find(std::string_view name) const;
  const Model& default_model() const;
  std::vector<std::string> names() const;
  // Distinct provider names in registration order.
  std::vector<std::string> provider_names() const;

 private:
  std::vector<Model> models_;
  std::string default_;
};

// Cost of a call in micro-dollars, rounded to nearest; null when the price is unknown. Cached
// reads and cache writes (parts of usage.input_tokens) are priced apart from the uncached rest.
std::optional<std::int64_t> cost_micros(const std::optional<Pricing>& pricing, const Usage& usage);

}  // namespace aas::llm
