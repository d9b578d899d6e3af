#include "metrics/metrics.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace aas::metrics {

namespace {

// The value of the sample whose name and labels are exactly `series` (labels in the
// serializer's order: sorted by name, a histogram's `le` last), or nullopt when there is none.
std::optional<double> sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ')
      return std::stod(line.substr(series.size() + 1));
  }
  return std::nullopt;
}

bool has_line_starting(const std::string& text, const std::string& prefix) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix, 0) == 0) return true;
  return false;
}

}  // namespace

TEST(Metrics, CountsHttpRequestsByMethodRoutePatternAndStatus) {
  Metrics m;
  m.http_request("GET", "/api/ai/conversations/:id", 200, 0.002);
  m.http_request("GET", "/api/ai/conversations/:id", 200, 0.004);
  m.http_request("DELETE", "/api/ai/conversations/:id", 404, 0.001);
  m.http_request("BREW", "unmatched", 404, 0.0001);
  const std::string text = m.expose();

  EXPECT_EQ(sample(text, R"(http_requests_total{method="GET",route="/api/ai/conversations/:id",status="200"})"), 2);
  EXPECT_EQ(sample(text, R"(http_requests_total{method="DELETE",route="/api/ai/conversations/:id",status="404"})"), 1);
  // A made-up method does not become a label value of its own.
  EXPECT_EQ(sample(text, R"(http_requests_total{method="other",route="unmatched",status="404"})"), 1);
  EXPECT_FALSE(has_line_starting(text, R"(http_requests_total{method="BREW")"));

  EXPECT_EQ(sample(text, R"(http_request_duration_seconds_count{route="/api/ai/conversations/:id"})"), 3);
  EXPECT_NEAR(*sample(text, R"(http_request_duration_seconds_sum{route="/api/ai/conversations/:id"})"), 0.007, 1e-12);
  EXPECT_EQ(sample(text, R"(http_request_duration_seconds_bucket{route="/api/ai/conversations/:id",le="0.0025"})"), 2);
  EXPECT_EQ(sample(text, R"(http_request_duration_seconds_bucket{route="/api/ai/conversations/:id",le="+Inf"})"), 3);
}

TEST(Metrics, RecordsChatTurnsTokensAndCost) {
  Metrics m;
  m.chat_request("gpt-4o-mini", "complete", 1.5);
  m.chat_request("gpt-4o-mini", "complete", 0.3);
  m.chat_request("gpt-4o-mini", "error", 0.2);
  m.tokens("gpt-4o-mini", "input", 120);
  m.tokens("gpt-4o-mini", "input", 30);
  m.tokens("gpt-4o-mini", "output", 42);
  m.tokens("gpt-4o-mini", "reasoning", 0);  // nothing to count: no series
  m.cost_micros("gpt-4o-mini", 1'250'000);
  m.cost_micros("gpt-4o-mini", 250);
  m.time_to_first_token("gpt-4o-mini", 0.4);
  m.gateway_overhead("gpt-4o-mini", 0.0003);
  const std::string text = m.expose();

  EXPECT_EQ(sample(text, R"(ai_chat_requests_total{model="gpt-4o-mini",status="complete"})"), 2);
  EXPECT_EQ(sample(text, R"(ai_chat_requests_total{model="gpt-4o-mini",status="error"})"), 1);
  EXPECT_EQ(sample(text, R"(ai_chat_duration_seconds_count{model="gpt-4o-mini"})"), 3);
  EXPECT_NEAR(*sample(text, R"(ai_chat_duration_seconds_sum{model="gpt-4o-mini"})"), 2.0, 1e-12);
  EXPECT_EQ(sample(text, R"(ai_chat_duration_seconds_bucket{model="gpt-4o-mini",le="0.25"})"), 1);
  EXPECT_EQ(sample(text, R"(ai_tokens_used_total{model="gpt-4o-mini",type="input"})"), 150);
  EXPECT_EQ(sample(text, R"(ai_tokens_used_total{model="gpt-4o-mini",type="output"})"), 42);
  EXPECT_FALSE(sample(text, R"(ai_tokens_used_total{model="gpt-4o-mini",type="reasoning"})"));
  EXPECT_NEAR(*sample(text, R"(ai_cost_usd_total{model="gpt-4o-mini"})"), 1.00025 + 0.25, 1e-12);
  EXPECT_EQ(sample(text, R"(ai_time_to_first_token_seconds_bucket{model="gpt-4o-mini",le="0.5"})"), 1);
  EXPECT_EQ(sample(text, R"(ai_time_to_first_token_seconds_bucket{model="gpt-4o-mini",le="0.25"})"), 0);
  // The overhead histogram resolves fractions of a millisecond.
  EXPECT_EQ(sample(text, R"(ai_gateway_overhead_seconds_bucket{model="gpt-4o-mini",le="0.0001"})"), 0);
  EXPECT_EQ(sample(text, R"(ai_gateway_overhead_seconds_bucket{model="gpt-4o-mini",le="0.0005"})"), 1);
  EXPECT_EQ(sample(text, R"(ai_gateway_overhead_seconds_bucket{model="gpt-4o-mini",le="0.05"})"), 1);
}

