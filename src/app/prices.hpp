#pragma once
// The model price table: shipped in config/prices.yaml (compiled in), overridable by PRICES_FILE
// and by a model's `price:` in AI_CONFIG.
#include "llm/models.hpp"

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace YAML { class Node; }

namespace aas::app {

// USD per one million tokens, as written in the table.
struct PriceEntry {
  double input = 0;
  double output = 0;
  std::optional<double> cached_input;
  std::optional<double> cache_write;
  std::optional<std::int64_t> context_window;
  std::optional<std::int64_t> max_output;
};

class PriceTable {
 public:
  // The table compiled from config/prices.yaml.
  static PriceTable shipped();
  // Adds or replaces entries from YAML text of the same format (`models:` map). Throws
  // ConfigError naming `where` on a bad entry.
  void merge_yaml(std::string_view yaml, std::string_view where);
  // The exact name, else the longest entry that is a prefix of it followed by '-'.
  const PriceEntry* find(std::string_view model) const;
  const std::string& version() const { return version_; }
  std::size_t size() const { return entries_.size(); }

 private:
  std::string version_;
  std::map<std::string, PriceEntry, std::less<>> entries_;
};

// Reads one entry ({input, output, cached_input?, cache_write?, context_window?, max_output?}).
// Throws ConfigError naming `where`.
PriceEntry parse_price_entry(const YAML::Node& node, const std::string& where);

llm::Pricing to_pricing(const PriceEntry& e);

}  // namespace aas::app
