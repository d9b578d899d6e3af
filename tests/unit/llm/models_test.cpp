#include "llm/models.hpp"

#include "llm/providers/mock.hpp"

#include <gtest/gtest.h>

namespace aas::llm {

TEST(ModelRegistry, UnknownModelErrorListsTheAvailableOnes) {
  ModelRegistry models;
  auto mock = std::make_shared<MockProvider>();
  models.add({"mock", "mock", mock, Pricing{}});
  models.add({"mock-large", "mock", mock, std::nullopt});
  auto found = models.find("gpt-9");
  ASSERT_FALSE(found);
  EXPECT_EQ(found.error().code, errc::invalid_request);
  EXPECT_EQ(found.error().message, "unknown model 'gpt-9'; available: mock, mock-large");
  ASSERT_TRUE(models.find("mock-large"));
  EXPECT_EQ((*models.find("mock-large"))->name, "mock-large");
}

TEST(ModelRegistry, DefaultIsTheFirstUnlessSet) {
  ModelRegistry models;
  auto mock = std::make_shared<MockProvider>();
  models.add({"a", "a", mock, std::nullopt});
  models.add({"b", "b", mock, std::nullopt});
  EXPECT_EQ(models.default_model().name, "a");
  models.set_default("b");
  EXPECT_EQ(models.default_model().name, "b");
  EXPECT_THROW(models.set_default("c"), std::invalid_argument);
  EXPECT_EQ(models.provider_names(), std::vector<std::string>{"mock"});
}

TEST(Cost, IsIntegerMicroDollarsRoundedToNearest) {
  // 2.50 $ and 10.00 $ per million tokens.
  const Pricing p{2'500'000, 10'000'000};
  Usage u;
  u.input_tokens = 1000;
  u.output_tokens = 500;
  EXPECT_EQ(cost_micros(p, u), 2500 + 5000);
  u.input_tokens = 1;  // 2.5 micro-dollars rounds to 3
  u.output_tokens = 0;
  EXPECT_EQ(cost_micros(p, u), 3);
}

TEST(Cost, UnknownPriceIsNullNotZero) {
  Usage u;
  u.input_tokens = 10;
  EXPECT_EQ(cost_micros(std::nullopt, u), std::nullopt);
  EXPECT_EQ(cost_micros(Pricing{}, u), 0);
}

TEST(Cost, CachedReadsAndCacheWritesArePricedApart) {
  // Anthropic claude-3-5-haiku: 0.80 input, 0.08 cache read, 1.00 cache write, 4.00 output.
  Pricing p{800'000, 4'000'000, 80'000, 1'000'000};
  Usage u;
  u.input_tokens = 10'000;  // the whole prompt: 6,000 uncached + 3,000 read + 1,000 written
  u.cached_input_tokens = 3'000;
  u.cache_write_tokens = 1'000;
  u.output_tokens = 500;
  EXPECT_EQ(cost_micros(p, u), 4'800 + 240 + 1'000 + 2'000);
  // Without separate cache prices, every prompt token costs the input price.
  p.cached_input_per_mtok_micros.reset();
  p.cache_write_per_mtok_micros.reset();
  EXPECT_EQ(cost_micros(p, u), 8'000 + 2'000);
}

TEST(Cost, ReasoningTokensAreBilledAsOutputOnce) {
  const Pricing p{1'000'000, 4'000'000};
  Usage u;
  u.input_tokens = 100;
  u.output_tokens = 1'000;  // 800 of them reasoning: already inside output_tokens
  u.reasoning_tokens = 800;
  EXPECT_EQ(cost_micros(p, u), 100 + 4'000);
}

}  // namespace aas::llm
