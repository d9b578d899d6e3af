#include "app/prices.hpp"

#include "app/config.hpp"

#include <yaml-cpp/yaml.h>

#include <cmath>

namespace aas::app {

// Generated at configure time from config/prices.yaml (see CMakeLists.txt).
extern const char kShippedPrices[];

namespace {

double usd(const YAML::Node& n, const std::string& where) {
  double v = 0;
  try {
    v = n.as<double>();
  } catch (const YAML::Exception&) {
    throw ConfigError(where + ": must be a number (USD per 1M tokens)");
  }
  if (!std::isfinite(v) || v < 0 || v > 1'000'000) throw ConfigError(where + ": must be from 0 to 1000000");
  return v;
}

std::int64_t tokens(const YAML::Node& n, const std::string& where) {
  long long v = 0;
  try {
    v = n.as<long long>();
  } catch (const YAML::Exception&) {
    throw ConfigError(where + ": must be a whole number of tokens");
  }
  if (v < 1) throw ConfigError(where + ": must be at least 1");
  return v;
}

std::int64_t micros(double usd_per_mtok) { return static_cast<std::int64_t>(std::llround(usd_per_mtok * 1e6)); }

}  // namespace

PriceEntry parse_price_entry(const YAML::Node& n, const std::string& where) {
  if (!n.IsMap()) throw ConfigError(where + ": must be a map such as {input: 0.15, output: 0.60}");
  for (const auto& kv : n) {
    const std::string key = kv.first.as<std::string>();
    if (key != "input" && key != "output" && key != "cached_input" && key != "cache_write" &&
        key != "context_window" && key != "max_output")
      throw ConfigError(where + "." + key + ": unknown key (input, output, cached_input, cache_write, context_window, max_output)");
  }
  if (!n["input"] || !n["output"]) throw ConfigError(where + ": input and output prices are required");
  PriceEntry e;
  e.input = usd(n["input"], where + ".input");
  e.output = usd(n["output"], where + ".output");
  if (n["cached_input"]) e.cached_input = usd(n["cached_input"], where + ".cached_input");
  if (n["cache_write"]) e.cache_write = usd(n["cache_write"], where + ".cache_write");
  if (n["context_window"]) e.context_window = tokens(n["context_window"], where + ".context_window");
  if (n["max_output"]) e.max_output = tokens(n["max_output"], where + ".max_output");
  return e;
}

llm::Pricing to_pricing(const PriceEntry& e) {
  llm::Pricing p;
  p.input_per_mtok_micros = micros(e.input);
  p.output_per_mtok_micros = micros(e.output);
  if (e.cached_input) p.cached_input_per_mtok_micros = micros(*e.cached_input);
  if (e.cache_write) p.cache_write_per_mtok_micros = micros(*e.cache_write);
  return p;
}

PriceTable PriceTable::shipped() {
  PriceTable t;
  t.merge_yaml(kShippedPrices, "config/prices.yaml");
  return t;
}

void PriceTable::merge_yaml(std::string_view yaml, std::string_view where) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    throw ConfigError(std::string(where) + ": " + e.what());
  }
  if (root["version"]) version_ = root["version"].as<std::string>();
  const YAML::Node models = root["models"];
  if (!models || !models.IsMap()) throw ConfigError(std::string(where) + ": needs a `models:` map");
  for (const auto& kv : models) {
    const std::string name = kv.first.as<std::string>();
    entries_.insert_or_assign(name, parse_price_entry(kv.second, std::string(where) + ": models." + name));
  }
}

const PriceEntry* PriceTable::find(std::string_view model) const {
  if (auto it = entries_.find(model); it != entries_.end()) return &it->second;
  const PriceEntry* best = nullptr;
  std::size_t best_len = 0;
  for (const auto& [name, entry] : entries_) {
    if (name.size() > best_len && model.size() > name.size() && model.starts_with(name) &&
        model[name.size()] == '-') {
      best = &entry;
      best_len = name.size();
    }
  }
  return best;
}

}  // namespace aas::app
