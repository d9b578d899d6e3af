#include "llm/sse_parser.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace aas::llm {

namespace {

struct Collected {
  std::vector<SseEvent> events;
  bool ok = true;
};

Collected parse_whole(std::string_view text, std::size_t limit = 4 * 1024 * 1024) {
  SseParser parser(limit);
  Collected out;
  out.ok = static_cast<bool>(parser.feed(text, [&](SseEvent&& e) { out.events.push_back(std::move(e)); }));
  return out;
}

Collected parse_bytewise(std::string_view text) {
  SseParser parser;
  Collected out;
  for (char c : text) {
    if (!parser.feed(std::string_view(&c, 1), [&](SseEvent&& e) { out.events.push_back(std::move(e)); })) {
      out.ok = false;
      break;
    }
  }
  return out;
}

void expect_same(const std::vector<SseEvent>& a, const std::vector<SseEvent>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].event, b[i].event) << "event " << i;
    EXPECT_EQ(a[i].data, b[i].data) << "event " << i;
    EXPECT_EQ(a[i].id, b[i].id) << "event " << i;
  }
}

// An Anthropic-style transcript with names, ids, a comment, multi-line data and an empty data.
constexpr std::string_view transcript =
    ": heartbeat\n"
    "event: message_start\n"
    "id: 1\n"
    "data: {\"type\":\"message_start\"}\n"
    "\n"
    "data: first line\n"
    "data: second line\n"
    "\n"
    "event: ping\n"
    "data:\n"
    "\n"
    "data:no space\n"
    "data:  two spaces\n"
    "\n";

std::string with_line_ends(std::string_view text, std::string_view eol) {
  std::string out;
  for (char c : text) {
    if (c == '\n') out += eol;
    else out += c;
  }
  return out;
}

}  // namespace

TEST(SseParser, ParsesFieldsAsTheSpecSays) {
  const auto got = parse_whole(transcript);
  ASSERT_TRUE(got.ok);
  ASSERT_EQ(got.events.size(), 4u);
  EXPECT_EQ(got.events[0].event, "message_start");
  EXPECT_EQ(got.events[0].data, "{\"type\":\"message_start\"}");
  EXPECT_EQ(got.events[0].id, "1");
  EXPECT_EQ(got.events[1].event, "message");  // the default name
  EXPECT_EQ(got.events[1].data, "first line\nsecond line");
  EXPECT_EQ(got.events[1].id, "1");  // the last event id carries over
  EXPECT_EQ(got.events[2].event, "ping");
  EXPECT_EQ(got.events[2].data, "");
  // Only one space after the colon is stripped, and none is required.
  EXPECT_EQ(got.events[3].data, "no space\n two spaces");
}

TEST(SseParser, ByteAtATimeGivesTheSameEventsAsWhole) {
  for (std::string_view eol : {"\n", "\r\n", "\r"}) {
    const std::string text = with_line_ends(transcript, eol);
    const auto whole = parse_whole(text);
    const auto bytewise = parse_bytewise(text);
    ASSERT_TRUE(whole.ok);
    ASSERT_TRUE(bytewise.ok);
    SCOPED_TRACE(testing::Message() << "line end " << (eol == "\n" ? "LF" : eol == "\r" ? "CR" : "CRLF"));
    expect_same(whole.events, bytewise.events);
    expect_same(whole.events, parse_whole(transcript).events);
  }
}

TEST(SseParser, CrlfSplitAcrossFeedsIsOneLineEnd) {
  // Were the CR and LF taken as two line ends, the empty line between would dispatch early and
  // "b" would become its own event.
  SseParser parser;
  std::vector<SseEvent> events;
  const auto on_event = [&](SseEvent&& e) { events.push_back(std::move(e)); };
  ASSERT_TRUE(parser.feed("data: a\r", on_event));
  ASSERT_TRUE(parser.feed("\ndata: b\r", on_event));
  ASSERT_TRUE(parser.feed("\n", on_event));
  ASSERT_EQ(events.size(), 0u);
  ASSERT_TRUE(parser.feed("\r", on_event));  // the blank line, CRLF cut in two again
  ASSERT_EQ(events.size(), 1u);
  ASSERT_TRUE(parser.feed("\ndata: c\n\n", on_event));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].data, "a\nb");
  EXPECT_EQ(events[1].data, "c");
}

