#include "llm/providers/wire_common.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace aas::llm::wire {

namespace {
const TimePoint now = std::chrono::sys_days(std::chrono::year(2025) / 3 / 10) + std::chrono::hours(12);
}

TEST(WireCommon, RetryAfterInSecondsOrAsAnHttpDate) {
  EXPECT_EQ(parse_retry_after("30", now), 30);
  EXPECT_EQ(parse_retry_after(" 0 ", now), 0);
  EXPECT_EQ(parse_retry_after("Mon, 10 Mar 2025 12:01:00 GMT", now), 60);
  EXPECT_EQ(parse_retry_after("Mon, 10 Mar 2025 11:59:00 GMT", now), 0);  // already past
  EXPECT_EQ(parse_retry_after("99999999999999", now), 24 * 60 * 60);      // capped, not overflowed
  EXPECT_FALSE(parse_retry_after("", now));
  EXPECT_FALSE(parse_retry_after("-5", now));
  EXPECT_FALSE(parse_retry_after("soon", now));
  EXPECT_FALSE(parse_retry_after("Mon, 10 Foo 2025 12:01:00 GMT", now));
  EXPECT_FALSE(parse_retry_after("Mon, 10 Mar 2025 12:01:00 PST", now));
}

TEST(WireCommon, GoDurationsAsOpenAiWritesThem) {
  EXPECT_EQ(parse_duration_seconds("1s"), 1);
  EXPECT_EQ(parse_duration_seconds("6m0s"), 360);
  EXPECT_EQ(parse_duration_seconds("20ms"), 1);  // rounded up: waiting less would fail again
  EXPECT_EQ(parse_duration_seconds("1h2m3.5s"), 3724);
  EXPECT_EQ(parse_duration_seconds("0s"), 0);
  EXPECT_FALSE(parse_duration_seconds(""));
  EXPECT_FALSE(parse_duration_seconds("5"));
  EXPECT_FALSE(parse_duration_seconds("5 minutes"));
}

TEST(WireCommon, RedactsKeyLikeWords) {
  EXPECT_EQ(redact_secrets("Incorrect API key provided: sk-proj-abc****xyz. See docs."),
            "Incorrect API key provided: [redacted]. See docs.");
  EXPECT_EQ(redact_secrets("bad key sk-ant-api03-XYZ"), "bad key [redacted]");
  EXPECT_EQ(redact_secrets("token " + std::string(40, 'a') + " end"), "token [redacted] end");
  // Ordinary words, model names and ids stay readable.
  EXPECT_EQ(redact_secrets("The model `gpt-4o-mini-2024-07-18` does not exist"),
            "The model `gpt-4o-mini-2024-07-18` does not exist");
  EXPECT_EQ(redact_secrets("task-sk-1 is fine"), "task-sk-1 is fine");
}

TEST(WireCommon, JoinsUrlsWhateverTheSlashes) {
  EXPECT_EQ(join_url("https://api.openai.com/v1", "chat/completions"), "https://api.openai.com/v1/chat/completions");
  EXPECT_EQ(join_url("http://localhost:11434/v1/", "/chat/completions"), "http://localhost:11434/v1/chat/completions");
}

TEST(WireCommon, HeadersAreFoundWhateverTheirCase) {
  const std::vector<http::Header> h = {{"Retry-After", "5"}, {"x-request-id", "abc"}};
  EXPECT_EQ(find_header(h, "retry-after"), "5");
  EXPECT_EQ(find_header(h, "X-Request-Id"), "abc");
  EXPECT_FALSE(find_header(h, "missing"));
}

TEST(WireCommon, MissingUsageIsEstimatedAndFlagged) {
  ChatRequest req;
  req.messages = {{"user", "hello there"}};
  StreamProgress p;
  Usage u = complete_usage(p, req, "an answer of some length");
  EXPECT_TRUE(u.estimated);
  EXPECT_GT(u.input_tokens, 0);
  EXPECT_GT(u.output_tokens, 0);

  p.input_reported = p.output_reported = true;
  p.usage.input_tokens = 7;
  p.usage.output_tokens = 3;
  u = complete_usage(p, req, "ignored");
  EXPECT_FALSE(u.estimated);
  EXPECT_EQ(u.input_tokens, 7);
  EXPECT_EQ(u.output_tokens, 3);
}

TEST(WireCommon, TheStatusDecidesTheCodeAndRetryAfterIsKeptOnAnyStatus) {
  const Error e = error_from_status("x", 503, {{"retry-after", "4"}}, {}, now);
  EXPECT_EQ(e.code, errc::unavailable);
  EXPECT_EQ(e.retry_after_seconds, 4);
  EXPECT_EQ(e.upstream_status, 503);
  EXPECT_EQ(error_from_status("x", 418, {}, {}, now).code, errc::upstream_error);
  EXPECT_EQ(error_from_status("x", 599, {}, {}, now).code, errc::upstream_error);
}

}  // namespace aas::llm::wire
