#include "llm/providers/anthropic_wire.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <chrono>

namespace aas::llm::anthropic_wire {

namespace json = boost::json;

namespace {

ChatRequest sample() {
  ChatRequest req;
  req.model = "claude-sonnet-4-20250514";
  req.messages = {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello!"}, {"user", "2+2?"}};
  return req;
}

const TimePoint now = std::chrono::sys_days(std::chrono::year(2025) / 3 / 10) + std::chrono::hours(12);

struct Transcript {
  std::string text;
  std::size_t pieces = 0;
  std::vector<ToolCall> calls;  // the streamed tool calls, assembled
  std::optional<Error> error;
  wire::StreamProgress progress;
};

Transcript decode(std::string_view sse, std::size_t step = std::string_view::npos,
                  const ChatRequest& req = {}) {
  SseParser parser;
  StreamDecoder decoder(req);
  Transcript t;
  const auto on_event = [&](SseEvent&& ev) {
    if (t.error) return;
    auto r = decoder.feed(ev);
    if (!r) {
      t.error = r.error();
    } else if (!r->empty()) {
      t.text += r->text;
      for (const ToolCallDelta& d : r->tool_calls) apply_tool_call_delta(t.calls, d);
      ++t.pieces;
    }
  };
  for (std::size_t pos = 0; pos < sse.size(); pos += step) {
    EXPECT_TRUE(parser.feed(sse.substr(pos, step), on_event));
    if (step == std::string_view::npos) break;
  }
  t.progress = decoder.progress();
  return t;
}

// A streamed answer as api.anthropic.com sends it (the shape of the streaming guide's example),
// with a prompt-cache read in message_start.
constexpr std::string_view stream_fixture =
    "event: message_start\n"
    "data: {\"type\": \"message_start\", \"message\": {\"id\": \"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY\", "
    "\"type\": \"message\", \"role\": \"assistant\", \"content\": [], \"model\": \"claude-sonnet-4-20250514\", "
    "\"stop_reason\": null, \"stop_sequence\": null, \"usage\": {\"input_tokens\": 25, "
    "\"cache_creation_input_tokens\": 0, \"cache_read_input_tokens\": 1000, \"output_tokens\": 1}}}\n"
    "\n"
    "event: content_block_start\n"
    "data: {\"type\": \"content_block_start\", \"index\": 0, \"content_block\": {\"type\": \"text\", \"text\": \"\"}}\n"
    "\n"
    "event: ping\n"
    "data: {\"type\": \"ping\"}\n"
    "\n"
    "event: content_block_delta\n"
    "data: {\"type\": \"content_block_delta\", \"index\": 0, \"delta\": {\"type\": \"text_delta\", \"text\": \"Hello\"}}\n"
    "\n"
    "event: content_block_delta\n"
    "data: {\"type\": \"content_block_delta\", \"index\": 0, \"delta\": {\"type\": \"text_delta\", \"text\": \"! 2+2 = 4.\"}}\n"
    "\n"
    "event: content_block_stop\n"
    "data: {\"type\": \"content_block_stop\", \"index\": 0}\n"
    "\n"
    "event: message_delta\n"
    "data: {\"type\": \"message_delta\", \"delta\": {\"stop_reason\": \"end_turn\", \"stop_sequence\":null}, "
    "\"usage\": {\"output_tokens\": 15}}\n"
    "\n"
    "event: message_stop\n"
    "data: {\"type\": \"message_stop\"}\n"
    "\n";

}  // namespace

// ---- request -------------------------------------------------------------------------------

TEST(AnthropicWire, BuildsARequestWithTheSystemPromptOnTop) {
  ChatRequest req = sample();
  req.messages.insert(req.messages.begin() + 1, ChatMessage{"system", "Answer in English."});
  req.temperature = 0.5;
  req.max_tokens = 300;
  const json::value got = json::parse(*build_request(req, false));
  const json::value want = json::parse(R"({
    "model": "claude-sonnet-4-20250514",
    "max_tokens": 300,
    "system": "Be brief.\n\nAnswer in English.",
    "messages": [
      {"role": "user", "content": "Hi"},
      {"role": "assistant", "content": "Hello!"},
      {"role": "user", "content": "2+2?"}
    ],
    "temperature": 0.5
  })");
  EXPECT_EQ(got, want) << json::serialize(got);
}

TEST(AnthropicWire, StreamingRequestAndMaxTokensDefaults) {
  ChatRequest req;
  req.model = "claude-3-5-haiku-latest";
  req.messages = {{"user", "Hi"}};
  const json::value got = json::parse(*build_request(req, true));
  const json::value want = json::parse(R"({
    "model": "claude-3-5-haiku-latest",
    "max_tokens": 4096,
    "messages": [{"role": "user", "content": "Hi"}],
    "stream": true
  })");
  EXPECT_EQ(got, want) << json::serialize(got);  // no "system" when there is none

