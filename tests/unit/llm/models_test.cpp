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

}  // namespace aas::llm
