// Accounting::admit: the output cap it sets, the worst case it reserves, and the ledger row and
// settlement after the call.
#include "chat/accounting.hpp"

#include "limits/local_limiter.hpp"
#include "llm/providers/mock.hpp"
#include "store/sqlite/sqlite_store.hpp"

#include <gtest/gtest.h>

#include <filesystem>

namespace aas::chat {
namespace {

class AccountingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/aas-acct-XXXXXX";
    dir_ = mkdtemp(tmpl);
    store_ = store::sqlite::open_sqlite_store((dir_ / "ai.db").string(), clock_);
    ASSERT_TRUE(store_->migrate());
    limits::Policy defaults;
    defaults.daily_budget_micros = 1'000'000;
    policies_ = limits::Policies(defaults, {}, {});
    limiter_ = std::make_unique<limits::LocalLimiter>(
        clock_, [this](std::string_view u, std::string_view d) { return store_->spent_micros(u, d); });
    accounting_ = std::make_unique<Accounting>(*store_, *limiter_, policies_, AccountingOptions{100},
                                               [this](const CallOutcome& c) { seen_.push_back(c); });
    model_.name = "priced";
    model_.upstream_model = "gpt-4o-mini";
    model_.provider = std::make_shared<llm::MockProvider>();
    model_.pricing = llm::Pricing{1'000'000, 2'000'000};  // 1 µ$ per prompt token, 2 per output token
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  llm::ChatRequest request(std::optional<int> max_tokens = std::nullopt) {
    llm::ChatRequest r;
    r.model = model_.upstream_model;
    r.messages = {{"system", "Be brief."}, {"user", "Hello there"}};
    r.max_tokens = max_tokens;
    return r;
  }

  std::filesystem::path dir_;
  SystemClock clock_;
  std::unique_ptr<store::Store> store_;
  limits::Policies policies_;
  std::unique_ptr<limits::LocalLimiter> limiter_;
  std::unique_ptr<Accounting> accounting_;
  llm::Model model_;
  std::vector<CallOutcome> seen_;
};

TEST_F(AccountingTest, CapsTheOutputAndReservesTheWorstCase) {
  auto req = request();
  auto grant = accounting_->admit("u", {}, model_, req, false);
  ASSERT_TRUE(grant);
  EXPECT_EQ(req.max_tokens, 100) << "the configured cap";
  // gpt-4o-mini counts the two messages exactly: 3 + (1 + 3) + 3 + (1 + 2) + 3 = 16 tokens
  // ("system", "Be brief." / "user", "Hello there"), plus 100 output tokens at 2 µ$.
  EXPECT_EQ(grant->ask().tokens, 16 + 100);
  EXPECT_EQ(grant->ask().cost_micros, 16 + 200);
  const limits::Policy policy = accounting_->policy_for("u", {}).value();
  EXPECT_EQ(limiter_->status("u", policy).daily.reserved_micros, 216);

  auto smaller = request(10);
  model_.max_output_tokens = 50;
  ASSERT_TRUE(accounting_->admit("u", {}, model_, smaller, false));
  EXPECT_EQ(smaller.max_tokens, 10) << "what the request asked, when smaller";
  auto model_cap = request(1000);
  ASSERT_TRUE(accounting_->admit("u", {}, model_, model_cap, false));
  EXPECT_EQ(model_cap.max_tokens, 50) << "the model's own maximum, when smaller";
}

TEST_F(AccountingTest, RecordingSettlesTheGrantAndTellsObservers) {
  auto req = request();
  auto grant = accounting_->admit("u", {}, model_, req, true);
  ASSERT_TRUE(grant);
  CallOutcome call;
  call.user_id = "u";
  call.model = &model_;
  call.deployment = "openai/gpt-4o-mini#1";
  call.provider = "openai";
  call.usage.input_tokens = 16;
  call.usage.output_tokens = 5;
  call.cost_micros = llm::cost_micros(model_.pricing, call.usage);
  call.ttft_ms = 7;
  const domain::UsageRecord row = Accounting::ledger_row(call);
  EXPECT_EQ(row.model, "priced");
  EXPECT_EQ(row.cost_micros, 26);
  EXPECT_EQ(row.ttft_ms, 7);
  ASSERT_TRUE(store_->record_usage(row));
  accounting_->recorded(*grant, call);
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].cost_micros, 26);
  const limits::Status s = limiter_->status("u", accounting_->policy_for("u", {}).value());
  EXPECT_EQ(s.daily.reserved_micros, 0);
  EXPECT_EQ(s.daily.spent_micros, 26);
  EXPECT_EQ(s.active_streams, 0);
}

