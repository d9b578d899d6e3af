#include "llm/models.hpp"

#include <algorithm>
#include <stdexcept>

namespace aas::llm {

void ModelRegistry::add(Model model) {
  if (default_.empty()) default_ = model.name;
  models_.push_back(std::move(model));
}

void ModelRegistry::set_default(std::string name) {
  if (!find(name)) throw std::invalid_argument("DEFAULT_MODEL: unknown model '" + name + "'");
  default_ = std::move(name);
}

Result<const Model*> ModelRegistry::find(std::string_view name) const {
  for (const Model& m : models_)
    if (m.name == name) return &m;
  std::string available;
  for (const Model& m : models_) available += (available.empty() ? "" : ", ") + m.name;
  return make_error(errc::invalid_request,
                    "unknown model '" + std::string(name.substr(0, 100)) + "'; available: " + available);
}

const Model& ModelRegistry::default_model() const {
  if (models_.empty()) throw std::logic_error("no model configured");
  return *find(default_).value();
}

std::vector<std::string> ModelRegistry::names() const {
  std::vector<std::string> out;
  for (const Model& m : models_) out.push_back(m.name);
  return out;
}

std::vector<std::string> ModelRegistry::provider_names() const {
  std::vector<std::string> out;
  for (const Model& m : models_) {
    std::string p(m.provider->name());
    if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(std::move(p));
  }
  return out;
}

std::optional<std::int64_t> cost_micros(const std::optional<Pricing>& pricing, const Usage& usage) {
  if (!pricing) return std::nullopt;
  const std::int64_t cached = std::max<std::int64_t>(0, usage.cached_input_tokens);
  const std::int64_t written = std::max<std::int64_t>(0, usage.cache_write_tokens);
  const std::int64_t uncached = std::max<std::int64_t>(0, usage.input_tokens - cached - written);
  // Integer arithmetic all the way: micro-dollars per million tokens times tokens, then one
  // rounding division, so sums of many calls do not drift the way floating point would.
  const std::int64_t numerator =
      uncached * pricing->input_per_mtok_micros +
      cached * pricing->cached_input_per_mtok_micros.value_or(pricing->input_per_mtok_micros) +
      written * pricing->cache_write_per_mtok_micros.value_or(pricing->input_per_mtok_micros) +
      usage.output_tokens * pricing->output_per_mtok_micros;
  return (numerator + 500'000) / 1'000'000;
}

}  // namespace aas::llm