  RequestOptions opts;
  opts.default_max_tokens = 1024;
  EXPECT_EQ(json::parse(*build_request(req, true, opts)).as_object().at("max_tokens"), 1024);
}

TEST(AnthropicWire, ConsecutiveTurnsOfOneRoleAreMerged) {
  ChatRequest req;
  req.model = "m";
  req.messages = {{"user", "one"}, {"user", "two"}, {"system", "s"}, {"user", "three"}, {"assistant", "ok"}};
  const json::value got = json::parse(*build_request(req, false));
  const json::value want = json::parse(R"([
    {"role": "user", "content": "one\n\ntwo\n\nthree"},
    {"role": "assistant", "content": "ok"}
  ])");
  EXPECT_EQ(got.as_object().at("messages"), want);
  EXPECT_EQ(got.as_object().at("system"), "s");
}

TEST(AnthropicWire, HeadersCarryTheKeyAndVersion) {
  const std::string key = "sk-ant-api03-test";
  const auto h = build_headers(&key, true);
  EXPECT_EQ(wire::find_header(h, "x-api-key"), "sk-ant-api03-test");
  EXPECT_EQ(wire::find_header(h, "anthropic-version"), "2023-06-01");
  EXPECT_EQ(wire::find_header(h, "accept"), "text/event-stream");
  EXPECT_EQ(wire::find_header(h, "content-type"), "application/json");
  EXPECT_FALSE(wire::find_header(h, "authorization"));
  EXPECT_FALSE(wire::find_header(build_headers(nullptr, false), "x-api-key"));
}

// ---- non-streaming response ----------------------------------------------------------------

TEST(AnthropicWire, ParsesAResponseAndNormalisesCacheUsage) {
  const auto c = parse_response(R"({
    "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-20250514",
    "content": [
      {"type": "thinking", "thinking": "Simple sum.", "signature": "EqQBCgIYAhIM"},
      {"type": "text", "text": "Hi! "},
      {"type": "text", "text": "It is 4."}
    ],
    "stop_reason": "end_turn",
    "stop_sequence": null,
    "usage": {"input_tokens": 44, "cache_creation_input_tokens": 2051, "cache_read_input_tokens": 1000,
              "output_tokens": 503, "service_tier": "standard"}
  })", sample());
  ASSERT_TRUE(c) << c.error().detail;
  EXPECT_EQ(c->content, "Hi! It is 4.");  // text blocks only
  EXPECT_EQ(c->model, "claude-sonnet-4-20250514");
  EXPECT_EQ(c->finish_reason, "stop");
  // input_tokens is the whole prompt, as for OpenAI: Anthropic's figure excludes the cache.
  EXPECT_EQ(c->usage.input_tokens, 44 + 2051 + 1000);
  EXPECT_EQ(c->usage.cached_input_tokens, 1000);
  EXPECT_EQ(c->usage.cache_write_tokens, 2051);
  EXPECT_EQ(c->usage.output_tokens, 503);
  EXPECT_EQ(c->usage.reasoning_tokens, 0);
  EXPECT_FALSE(c->usage.estimated);
}

TEST(AnthropicWire, StopReasonsAreNormalised) {
  EXPECT_EQ(normalise_finish_reason("end_turn"), "stop");
  EXPECT_EQ(normalise_finish_reason("stop_sequence"), "stop");
  EXPECT_EQ(normalise_finish_reason("max_tokens"), "length");
  EXPECT_EQ(normalise_finish_reason("tool_use"), "tool_calls");
  EXPECT_EQ(normalise_finish_reason("refusal"), "content_filter");
  EXPECT_EQ(normalise_finish_reason("pause_turn"), "other");
}

TEST(AnthropicWire, TheStopSequenceThatEndedTheAnswerIsKeptStreamedAndNot) {
  const auto c = parse_response(R"({"type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"a"}],
    "stop_reason":"stop_sequence","stop_sequence":"END","usage":{"input_tokens":1,"output_tokens":1}})", sample());
  ASSERT_TRUE(c);
  EXPECT_EQ(c->finish_reason, "stop");
  EXPECT_EQ(c->stop_sequence, "END");
  const Transcript t = decode(
      "event: message_delta\n"
      "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"stop_sequence\",\"stop_sequence\":\"END\"},\"usage\":{\"output_tokens\":1}}\n\n");
  ASSERT_FALSE(t.error);
  EXPECT_EQ(t.progress.finish_reason, "stop");
  EXPECT_EQ(t.progress.stop_sequence, "END");
}

