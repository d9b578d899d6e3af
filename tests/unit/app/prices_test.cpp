#include "app/config.hpp"
#include "app/prices.hpp"

#include <gtest/gtest.h>

namespace aas::app {
namespace {

TEST(PriceTable, ShippedTableParsesAndKnowsTheCommonModels) {
  const PriceTable t = PriceTable::shipped();
  EXPECT_FALSE(t.version().empty());
  EXPECT_GT(t.size(), 10u);
  const PriceEntry* mini = t.find("gpt-4o-mini");
  ASSERT_NE(mini, nullptr);
  EXPECT_DOUBLE_EQ(mini->input, 0.15);
  EXPECT_DOUBLE_EQ(mini->output, 0.60);
  EXPECT_DOUBLE_EQ(*mini->cached_input, 0.075);
  EXPECT_EQ(*mini->context_window, 128000);
  ASSERT_NE(t.find("claude-3-5-haiku"), nullptr);
  EXPECT_DOUBLE_EQ(*t.find("claude-3-5-haiku")->cache_write, 1.00);
}

TEST(PriceTable, DatedSnapshotsAndLatestAliasesFindTheirFamily) {
  const PriceTable t = PriceTable::shipped();
  EXPECT_EQ(t.find("gpt-4o-mini-2024-07-18"), t.find("gpt-4o-mini"));
  EXPECT_EQ(t.find("gpt-4o-2024-08-06"), t.find("gpt-4o"));
  EXPECT_EQ(t.find("claude-3-5-haiku-latest"), t.find("claude-3-5-haiku"));
  EXPECT_EQ(t.find("claude-sonnet-4-5-20250929"), t.find("claude-sonnet-4-5"));
  // Not a family member: only a '-'-separated suffix counts.
  EXPECT_EQ(t.find("gpt-4oxyz"), nullptr);
  EXPECT_EQ(t.find("llama3.1"), nullptr);
}

TEST(PriceTable, OverridesReplaceAndAdd) {
  PriceTable t = PriceTable::shipped();
  t.merge_yaml("models:\n  gpt-4o-mini: {input: 0.2, output: 0.8}\n  llama3.1: {input: 0, output: 0}\n", "test");
  EXPECT_DOUBLE_EQ(t.find("gpt-4o-mini")->input, 0.2);
  EXPECT_FALSE(t.find("gpt-4o-mini")->cached_input) << "an override replaces the whole entry";
  ASSERT_NE(t.find("llama3.1"), nullptr);
  EXPECT_DOUBLE_EQ(t.find("llama3.1")->output, 0);
}

TEST(PriceTable, BadEntriesAreConfigErrorsNamingTheKey) {
  PriceTable t;
  EXPECT_THROW(t.merge_yaml("models:\n  m: {input: -1, output: 1}\n", "f"), ConfigError);
  EXPECT_THROW(t.merge_yaml("models:\n  m: {input: 1}\n", "f"), ConfigError);
  EXPECT_THROW(t.merge_yaml("models:\n  m: {input: 1, output: 1, typo: 2}\n", "f"), ConfigError);
  EXPECT_THROW(t.merge_yaml("models:\n  m: {input: x, output: 1}\n", "f"), ConfigError);
  EXPECT_THROW(t.merge_yaml("nothing: here\n", "f"), ConfigError);
  try {
    t.merge_yaml("models:\n  m: {input: 1, output: 1, typo: 2}\n", "PRICES_FILE");
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("PRICES_FILE: models.m.typo"), std::string::npos) << e.what();
  }
}

TEST(PriceTable, ToPricingIsIntegerMicroDollarsPerMillion) {
  PriceEntry e;
  e.input = 2.50;
  e.output = 10.00;
  e.cached_input = 1.25;
  const llm::Pricing p = to_pricing(e);
  EXPECT_EQ(p.input_per_mtok_micros, 2'500'000);
  EXPECT_EQ(p.output_per_mtok_micros, 10'000'000);
  EXPECT_EQ(p.cached_input_per_mtok_micros, 1'250'000);
  EXPECT_FALSE(p.cache_write_per_mtok_micros);
}


// Each refusal with its message: what an operator reads when PRICES_FILE or a model's `price:`
// is wrong.
TEST(PriceTable, EachBadValueIsRefusedWithItsMessage) {
  const auto message_of = [](const std::string& yaml) {
    PriceTable t;
    try {
      t.merge_yaml(yaml, "P");
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message_of("models: [unclosed\n").rfind("P: ", 0), 0u);
  EXPECT_EQ(message_of("models: [a, b]\n"), "P: needs a `models:` map");
  EXPECT_EQ(message_of("models:\n  m: 5\n"), "P: models.m: must be a map such as {input: 0.15, output: 0.60}");
  EXPECT_EQ(message_of("models:\n  m: {output: 1}\n"), "P: models.m: input and output prices are required");
  EXPECT_EQ(message_of("models:\n  m: {input: 1, output: .inf}\n"), "P: models.m.output: must be from 0 to 1000000");
  EXPECT_EQ(message_of("models:\n  m: {input: 1, output: 2000000}\n"), "P: models.m.output: must be from 0 to 1000000");
  EXPECT_EQ(message_of("models:\n  m: {input: 1, output: 1, cached_input: cheap}\n"),
            "P: models.m.cached_input: must be a number (USD per 1M tokens)");
  EXPECT_EQ(message_of("models:\n  m: {input: 1, output: 1, cache_write: -2}\n"),
            "P: models.m.cache_write: must be from 0 to 1000000");
  EXPECT_EQ(message_of("models:\n  m: {input: 1, output: 1, context_window: big}\n"),
            "P: models.m.context_window: must be a whole number of tokens");
  EXPECT_EQ(message_of("models:\n  m: {input: 1, output: 1, max_output: 0}\n"), "P: models.m.max_output: must be at least 1");
  EXPECT_EQ(message_of("models:\n  m: {input: 1, output: 1, max_output: 1.5}\n"),
            "P: models.m.max_output: must be a whole number of tokens");

  PriceTable t;
  t.merge_yaml("version: 2026-01\nmodels:\n  m: {input: 1, output: 2, cached_input: 0.5, cache_write: 1.25, "
               "context_window: 8000, max_output: 1000}\n",
               "P");
  EXPECT_EQ(t.version(), "2026-01");
  ASSERT_NE(t.find("m"), nullptr);
  EXPECT_EQ(t.find("m")->cache_write, 1.25);
  EXPECT_EQ(t.find("m")->context_window, 8000);
  EXPECT_EQ(t.find("m")->max_output, 1000);
  EXPECT_EQ(to_pricing(*t.find("m")).cache_write_per_mtok_micros, 1'250'000);
}

}  // namespace
}  // namespace aas::app