TEST(SseParser, MixedLineEndsInOneStream) {
  const auto got = parse_whole("data: a\rdata: b\r\ndata: c\n\r\nevent: x\r\rdata: d\n\n");
  ASSERT_TRUE(got.ok);
  ASSERT_EQ(got.events.size(), 2u);
  EXPECT_EQ(got.events[0].data, "a\nb\nc");
  EXPECT_EQ(got.events[1].event, "message");  // the blank line after "event: x" dropped it
  EXPECT_EQ(got.events[1].data, "d");
}

TEST(SseParser, CommentsAndUnknownFieldsAreIgnored) {
  const auto got = parse_whole(": keep-alive\n:\nretry: 1000\nfoo: bar\ndata: x\n: inside\n\n");
  ASSERT_TRUE(got.ok);
  ASSERT_EQ(got.events.size(), 1u);
  EXPECT_EQ(got.events[0].data, "x");
}

TEST(SseParser, ABlankLineWithoutDataDispatchesNothing) {
  const auto got = parse_whole("\n\nevent: lonely\n\nid: 7\n\n: only a comment\n\n");
  ASSERT_TRUE(got.ok);
  EXPECT_TRUE(got.events.empty());
}

TEST(SseParser, AFieldWithoutColonHasAnEmptyValue) {
  const auto got = parse_whole("data\ndata\n\n");
  ASSERT_TRUE(got.ok);
  ASSERT_EQ(got.events.size(), 1u);
  EXPECT_EQ(got.events[0].data, "\n");
}

TEST(SseParser, ColonsInTheValueAreKept) {
  const auto got = parse_whole("data: {\"a\": \"b:c\"}\n\n");
  ASSERT_TRUE(got.ok);
  ASSERT_EQ(got.events.size(), 1u);
  EXPECT_EQ(got.events[0].data, "{\"a\": \"b:c\"}");
}

TEST(SseParser, HasPartialUntilTheBlankLine) {
  SseParser parser;
  int events = 0;
  const auto on_event = [&](SseEvent&&) { ++events; };
  EXPECT_FALSE(parser.has_partial());
  ASSERT_TRUE(parser.feed("da", on_event));
  EXPECT_TRUE(parser.has_partial());  // half a line
  ASSERT_TRUE(parser.feed("ta: x\n", on_event));
  EXPECT_TRUE(parser.has_partial());  // a data line, not yet dispatched
  ASSERT_TRUE(parser.feed("\n", on_event));
  EXPECT_FALSE(parser.has_partial());
  EXPECT_EQ(events, 1);
  ASSERT_TRUE(parser.feed(": comment\n", on_event));
  EXPECT_FALSE(parser.has_partial());
}

TEST(SseParser, AnEventOverTheLimitIsAnUpstreamError) {
  // One long line, fed in pieces so that no single feed is over the limit.
  SseParser parser(64);
  const auto ignore = [](SseEvent&&) {};
  ASSERT_TRUE(parser.feed("data: " + std::string(40, 'x'), ignore));
  auto r = parser.feed(std::string(40, 'x'), ignore);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::upstream_error);

  // Many short data lines add up as well.
  SseParser lines(64);
  Result<void> last;
  for (int i = 0; i < 20 && last; ++i) last = lines.feed("data: 0123456789\n", ignore);
  ASSERT_FALSE(last);
  EXPECT_EQ(last.error().code, errc::upstream_error);
}

TEST(SseParser, EventsUpToTheLimitPass) {
  const std::string data(50, 'y');
  const auto got = parse_whole("data: " + data + "\n\n", 64);
  ASSERT_TRUE(got.ok);
  ASSERT_EQ(got.events.size(), 1u);
  EXPECT_EQ(got.events[0].data, data);
}

}  // namespace aas::llm