TEST(AnthropicWire, AnUnreadableResponseIsAnUpstreamError) {
  for (std::string_view body : {"not json", R"({"type": "message"})", "[1]"}) {
    const auto c = parse_response(body, sample());
    ASSERT_FALSE(c) << body;
    EXPECT_EQ(c.error().code, errc::upstream_error);
  }
}

// ---- stream --------------------------------------------------------------------------------

TEST(AnthropicWire, DecodesAStream) {
  const Transcript t = decode(stream_fixture);
  ASSERT_FALSE(t.error) << t.error->detail;
  EXPECT_EQ(t.text, "Hello! 2+2 = 4.");
  EXPECT_EQ(t.pieces, 2u);
  EXPECT_EQ(t.progress.model, "claude-sonnet-4-20250514");
  EXPECT_EQ(t.progress.finish_reason, "stop");
  EXPECT_TRUE(t.progress.terminated);
  EXPECT_TRUE(t.progress.input_reported);
  EXPECT_TRUE(t.progress.output_reported);
  EXPECT_EQ(t.progress.usage.input_tokens, 1025);
  EXPECT_EQ(t.progress.usage.cached_input_tokens, 1000);
  EXPECT_EQ(t.progress.usage.cache_write_tokens, 0);
  EXPECT_EQ(t.progress.usage.output_tokens, 15);  // message_delta's total, not 1 + 15
}

TEST(AnthropicWire, ByteAtATimeAndCrlfDecodeTheSame) {
  const Transcript bytes = decode(stream_fixture, 1);
  EXPECT_EQ(bytes.text, "Hello! 2+2 = 4.");
  EXPECT_TRUE(bytes.progress.terminated);
  EXPECT_EQ(bytes.progress.usage.output_tokens, 15);

  std::string crlf;
  for (char c : stream_fixture) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  const Transcript t = decode(crlf, 5);
  EXPECT_EQ(t.text, "Hello! 2+2 = 4.");
  EXPECT_TRUE(t.progress.terminated);
}

TEST(AnthropicWire, LaterUsageInMessageDeltaReplacesTheStart) {
  // Newer API versions repeat (cumulative) input and cache figures in message_delta.
  const Transcript t = decode(
      "event: message_start\n"
      "data: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-opus-4-1\",\"usage\":{\"input_tokens\":10,"
      "\"cache_creation_input_tokens\":2000,\"cache_read_input_tokens\":0,\"output_tokens\":1}}}\n\n"
      "event: message_delta\n"
      "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"},\"usage\":{\"input_tokens\":12,"
      "\"cache_creation_input_tokens\":2000,\"cache_read_input_tokens\":0,\"output_tokens\":64}}\n\n"
      "event: message_stop\n"
      "data: {\"type\":\"message_stop\"}\n\n");
  ASSERT_FALSE(t.error);
  EXPECT_EQ(t.progress.finish_reason, "length");
  EXPECT_EQ(t.progress.usage.input_tokens, 2012);
  EXPECT_EQ(t.progress.usage.cache_write_tokens, 2000);
  EXPECT_EQ(t.progress.usage.output_tokens, 64);
}

TEST(AnthropicWire, ThinkingAndToolInputAreNotAnswerText) {
  const Transcript t = decode(
      "event: content_block_start\n"
      "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n"
      "event: content_block_delta\n"
      "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Let me add.\"}}\n\n"
      "event: content_block_delta\n"
      "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"EqQB\"}}\n\n"
      "event: content_block_start\n"
      "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
      "event: content_block_delta\n"
      "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"4\"}}\n\n"
      "event: content_block_delta\n"
      "data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\"\"}}\n\n");
  ASSERT_FALSE(t.error);
  EXPECT_EQ(t.text, "4");
}

TEST(AnthropicWire, AnErrorEventIsAnErrorWithTheStatusOfItsType) {
  const Transcript t = decode(
      "event: content_block_delta\n"
      "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Par\"}}\n\n"
      "event: error\n"
      "data: {\"type\": \"error\", \"error\": {\"type\": \"overloaded_error\", \"message\": \"Overloaded\"}}\n\n");
  EXPECT_EQ(t.text, "Par");
  ASSERT_TRUE(t.error);
  EXPECT_EQ(t.error->code, errc::upstream_error);
  EXPECT_EQ(t.error->upstream_status, 529);
  EXPECT_NE(t.error->detail.find("overloaded_error"), std::string::npos);
  EXPECT_FALSE(t.progress.finished());
}