TEST(Metrics, RecordsResilienceLimitsAndStreams) {
  Metrics m;
  m.upstream_error("openai/gpt-4o-mini#1", "rate_limited");
  m.upstream_error("openai/gpt-4o-mini#1", "rate_limited");
  m.upstream_error("openai/gpt-4o-mini#1", "upstream_timeout");
  m.retry("openai/gpt-4o-mini#1");
  m.fallback("gpt-4o-mini", "claude-haiku");
  m.breaker_state("openai/gpt-4o-mini#1", 1);
  m.breaker_state("openai/gpt-4o-mini#1", 2);
  m.breaker_state("anthropic/claude#1", 0);
  m.limit_rejection("budget_daily");
  m.limit_rejection("rpm");
  m.limit_rejection("rpm");
  m.stream_started();
  m.stream_started();
  m.stream_ended();
  const std::string text = m.expose();

  EXPECT_EQ(sample(text, R"(ai_upstream_errors_total{class="rate_limited",deployment="openai/gpt-4o-mini#1"})"), 2);
  EXPECT_EQ(sample(text, R"(ai_upstream_errors_total{class="upstream_timeout",deployment="openai/gpt-4o-mini#1"})"), 1);
  EXPECT_EQ(sample(text, R"(ai_upstream_retries_total{deployment="openai/gpt-4o-mini#1"})"), 1);
  EXPECT_EQ(sample(text, R"(ai_fallbacks_total{from="gpt-4o-mini",to="claude-haiku"})"), 1);
  EXPECT_EQ(sample(text, R"(ai_circuit_state{deployment="openai/gpt-4o-mini#1"})"), 2);
  EXPECT_EQ(sample(text, R"(ai_circuit_state{deployment="anthropic/claude#1"})"), 0);
  EXPECT_EQ(sample(text, R"(ai_limit_rejections_total{limit="budget_daily"})"), 1);
  EXPECT_EQ(sample(text, R"(ai_limit_rejections_total{limit="rpm"})"), 2);
  EXPECT_EQ(sample(text, "ai_active_streams"), 1);
}

TEST(Metrics, ReportsRedisOnlyOnceItIsConfigured) {
  Metrics m;
  EXPECT_FALSE(sample(m.expose(), "ai_redis_up")) << "no Redis, no series (not a misleading 0)";
  m.redis_up(true);
  EXPECT_EQ(sample(m.expose(), "ai_redis_up"), 1);
  m.redis_up(false);
  EXPECT_EQ(sample(m.expose(), "ai_redis_up"), 0);
}

TEST(Metrics, DeclaresEveryFamilyWithHelpAndTypeAndNoUserLabel) {
  Metrics m;
  m.http_request("GET", "/health", 200, 0.001);
  m.chat_request("mock", "complete", 0.01);
  m.tokens("mock", "input", 3);
  m.cost_micros("mock", 0);
  m.time_to_first_token("mock", 0.1);
  m.gateway_overhead("mock", 0.0001);
  m.upstream_error("mock#1", "upstream_error");
  m.retry("mock#1");
  m.fallback("mock", "mock-2");
  m.breaker_state("mock#1", 0);
  m.limit_rejection("tpm");
  const std::string text = m.expose();
  for (const char* family :
       {"http_requests_total counter", "http_request_duration_seconds histogram",
        "ai_chat_requests_total counter", "ai_chat_duration_seconds histogram",
        "ai_tokens_used_total counter", "ai_cost_usd_total counter",
        "ai_time_to_first_token_seconds histogram", "ai_gateway_overhead_seconds histogram",
        "ai_upstream_errors_total counter", "ai_upstream_retries_total counter",
        "ai_fallbacks_total counter", "ai_circuit_state gauge", "ai_limit_rejections_total counter",
        "ai_active_streams gauge", "process_cpu_seconds_total counter",
        "process_resident_memory_bytes gauge", "process_virtual_memory_bytes gauge",
        "process_open_fds gauge", "process_max_fds gauge", "process_start_time_seconds gauge"}) {
    const std::string name = std::string(family).substr(0, std::string(family).find(' '));
    EXPECT_TRUE(has_line_starting(text, std::string("# TYPE ") + family)) << family;
    EXPECT_TRUE(has_line_starting(text, "# HELP " + name + " ")) << name;
  }
  EXPECT_EQ(text.find("user="), std::string::npos) << text;
  EXPECT_EQ(text.find("user_id="), std::string::npos) << text;
}

TEST(Metrics, ReportsSaneProcessMetrics) {
  Metrics m;
  const double before = static_cast<double>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  // Burn a little CPU so that the counter has something to show.
  volatile double x = 0;
  for (int i = 0; i < 20'000'000; ++i) x = x + i * 0.5;
  const std::string text = m.expose();

  const auto rss = sample(text, "process_resident_memory_bytes");
  const auto vsz = sample(text, "process_virtual_memory_bytes");
  const auto cpu = sample(text, "process_cpu_seconds_total");
  const auto fds = sample(text, "process_open_fds");
  const auto max_fds = sample(text, "process_max_fds");
  const auto start = sample(text, "process_start_time_seconds");
  ASSERT_TRUE(rss && vsz && cpu && fds && max_fds && start) << text;
  EXPECT_GT(*rss, 1024 * 1024);  // a test binary holds more than a MiB
  EXPECT_LT(*rss, 4.0 * 1024 * 1024 * 1024);
  EXPECT_GE(*vsz, *rss);
  EXPECT_GT(*cpu, 0);
  EXPECT_GE(*fds, 3);  // stdin, stdout, stderr
  EXPECT_GE(*max_fds, *fds);
  // The process started before this test, and not a day before.
  EXPECT_LE(*start, before + 1);
  EXPECT_GT(*start, before - 86400);
}

TEST(Metrics, IsSafeToRecordFromManyThreads) {
  Metrics m;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&m] {
      for (int i = 0; i < 10'000; ++i) {
        m.http_request("GET", "/health", 200, 0.0001);
        m.tokens("mock", "output", 2);
        m.stream_started();
        m.stream_ended();
      }
    });
  }
  for (int i = 0; i < 50; ++i) EXPECT_FALSE(m.expose().empty());
  for (auto& t : threads) t.join();
  const std::string text = m.expose();
  EXPECT_EQ(sample(text, R"(http_requests_total{method="GET",route="/health",status="200"})"), 40'000);
  EXPECT_EQ(sample(text, R"(ai_tokens_used_total{model="mock",type="output"})"), 80'000);
  EXPECT_EQ(sample(text, "ai_active_streams"), 0);
}

}  // namespace aas::metrics