TEST_F(AccountingTest, AnUnpricedModelReservesNoMoney) {
  model_.pricing.reset();
  auto req = request();
  auto grant = accounting_->admit("u", {}, model_, req, false);
  ASSERT_TRUE(grant);
  EXPECT_EQ(grant->ask().cost_micros, 0);
  EXPECT_GT(grant->ask().tokens, 100);
}

TEST_F(AccountingTest, AStoreOverrideReplacesTheDefaults) {
  domain::LimitOverride o;
  o.user_id = "u";
  o.daily_budget_micros = 100;  // less than one call's worst case (216)
  ASSERT_TRUE(store_->put_limit_override(o));
  auto req = request();
  auto refused = accounting_->admit("u", {}, model_, req, false);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, errc::budget_exceeded);
  auto other = request();
  EXPECT_TRUE(accounting_->admit("someone-else", {}, model_, other, false));
}

}  // namespace
}  // namespace aas::chat

namespace aas::chat {
namespace {

TEST_F(AccountingTest, AdmitNowOnlyWhenNothingNeedsReading) {
  auto first = request();
  EXPECT_FALSE(accounting_->admit_now("u", {}, model_, first, false)) << "the override was never read";
  EXPECT_EQ(first.max_tokens, std::nullopt) << "the request is left as it was";
  ASSERT_TRUE(accounting_->admit("u", {}, model_, first, false));  // reads the override and the day's spending

  auto again = request();
  auto now = accounting_->admit_now("u", {}, model_, again, false);
  ASSERT_TRUE(now);
  ASSERT_TRUE(*now);
  EXPECT_EQ(again.max_tokens, 100);
  EXPECT_EQ((*now)->ask().tokens, 16 + 100) << "the same reservation as admit()";
  EXPECT_EQ((*now)->ask().cost_micros, 16 + 200);

  // A changed override is read again, on the pool.
  accounting_->override_changed("u");
  auto after = request();
  EXPECT_FALSE(accounting_->admit_now("u", {}, model_, after, false));
}

TEST_F(AccountingTest, AdmitNowRefusesAnExcludedModelAtOnce) {
  auto req = request();
  auto now = accounting_->admit_now("u", {"aas:model:other"}, model_, req, false);
  ASSERT_TRUE(now);
  ASSERT_FALSE(*now);
  EXPECT_EQ(now->error().code, errc::forbidden);
}

TEST_F(AccountingTest, AChangedOverrideIsAnnouncedAndSeenAtTheNextCall) {
  std::vector<std::string> announced;
  accounting_->set_override_announcer([&](std::string_view user) { announced.emplace_back(user); });
  auto req = request();
  ASSERT_TRUE(accounting_->admit("u", {}, model_, req, false));
  domain::LimitOverride o;
  o.user_id = "u";
  o.daily_budget_micros = 100;
  ASSERT_TRUE(store_->put_limit_override(o));
  accounting_->override_changed("u");
  EXPECT_EQ(announced, std::vector<std::string>{"u"});
  auto next = request();
  auto refused = accounting_->admit("u", {}, model_, next, false);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, errc::budget_exceeded);
}

}  // namespace
}  // namespace aas::chat