TEST(AnthropicWire, AStreamCutBeforeMessageStopIsNotFinished) {
  const Transcript t = decode(stream_fixture.substr(0, stream_fixture.find("event: content_block_stop")));
  ASSERT_FALSE(t.error);
  EXPECT_EQ(t.text, "Hello! 2+2 = 4.");
  EXPECT_FALSE(t.progress.finished());
  EXPECT_TRUE(t.progress.input_reported);  // message_start told us the prompt
  EXPECT_FALSE(t.progress.output_reported);
  const Usage u = wire::complete_usage(t.progress, sample(), t.text);
  EXPECT_EQ(u.input_tokens, 1025);
  EXPECT_EQ(u.cached_input_tokens, 1000);
  EXPECT_GT(u.output_tokens, 0);
  EXPECT_TRUE(u.estimated);
}

TEST(AnthropicWire, AMalformedEventIsAnError) {
  const Transcript t = decode("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\n\n");
  ASSERT_TRUE(t.error);
  EXPECT_EQ(t.error->code, errc::upstream_error);
}

// ---- errors --------------------------------------------------------------------------------

TEST(AnthropicWire, ErrorMappingTable) {
  struct Row {
    int status;
    const char* type;
    errc code;
  };
  for (const Row& row : {Row{400, "invalid_request_error", errc::upstream_error},
                         Row{401, "authentication_error", errc::upstream_error},
                         Row{403, "permission_error", errc::upstream_error},
                         Row{404, "not_found_error", errc::upstream_error},
                         Row{408, "timeout_error", errc::upstream_timeout},
                         Row{413, "request_too_large", errc::upstream_error},
                         Row{429, "rate_limit_error", errc::rate_limited},
                         Row{500, "api_error", errc::upstream_error},
                         Row{503, "api_error", errc::unavailable},
                         Row{529, "overloaded_error", errc::upstream_error}}) {
    const std::string body = std::string(R"({"type": "error", "error": {"type": ")") + row.type +
                             R"(", "message": "details here"}})";
    const Error e = map_error(row.status, {{"request-id", "req_018EeWyXxfu5pfWkrYcMdjWG"}}, body, now);
    EXPECT_EQ(e.code, row.code) << row.status;
    EXPECT_EQ(e.upstream_status, row.status);
    EXPECT_EQ(e.message.find("details here"), std::string::npos);
    EXPECT_NE(e.detail.find("details here"), std::string::npos);
    EXPECT_NE(e.detail.find(row.type), std::string::npos);
    EXPECT_NE(e.detail.find("req_018EeWyXxfu5pfWkrYcMdjWG"), std::string::npos);
  }
}

TEST(AnthropicWire, RateLimitAndOverloadHonourRetryAfter) {
  const Error limited = map_error(429, {{"retry-after", "12"}},
                                  R"({"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}})",
                                  now);
  EXPECT_EQ(limited.code, errc::rate_limited);
  EXPECT_EQ(limited.retry_after_seconds, 12);

  const Error overloaded = map_error(529, {{"retry-after", "Mon, 10 Mar 2025 12:00:05 GMT"}},
                                     R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})", now);
  EXPECT_EQ(overloaded.message, "the model provider is overloaded");
  EXPECT_EQ(overloaded.retry_after_seconds, 5);
}

TEST(AnthropicWire, AnAuthErrorLeaksNoKey) {
  const Error e = map_error(401, {},
                            R"({"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key sk-ant-api03-AbCdEfGh"}})",
                            now);
  EXPECT_EQ(e.code, errc::upstream_error);
  EXPECT_EQ(e.detail.find("AbCdEfGh"), std::string::npos);
  EXPECT_EQ(e.message.find("sk-ant"), std::string::npos);
}

}  // namespace aas::llm::anthropic_wire

// ---- structured messages -------------------------------------------------------------------

namespace aas::llm::anthropic_wire {

namespace {

Error refusal(const ChatRequest& req) {
  auto r = build_request(req, false);
  EXPECT_FALSE(r) << *r;
  return r ? Error{} : r.error();
}

// The request is refused as invalid, naming `text` (a parameter, or what is wrong with it).
void expect_refused(const ChatRequest& req, std::string_view text) {
  const Error e = refusal(req);
  EXPECT_EQ(e.code, errc::invalid_request);
  EXPECT_NE(e.message.find(text), std::string::npos) << e.message;
}

std::string event(std::string_view name, std::string_view data) {
  return "event: " + std::string(name) + "\ndata: " + std::string(data) + "\n\n";
}

}  // namespace

TEST(AnthropicWire, CarriesImagesToolsAToolRoundTripAndSampling) {
  ChatRequest req;
  req.model = "claude";
  ChatMessage user{"user", "What is this?"};
  user.parts = {{ContentPart::Kind::text, "What is this?", "", ""},
                {ContentPart::Kind::image, "", "data:image/png;base64,iVBORw0KGgo=", ""},
                {ContentPart::Kind::image, "", "https://example.com/cat.jpg", "auto"}};
  ChatMessage assistant{"assistant", "Let me check."};
  assistant.tool_calls = {{"toolu_1", "get_weather", R"({"city":"Paris"})"}, {"toolu_2", "get_time", ""}};
  ChatMessage first{"tool", "sunny"};
  first.tool_call_id = "toolu_1";
  ChatMessage second{"tool", "noon"};
  second.tool_call_id = "toolu_2";
  req.messages = {{"system", "Be brief."}, user, assistant, first, second};
  req.tools = {{"get_weather", "The weather", R"({"type":"object"})", false}, {"get_time", "", "{}", false}};
  req.tool_choice = "required";
  req.parallel_tool_calls = false;
  req.top_p = 0.5;
  req.stop = {"END", "STOP"};
  req.user = "u-1";
  const json::value got = json::parse(*build_request(req, false));
  const json::value want = json::parse(R"({
    "model": "claude", "max_tokens": 4096, "system": "Be brief.",
    "messages": [
      {"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}]},
      {"role": "assistant", "content": [
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}}]},
      {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
        {"type": "tool_result", "tool_use_id": "toolu_2", "content": "noon"}]}
    ],
    "top_p": 0.5, "stop_sequences": ["END", "STOP"], "metadata": {"user_id": "u-1"},
    "tools": [{"name": "get_weather", "input_schema": {"type": "object"}, "description": "The weather"},
              {"name": "get_time", "input_schema": {}}],
    "tool_choice": {"type": "any", "disable_parallel_tool_use": true}
  })");
  EXPECT_EQ(got, want) << json::serialize(got);
}

TEST(AnthropicWire, MapsToolChoice) {
  ChatRequest req = sample();
  req.tools = {{"f", "", "{}", false}};
  const auto choice = [&](std::string c) {
    req.tool_choice = std::move(c);
    return json::parse(*build_request(req, false)).as_object().at("tool_choice");
  };
  EXPECT_EQ(choice("auto"), json::parse(R"({"type":"auto"})"));
  EXPECT_EQ(choice("none"), json::parse(R"({"type":"none"})"));
  EXPECT_EQ(choice("required"), json::parse(R"({"type":"any"})"));
  EXPECT_EQ(choice("f"), json::parse(R"({"type":"tool","name":"f"})"));
}

TEST(AnthropicWire, RefusesWhatItCannotHonourNamingTheParameter) {
  ChatRequest req = sample();
  req.seed = 1;
  expect_refused(req, "'seed'");
  req = sample();
  req.presence_penalty = 1;
  expect_refused(req, "'presence_penalty'");
  req = sample();
  req.frequency_penalty = 1;
  expect_refused(req, "'frequency_penalty'");
  req = sample();
  req.logprobs = true;
  expect_refused(req, "'logprobs'");
  req.logprobs = false;
  req.top_logprobs = 2;
  expect_refused(req, "'top_logprobs'");
  req = sample();
  req.tools = {{"f", "", "{}", true}};
  expect_refused(req, "'tools[0].function.strict'");
  req = sample();
  req.messages.push_back({"assistant", ""});
  req.messages.back().tool_calls = {{"id", "f", "not json"}};
  expect_refused(req, "'messages[4].tool_calls[0].function.arguments'");
  req = sample();
  req.messages[1].parts = {{ContentPart::Kind::image, "", "ftp://example.com/x.png", ""}};
  expect_refused(req, "'messages[1].content[0].image_url'");
  req = sample();
  req.response_format.kind = ResponseFormat::Kind::json_object;
  req.tools = {{"f", "", "{}", false}};
  expect_refused(req, "'response_format'");
  req = sample();
  req.messages[1].name = "alice";
  expect_refused(req, "'messages[1].name'");
  req = sample();
  req.messages[1].parts = {{ContentPart::Kind::image, "", "https://example.com/x.png", "low"}};
  expect_refused(req, "'messages[1].content[0].image_url.detail'");
}

TEST(AnthropicWire, JsonModeIsAForcedToolWhoseInputIsTheAnswer) {
  ChatRequest req = sample();
  req.response_format = {ResponseFormat::Kind::json_schema, "capital", R"({"type":"object","required":["city"]})", false};
  const json::object body = json::parse(*build_request(req, false)).as_object();
  EXPECT_EQ(body.at("tool_choice"), json::parse(R"({"type":"tool","name":"capital"})"));
  EXPECT_EQ(body.at("tools").as_array().at(0).as_object().at("input_schema"),
            json::parse(R"({"type":"object","required":["city"]})"));

  const auto c = parse_response(R"({"type":"message","model":"claude","stop_reason":"tool_use",
      "content":[{"type":"tool_use","id":"toolu_1","name":"capital","input":{"city":"Paris"}}],
      "usage":{"input_tokens":5,"output_tokens":3}})",
                                req);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->content, R"({"city":"Paris"})");
  EXPECT_TRUE(c->tool_calls.empty());
  EXPECT_EQ(c->finish_reason, "stop");

  const std::string sse =
      event("message_start", R"({"type":"message_start","message":{"model":"claude","usage":{"input_tokens":5}}})") +
      event("content_block_start",
            R"({"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"capital","input":{}}})") +
      event("content_block_delta",
            R"({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"city\": "}})") +
      event("content_block_delta",
            R"({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"\"Paris\"}"}})") +
      event("content_block_stop", R"({"type":"content_block_stop","index":0})") +
      event("message_delta", R"({"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":3}})") +
      event("message_stop", R"({"type":"message_stop"})");
  const Transcript t = decode(sse, std::string_view::npos, req);
  ASSERT_FALSE(t.error);
  EXPECT_EQ(t.text, R"({"city": "Paris"})");
  EXPECT_TRUE(t.calls.empty());
  EXPECT_EQ(t.progress.finish_reason, "stop");
}

TEST(AnthropicWire, ToolUseBlocksBecomeToolCallsStreamedAndNot) {
  const auto c = parse_response(R"({"type":"message","model":"claude","stop_reason":"tool_use",
      "content":[{"type":"text","text":"Checking."},
                 {"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Oslo"}}],
      "usage":{"input_tokens":5,"output_tokens":3}})",
                                sample());
  ASSERT_TRUE(c);
  EXPECT_EQ(c->content, "Checking.");
  EXPECT_EQ(c->finish_reason, "tool_calls");
  ASSERT_EQ(c->tool_calls.size(), 1u);
  EXPECT_EQ(c->tool_calls[0].id, "toolu_1");
  EXPECT_EQ(c->tool_calls[0].arguments, R"({"city":"Oslo"})");

  // Text at block 0, a call with input fragments at block 1, a call without input at block 2.
  const std::string sse =
      event("message_start", R"({"type":"message_start","message":{"model":"claude","usage":{"input_tokens":5}}})") +
      event("content_block_start", R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})") +
      event("content_block_delta", R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Checking."}})") +
      event("content_block_stop", R"({"type":"content_block_stop","index":0})") +
      event("content_block_start",
            R"({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}})") +
      event("content_block_delta",
            R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\":"}})") +
      event("content_block_delta",
            R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"Oslo\"}"}})") +
      event("content_block_stop", R"({"type":"content_block_stop","index":1})") +
      event("content_block_start",
            R"({"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_2","name":"get_time","input":{}}})") +
      event("content_block_stop", R"({"type":"content_block_stop","index":2})") +
      event("message_delta", R"({"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}})") +
      event("message_stop", R"({"type":"message_stop"})");
  for (std::size_t step : {std::string_view::npos, std::size_t{11}}) {
    const Transcript t = decode(sse, step);
    ASSERT_FALSE(t.error);
    EXPECT_EQ(t.text, "Checking.");
    EXPECT_EQ(t.progress.finish_reason, "tool_calls");
    ASSERT_EQ(t.calls.size(), 2u);
    EXPECT_EQ(t.calls[0].id, "toolu_1");
    EXPECT_EQ(t.calls[0].name, "get_weather");
    EXPECT_EQ(t.calls[0].arguments, R"({"city":"Oslo"})");
    EXPECT_EQ(t.calls[1].id, "toolu_2");
    EXPECT_EQ(t.calls[1].arguments, "{}") << "a call without input still has an object";
  }
}


// ---- odd but valid shapes, and the refusals left ---------------------------------------------

TEST(AnthropicWire, AnInBandErrorTakesTheStatusAnthropicDocumentsForItsType) {
  struct Row {
    const char* type;
    int status;
  };
  for (const Row& row : {Row{"invalid_request_error", 400}, Row{"authentication_error", 401},
                         Row{"billing_error", 402}, Row{"permission_error", 403}, Row{"not_found_error", 404},
                         Row{"request_too_large", 413}, Row{"rate_limit_error", 429}, Row{"timeout_error", 504},
                         Row{"overloaded_error", 529}, Row{"api_error", 500}, Row{"brand_new_error", 500}}) {
    const std::string body = std::string(R"({"type":"error","error":{"type":")") + row.type + R"(","message":"m"}})";
    const auto r = parse_response(body, sample());
    ASSERT_FALSE(r) << row.type;
    EXPECT_EQ(r.error().upstream_status, row.status) << row.type;
    EXPECT_NE(r.error().detail.find(row.type), std::string::npos) << r.error().detail;
  }
  // An error object without its details is still an error, of an unknown type.
  const auto bare = parse_response(R"({"type":"error"})", sample());
  ASSERT_FALSE(bare);
  EXPECT_EQ(bare.error().upstream_status, 500);
}

TEST(AnthropicWire, AResponseWithoutUsageIsEstimatedAndOddBlocksAreSkipped) {
  const auto c = parse_response(R"({"type":"message","stop_reason":"end_turn",
      "content":["not a block", {"type":"thinking","thinking":"hmm"}, {"type":"text","text":"Hi"},
                 {"type":"tool_use","id":"toolu_9","name":"now"}]})",
                                sample());
  ASSERT_TRUE(c);
  EXPECT_EQ(c->content, "Hi");
  EXPECT_EQ(c->model, sample().model) << "no model in the answer: the one asked for";
  ASSERT_EQ(c->tool_calls.size(), 1u);
  EXPECT_EQ(c->tool_calls[0].arguments, "{}") << "a tool_use without input has an empty object";
  EXPECT_TRUE(c->usage.estimated);
  EXPECT_GT(c->usage.input_tokens, 0);
  EXPECT_GT(c->usage.output_tokens, 0);

  const auto no_content = parse_response(R"({"type":"message"})", sample());
  ASSERT_FALSE(no_content);
  EXPECT_EQ(no_content.error().code, errc::upstream_error);
  EXPECT_NE(no_content.error().detail.find("no content"), std::string::npos) << no_content.error().detail;
  ASSERT_FALSE(parse_response("[1, 2]", sample()));
}

TEST(AnthropicWire, APlainTextErrorPageIsKeptInTheDetail) {
  const Error e = map_error(502, {}, "<html>Bad Gateway</html>", now);
  EXPECT_EQ(e.upstream_status, 502);
  EXPECT_NE(e.detail.find("Bad Gateway"), std::string::npos) << e.detail;
}

TEST(AnthropicWire, SystemTextIsJoinedAndAStructuredTurnMergesIntoAPlainOne) {
  ChatRequest req;
  req.model = "claude";
  ChatMessage picture{"user", ""};
  picture.parts = {{ContentPart::Kind::image, "", "https://example.com/a.png", ""}};
  req.messages = {{"system", "Be brief."}, {"user", "Look:"}, {"system", "Be kind."}, picture};
  req.temperature = 0.25;
  const json::value got = json::parse(*build_request(req, false));
  const json::value want = json::parse(R"({
    "model": "claude", "max_tokens": 4096, "system": "Be brief.\n\nBe kind.", "temperature": 0.25,
    "messages": [{"role": "user", "content": [
      {"type": "text", "text": "Look:"},
      {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}]}]
  })");
  EXPECT_EQ(got, want) << json::serialize(got);

  // A structured turn after a structured one of the same role appends its blocks.
  ChatMessage call{"assistant", ""};
  call.tool_calls = {{"toolu_1", "f", "{}"}};
  req.messages = {{"user", "Hi"}, call, call};
  const json::value merged = json::parse(*build_request(req, false));
  EXPECT_EQ(merged.at("messages").as_array().at(1).at("content").as_array().size(), 2u) << json::serialize(merged);
}

TEST(AnthropicWire, RefusesMalformedSchemasAndImagesInSystemMessages) {
  ChatRequest req = sample();
  req.messages[0].parts = {{ContentPart::Kind::image, "", "https://example.com/a.png", ""}};
  expect_refused(req, "'messages[0].content' with images in a system message");
  req = sample();
  req.tools = {{"f", "", "[1]", false}};
  expect_refused(req, "'tools[0].function.parameters' must be a JSON object");
  req = sample();
  req.response_format = {ResponseFormat::Kind::json_schema, "x", "not json", false};
  expect_refused(req, "'response_format.json_schema.schema' must be a JSON object");
  req = sample();
  req.response_format = {ResponseFormat::Kind::json_schema, "x", "{}", true};
  expect_refused(req, "'response_format.json_schema.strict'");
  req = sample();
  req.response_format.kind = ResponseFormat::Kind::json_object;
  req.tool_choice = "auto";
  expect_refused(req, "'response_format' together with tools");
  req = sample();
  req.messages[1].parts = {{ContentPart::Kind::image, "", "data:image/png,notbase64", ""}};
  expect_refused(req, "must be an https URL or a base64 data URL");
}

TEST(AnthropicWire, JsonObjectModeUsesTheDefaultToolAndNoneKeepsParallelCallsUntouched) {
  ChatRequest req = sample();
  req.response_format.kind = ResponseFormat::Kind::json_object;
  const json::object body = json::parse(*build_request(req, false)).as_object();
  EXPECT_EQ(body.at("tool_choice"), json::parse(R"({"type":"tool","name":"json_response"})"));
  EXPECT_EQ(body.at("tools").as_array().at(0).at("input_schema"), json::parse(R"({"type":"object"})"));

  req = sample();
  req.tools = {{"f", "", "{}", false}};
  req.parallel_tool_calls = false;
  req.tool_choice = "none";
  EXPECT_EQ(json::parse(*build_request(req, false)).at("tool_choice"), json::parse(R"({"type":"none"})"));
  req.tool_choice.clear();
  EXPECT_EQ(json::parse(*build_request(req, false)).at("tool_choice"),
            json::parse(R"({"type":"auto","disable_parallel_tool_use":true})"));
}

TEST(AnthropicWire, AStreamsOddEventsAreIgnoredAndItsStopSequenceKept) {
  const std::string sse =
      event("ping", "not json") +
      event("content_block_delta", R"({"type":"content_block_delta","index":0})") +
      event("content_block_delta", R"({"type":"content_block_delta","index":0,"delta":{"type":"signature_delta"}})") +
      event("content_block_delta",
            R"({"type":"content_block_delta","index":7,"delta":{"type":"input_json_delta","partial_json":"{}"}})") +
      event("content_block_start", R"({"type":"content_block_start","index":1})") +
      event("content_block_start", R"({"type":"content_block_start","index":1,"content_block":{"type":"thinking"}})") +
      event("content_block_start",
            R"({"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"t","name":"f"}})") +
      event("content_block_delta",
            R"({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}})") +
      event("content_block_stop", R"({"type":"content_block_stop","index":2})") +
      event("content_block_start", R"({"type":"content_block_start","index":3,"content_block":{"type":"text","text":"Hi"}})") +
      event("content_block_stop", R"({"type":"content_block_stop","index":9})") +
      event("message_start", R"({"type":"message_start"})") +
      event("message_delta", R"({"type":"message_delta","delta":{"stop_reason":"stop_sequence","stop_sequence":"END"}})") +
      event("future_event", R"({"type":"future_event"})") + event("message_stop", R"({"type":"message_stop"})") +
      event("content_block_delta", R"({"type":"content_block_delta","index":3,"delta":{"type":"text_delta","text":"late"}})");
  const Transcript t = decode(sse);
  ASSERT_FALSE(t.error) << t.error->detail;
  EXPECT_EQ(t.text, "Hi") << "nothing after message_stop counts";
  ASSERT_EQ(t.calls.size(), 1u);
  EXPECT_EQ(t.calls[0].arguments, "{}") << "an empty fragment is no argument: the stop gives the empty object";
  EXPECT_EQ(t.progress.finish_reason, "stop");
  EXPECT_EQ(t.progress.stop_sequence, "END");
  EXPECT_FALSE(t.progress.input_reported) << "message_start without usage reports nothing";
  EXPECT_TRUE(t.progress.finished());

  const Transcript bad = decode(event("content_block_delta", "not json"));
  ASSERT_TRUE(bad.error);
  EXPECT_NE(bad.error->detail.find("'content_block_delta' is not a JSON object"), std::string::npos) << bad.error->detail;
}

TEST(AnthropicWire, TheKeyHeaderIsLeftOutWithoutAKeyAndExtraHeadersFollow) {
  const std::string empty;
  const auto headers = build_headers(&empty, true, {{"x-extra", "1"}});
  ASSERT_EQ(headers.size(), 4u);
  EXPECT_EQ(headers[1].value, "text/event-stream");
  EXPECT_EQ(headers[3].name, "x-extra");
  EXPECT_EQ(build_headers(nullptr, false, {}).size(), 3u);
}

}  // namespace aas::llm::anthropic_wire
