#include "llm/providers/openai_wire.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <chrono>

namespace aas::llm::openai_wire {

namespace json = boost::json;

namespace {

ChatRequest sample() {
  ChatRequest req;
  req.model = "gpt-4o-mini";
  req.messages = {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello!"}, {"user", "2+2?"}};
  return req;
}

const TimePoint now = std::chrono::sys_days(std::chrono::year(2025) / 3 / 10) + std::chrono::hours(12);

struct Transcript {
  std::string text;        // everything the decoder returned, joined
  std::size_t pieces = 0;  // how many non-empty deltas
  std::vector<ToolCall> calls;  // the streamed tool calls, assembled
  std::optional<Error> error;
  wire::StreamProgress progress;
};

// Raw SSE bytes through the real parser and the decoder, in pieces of `step` bytes.
Transcript decode(std::string_view sse, std::size_t step = std::string_view::npos) {
  SseParser parser;
  StreamDecoder decoder;
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
    auto fed = parser.feed(sse.substr(pos, step), on_event);
    EXPECT_TRUE(fed);
    if (step == std::string_view::npos) break;
  }
  t.progress = decoder.progress();
  return t;
}

// A streamed answer as api.openai.com sends it with stream_options.include_usage: a role chunk,
// content chunks, the finish chunk, the usage chunk with empty choices, then [DONE].
constexpr std::string_view stream_fixture =
    "data: {\"id\":\"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG\",\"object\":\"chat.completion.chunk\","
    "\"created\":1741570283,\"model\":\"gpt-4o-2024-08-06\",\"service_tier\":\"default\","
    "\"system_fingerprint\":\"fp_eb9dce56a8\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
    "\"content\":\"\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG\",\"object\":\"chat.completion.chunk\","
    "\"created\":1741570283,\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"delta\":"
    "{\"content\":\"Four\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG\",\"object\":\"chat.completion.chunk\","
    "\"created\":1741570283,\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"delta\":"
    "{\"content\":\" \\u2014 \\\"4\\\".\\n\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG\",\"object\":\"chat.completion.chunk\","
    "\"created\":1741570283,\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"delta\":{},"
    "\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG\",\"object\":\"chat.completion.chunk\","
    "\"created\":1741570283,\"model\":\"gpt-4o-2024-08-06\",\"choices\":[],\"usage\":{\"prompt_tokens\":2006,"
    "\"completion_tokens\":300,\"total_tokens\":2306,\"prompt_tokens_details\":{\"cached_tokens\":1920,"
    "\"audio_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":128,\"audio_tokens\":0,"
    "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}}\n\n"
    "data: [DONE]\n\n";

}  // namespace

// ---- request -------------------------------------------------------------------------------

TEST(OpenAiWire, BuildsANonStreamingRequest) {
  ChatRequest req = sample();
  req.temperature = 0.25;
  const json::value got = json::parse(*build_request(req, false));
  const json::value want = json::parse(R"({
    "model": "gpt-4o-mini",
    "messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": "Hi"},
      {"role": "assistant", "content": "Hello!"},
      {"role": "user", "content": "2+2?"}
    ],
    "temperature": 0.25
  })");
  EXPECT_EQ(got, want) << json::serialize(got);
}

TEST(OpenAiWire, StreamingAlwaysAsksForUsage) {
  ChatRequest req = sample();
  req.max_tokens = 200;
  const json::value got = json::parse(*build_request(req, true));
  const json::value want = json::parse(R"({
    "model": "gpt-4o-mini",
    "messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": "Hi"},
      {"role": "assistant", "content": "Hello!"},
      {"role": "user", "content": "2+2?"}
    ],
    "max_tokens": 200,
    "stream": true,
    "stream_options": {"include_usage": true}
  })");
  EXPECT_EQ(got, want) << json::serialize(got);
}

TEST(OpenAiWire, MaxTokensFromTheRequestTheDefaultOrNotAtAll) {
  ChatRequest req = sample();
  EXPECT_FALSE(json::parse(*build_request(req, false)).as_object().contains("max_tokens"));

  RequestOptions opts;
  opts.default_max_tokens = 1000;
  EXPECT_EQ(json::parse(*build_request(req, false, opts)).as_object().at("max_tokens"), 1000);

  req.max_tokens = 50;
  EXPECT_EQ(json::parse(*build_request(req, false, opts)).as_object().at("max_tokens"), 50);

  opts.use_max_completion_tokens = true;
  const json::value v = json::parse(*build_request(req, false, opts));
  EXPECT_EQ(v.as_object().at("max_completion_tokens"), 50);
  EXPECT_FALSE(v.as_object().contains("max_tokens"));
}

TEST(OpenAiWire, HeadersCarryTheBearerKeyOnlyWhenThereIsOne) {
  const std::string key = "sk-test-123";
  const auto with_key = build_headers(&key, true, {{"openai-organization", "org-1"}});
  EXPECT_EQ(wire::find_header(with_key, "authorization"), "Bearer sk-test-123");
  EXPECT_EQ(wire::find_header(with_key, "accept"), "text/event-stream");
  EXPECT_EQ(wire::find_header(with_key, "content-type"), "application/json");
  EXPECT_EQ(wire::find_header(with_key, "openai-organization"), "org-1");

  const auto without = build_headers(nullptr, false);
  EXPECT_FALSE(wire::find_header(without, "authorization"));
  EXPECT_EQ(wire::find_header(without, "accept"), "application/json");
}

// ---- non-streaming response ----------------------------------------------------------------

TEST(OpenAiWire, ParsesAResponse) {
  const auto c = parse_response(R"({
    "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
    "object": "chat.completion",
    "created": 1741569952,
    "model": "gpt-4.1-2025-04-14",
    "choices": [{
      "index": 0,
      "message": {"role": "assistant", "content": "Hello! How can I assist you today?",
                  "refusal": null, "annotations": []},
      "logprobs": null,
      "finish_reason": "stop"
    }],
    "usage": {
      "prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29,
      "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
      "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                    "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
    },
    "service_tier": "default"
  })", sample());
  ASSERT_TRUE(c) << c.error().detail;
  EXPECT_EQ(c->content, "Hello! How can I assist you today?");
  EXPECT_EQ(c->model, "gpt-4.1-2025-04-14");
  EXPECT_EQ(c->finish_reason, "stop");
  EXPECT_EQ(c->usage.input_tokens, 19);
  EXPECT_EQ(c->usage.output_tokens, 10);
  EXPECT_EQ(c->usage.cached_input_tokens, 0);
  EXPECT_FALSE(c->usage.estimated);
}

TEST(OpenAiWire, InputIncludesCachedTokensAndOutputIncludesReasoning) {
  const auto c = parse_response(R"({
    "id": "chatcmpl-x", "object": "chat.completion", "created": 1, "model": "o3-mini-2025-01-31",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "4"}, "finish_reason": "length"}],
    "usage": {"prompt_tokens": 2006, "completion_tokens": 300, "total_tokens": 2306,
              "prompt_tokens_details": {"cached_tokens": 1920},
              "completion_tokens_details": {"reasoning_tokens": 256}}
  })", sample());
  ASSERT_TRUE(c);
  EXPECT_EQ(c->finish_reason, "length");
  EXPECT_EQ(c->usage.input_tokens, 2006);  // prompt_tokens, cached included
  EXPECT_EQ(c->usage.cached_input_tokens, 1920);
  EXPECT_EQ(c->usage.cache_write_tokens, 0);
  EXPECT_EQ(c->usage.output_tokens, 300);  // completion_tokens, reasoning included
  EXPECT_EQ(c->usage.reasoning_tokens, 256);
}

TEST(OpenAiWire, AServerWithoutUsageGetsAnEstimate) {
  // What some OpenAI-compatible servers answer: no usage, no model.
  const auto c = parse_response(
      R"({"choices": [{"index": 0, "message": {"role": "assistant", "content": "Four."}, "finish_reason": "stop"}]})",
      sample());
  ASSERT_TRUE(c);
  EXPECT_EQ(c->model, "gpt-4o-mini");  // the requested one
  EXPECT_TRUE(c->usage.estimated);
  EXPECT_GT(c->usage.input_tokens, 0);
  EXPECT_GT(c->usage.output_tokens, 0);
}

TEST(OpenAiWire, ARefusalIsTheAnswerAndToolCallsHaveNoText) {
  const auto refusal = parse_response(R"({"model": "gpt-4o", "choices": [{"index": 0,
      "message": {"role": "assistant", "content": null, "refusal": "I can't help with that."},
      "finish_reason": "stop"}], "usage": {"prompt_tokens": 5, "completion_tokens": 7}})", sample());
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->content, "I can't help with that.");

  const auto tools = parse_response(R"({"model": "gpt-4o", "choices": [{"index": 0,
      "message": {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
      "function": {"name": "f", "arguments": "{}"}}]}, "finish_reason": "tool_calls"}],
      "usage": {"prompt_tokens": 5, "completion_tokens": 7}})", sample());
  ASSERT_TRUE(tools);
  EXPECT_EQ(tools->content, "");
  EXPECT_EQ(tools->finish_reason, "tool_calls");
}

TEST(OpenAiWire, AnUnreadableResponseIsAnUpstreamError) {
  for (std::string_view body : {"<html>oops</html>", "[]", R"({"object": "chat.completion"})",
                                R"({"choices": []})", R"({"choices": [{"index": 0}]})"}) {
    const auto c = parse_response(body, sample());
    ASSERT_FALSE(c) << body;
    EXPECT_EQ(c.error().code, errc::upstream_error) << body;
  }
}

TEST(OpenAiWire, AnErrorObjectInA200IsAnError) {
  const auto c = parse_response(R"({"error": {"message": "The server had an error", "type": "server_error"}})", sample());
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, errc::upstream_error);
  EXPECT_EQ(c.error().upstream_status, 500);
}

TEST(OpenAiWire, FinishReasonsAreNormalised) {
  EXPECT_EQ(normalise_finish_reason("stop"), "stop");
  EXPECT_EQ(normalise_finish_reason("length"), "length");
  EXPECT_EQ(normalise_finish_reason("tool_calls"), "tool_calls");
  EXPECT_EQ(normalise_finish_reason("function_call"), "tool_calls");
  EXPECT_EQ(normalise_finish_reason("content_filter"), "content_filter");
  EXPECT_EQ(normalise_finish_reason("eos"), "other");
  EXPECT_EQ(normalise_finish_reason(""), "other");
}

// ---- stream --------------------------------------------------------------------------------

TEST(OpenAiWire, DecodesAStreamWithItsUsageChunk) {
  const Transcript t = decode(stream_fixture);
  ASSERT_FALSE(t.error) << t.error->detail;
  EXPECT_EQ(t.text, "Four \xE2\x80\x94 \"4\".\n");
  EXPECT_EQ(t.pieces, 2u);  // the empty role chunk is no delta
  EXPECT_EQ(t.progress.model, "gpt-4o-2024-08-06");
  EXPECT_EQ(t.progress.finish_reason, "stop");
  EXPECT_TRUE(t.progress.terminated);
  EXPECT_TRUE(t.progress.input_reported);
  EXPECT_TRUE(t.progress.output_reported);
  EXPECT_EQ(t.progress.usage.input_tokens, 2006);
  EXPECT_EQ(t.progress.usage.cached_input_tokens, 1920);
  EXPECT_EQ(t.progress.usage.output_tokens, 300);
  EXPECT_EQ(t.progress.usage.reasoning_tokens, 128);
}

TEST(OpenAiWire, ByteAtATimeAndCrlfDecodeTheSame) {
  const Transcript whole = decode(stream_fixture);
  const Transcript bytes = decode(stream_fixture, 1);
  EXPECT_EQ(bytes.text, whole.text);
  EXPECT_EQ(bytes.pieces, whole.pieces);
  EXPECT_TRUE(bytes.progress.terminated);
  EXPECT_EQ(bytes.progress.usage.output_tokens, 300);

  std::string crlf;
  for (char c : stream_fixture) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  const Transcript t = decode(crlf, 7);
  EXPECT_EQ(t.text, whole.text);
  EXPECT_TRUE(t.progress.terminated);
}

TEST(OpenAiWire, AStreamWithoutUsageLeavesItToTheEstimate) {
  // An older compatible server: no usage chunk.
  const Transcript t = decode(
      "data: {\"model\":\"llama3.2\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n"
      "data: {\"model\":\"llama3.2\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
      "data: [DONE]\n\n");
  ASSERT_FALSE(t.error);
  EXPECT_EQ(t.text, "Hi");
  EXPECT_FALSE(t.progress.input_reported);
  const Usage u = wire::complete_usage(t.progress, sample(), t.text);
  EXPECT_TRUE(u.estimated);
  EXPECT_GT(u.input_tokens, 0);
  EXPECT_EQ(u.output_tokens, 1);
}

TEST(OpenAiWire, AStreamCutBeforeDoneIsNotFinished) {
  const std::string_view cut = stream_fixture.substr(0, stream_fixture.find("\"content\":\" "));
  const Transcript t = decode(cut);
  ASSERT_FALSE(t.error);
  EXPECT_EQ(t.text, "Four");
  EXPECT_FALSE(t.progress.finished());
}

TEST(OpenAiWire, AStreamCutAfterTheFinishReasonIsFinished) {
  // The usage chunk and [DONE] are lost, but the answer is whole.
  const std::string_view cut = stream_fixture.substr(0, stream_fixture.find("\"choices\":[]"));
  const Transcript t = decode(cut);
  EXPECT_TRUE(t.progress.finished());
  EXPECT_FALSE(t.progress.terminated);
  EXPECT_FALSE(t.progress.output_reported);
}

TEST(OpenAiWire, AnErrorChunkMidStreamIsAnError) {
  const Transcript t = decode(
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Par\"},\"finish_reason\":null}]}\n\n"
      "data: {\"error\":{\"message\":\"The server had an error while processing your request.\","
      "\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tial\"},\"finish_reason\":null}]}\n\n");
  EXPECT_EQ(t.text, "Par");
  ASSERT_TRUE(t.error);
  EXPECT_EQ(t.error->code, errc::upstream_error);
  EXPECT_EQ(t.error->upstream_status, 500);
  EXPECT_NE(t.error->detail.find("server_error"), std::string::npos);
}

TEST(OpenAiWire, AMalformedChunkIsAnError) {
  const Transcript t = decode("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"choices\":[\n\n");
  EXPECT_EQ(t.text, "a");
  ASSERT_TRUE(t.error);
  EXPECT_EQ(t.error->code, errc::upstream_error);
}

TEST(OpenAiWire, NothingCountsAfterDone) {
  const Transcript t = decode(
      "data: [DONE]\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"late\"}}]}\n\ndata: garbage\n\n");
  EXPECT_FALSE(t.error);
  EXPECT_EQ(t.text, "");
  EXPECT_TRUE(t.progress.terminated);
}

// ---- errors --------------------------------------------------------------------------------

TEST(OpenAiWire, ErrorMappingTable) {
  struct Row {
    int status;
    errc code;
  };
  const std::string body =
      R"({"error": {"message": "boom", "type": "invalid_request_error", "param": null, "code": null}})";
  for (const Row& row : {Row{400, errc::upstream_error}, Row{401, errc::upstream_error},
                         Row{403, errc::upstream_error}, Row{404, errc::upstream_error},
                         Row{408, errc::upstream_timeout}, Row{409, errc::upstream_error},
                         Row{422, errc::upstream_error}, Row{429, errc::rate_limited},
                         Row{500, errc::upstream_error}, Row{502, errc::upstream_error},
                         Row{503, errc::unavailable}, Row{504, errc::upstream_error}}) {
    const Error e = map_error(row.status, {}, body, now);
    EXPECT_EQ(e.code, row.code) << row.status;
    EXPECT_EQ(e.upstream_status, row.status);
    EXPECT_FALSE(e.message.empty());
    EXPECT_EQ(e.message.find("boom"), std::string::npos) << "vendor text is for the log only";
    EXPECT_NE(e.detail.find("boom"), std::string::npos);
  }
}

TEST(OpenAiWire, ABadRequestSaysTheProviderRejectedIt) {
  const Error e = map_error(404, {{"x-request-id", "req_abc"}},
                            R"({"error": {"message": "The model `gpt-9` does not exist or you do not have access to it.",
                                "type": "invalid_request_error", "param": null, "code": "model_not_found"}})",
                            now);
  EXPECT_EQ(e.code, errc::upstream_error);
  EXPECT_EQ(e.message, "the model provider rejected the request");
  EXPECT_NE(e.detail.find("model_not_found"), std::string::npos);
  EXPECT_NE(e.detail.find("gpt-9"), std::string::npos);
  EXPECT_NE(e.detail.find("req_abc"), std::string::npos);
}

TEST(OpenAiWire, AnAuthErrorLeaksNoKey) {
  const Error e = map_error(401, {},
                            R"({"error": {"message": "Incorrect API key provided: sk-proj-AbCd****************************************wxYZ. You can find your API key at https://platform.openai.com/account/api-keys.",
                                "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}})",
                            now);
  EXPECT_EQ(e.code, errc::upstream_error);
  EXPECT_EQ(e.upstream_status, 401);
  EXPECT_EQ(e.message.find("sk-"), std::string::npos);
  EXPECT_EQ(e.detail.find("sk-proj"), std::string::npos);
  EXPECT_EQ(e.detail.find("AbCd"), std::string::npos);
  EXPECT_NE(e.detail.find("invalid_api_key"), std::string::npos);
}

TEST(OpenAiWire, RateLimitTakesRetryAfterInSecondsOrAsADate) {
  const std::string body = R"({"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}})";
  EXPECT_EQ(map_error(429, {{"retry-after", "7"}}, body, now).retry_after_seconds, 7);
  EXPECT_EQ(map_error(429, {{"Retry-After", "Mon, 10 Mar 2025 12:00:20 GMT"}}, body, now).retry_after_seconds, 20);
  EXPECT_EQ(map_error(429, {{"retry-after-ms", "1500"}, {"retry-after", "9"}}, body, now).retry_after_seconds, 2);
  // A date in the past means now.
  EXPECT_EQ(map_error(429, {{"retry-after", "Mon, 10 Mar 2025 11:00:00 GMT"}}, body, now).retry_after_seconds, 0);
  EXPECT_FALSE(map_error(429, {{"retry-after", "soon"}}, body, now).retry_after_seconds);
}

TEST(OpenAiWire, RateLimitFallsBackToTheResetOfTheExhaustedLimit) {
  const std::string body = R"({"error": {"message": "Rate limit reached for requests", "type": "requests", "code": "rate_limit_exceeded"}})";
  const Error tokens = map_error(429,
                                 {{"x-ratelimit-remaining-requests", "59"},
                                  {"x-ratelimit-reset-requests", "6m0s"},
                                  {"x-ratelimit-remaining-tokens", "0"},
                                  {"x-ratelimit-reset-tokens", "1.5s"}},
                                 body, now);
  EXPECT_EQ(tokens.code, errc::rate_limited);
  EXPECT_EQ(tokens.retry_after_seconds, 2);

  const Error requests = map_error(429,
                                   {{"x-ratelimit-remaining-requests", "0"},
                                    {"x-ratelimit-reset-requests", "1m30s"}},
                                   body, now);
  EXPECT_EQ(requests.retry_after_seconds, 90);
  EXPECT_FALSE(map_error(429, {}, body, now).retry_after_seconds);
}

TEST(OpenAiWire, AnExhaustedQuotaIsNotARateLimit) {
  const Error e = map_error(429, {},
                            R"({"error": {"message": "You exceeded your current quota, please check your plan and billing details.",
                                "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}})",
                            now);
  EXPECT_EQ(e.code, errc::upstream_error);
  EXPECT_EQ(e.upstream_status, 429);  // so the key pool still rests the key
}

TEST(OpenAiWire, CompatibleServersErrorShapes) {
  // Ollama: {"error": "text"}; a proxy: HTML.
  const Error ollama = map_error(404, {}, R"({"error":"model \"llama9\" not found, try pulling it first"})", now);
  EXPECT_EQ(ollama.code, errc::upstream_error);
  EXPECT_NE(ollama.detail.find("llama9"), std::string::npos);

  const Error proxy = map_error(502, {}, "<html><body>Bad Gateway</body></html>", now);
  EXPECT_EQ(proxy.code, errc::upstream_error);
  EXPECT_EQ(proxy.upstream_status, 502);
  EXPECT_NE(proxy.detail.find("Bad Gateway"), std::string::npos);

  const Error empty = map_error(503, {{"retry-after", "3"}}, "", now);
  EXPECT_EQ(empty.code, errc::unavailable);
  EXPECT_EQ(empty.retry_after_seconds, 3);
}

}  // namespace aas::llm::openai_wire

// ---- structured messages -------------------------------------------------------------------

namespace aas::llm::openai_wire {

namespace {

// A request with everything issue 11 added: parts, tools, a tool round trip, JSON mode, sampling.
ChatRequest structured() {
  ChatRequest req;
  req.model = "gpt-4o";
  ChatMessage user{"user", "What is this? Weather there?"};
  user.parts = {{ContentPart::Kind::text, "What is this?", "", ""},
                {ContentPart::Kind::image, "", "data:image/png;base64,iVBORw0KGgo=", "low"},
                {ContentPart::Kind::text, " Weather there?", "", ""}};
  ChatMessage assistant{"assistant", ""};
  assistant.tool_calls = {{"call_1", "get_weather", R"({"city":"Paris"})"}};
  ChatMessage tool{"tool", "sunny"};
  tool.tool_call_id = "call_1";
  req.messages = {user, assistant, tool};
  req.tools = {{"get_weather", "The weather", R"({"type":"object","properties":{"city":{"type":"string"}}})", true}};
  req.tool_choice = "get_weather";
  req.parallel_tool_calls = false;
  req.response_format = {ResponseFormat::Kind::json_schema, "answer", R"({"type":"object"})", true};
  req.top_p = 0.9;
  req.seed = 42;
  req.presence_penalty = 0.5;
  req.frequency_penalty = -0.5;
  req.stop = {"END"};
  req.user = "u-1";
  return req;
}

}  // namespace

TEST(OpenAiWire, CarriesPartsToolsToolCallsJsonModeAndSampling) {
  const json::value got = json::parse(*build_request(structured(), false));
  const json::value want = json::parse(R"({
    "model": "gpt-4o",
    "messages": [
      {"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
        {"type": "text", "text": " Weather there?"}]},
      {"role": "assistant", "content": null, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
      {"role": "tool", "content": "sunny", "tool_call_id": "call_1"}
    ],
    "top_p": 0.9, "seed": 42, "presence_penalty": 0.5, "frequency_penalty": -0.5,
    "stop": ["END"], "user": "u-1",
    "tools": [{"type": "function", "function": {"name": "get_weather", "description": "The weather",
               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": true}}],
    "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    "parallel_tool_calls": false,
    "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": true}}
  })");
  EXPECT_EQ(got, want) << json::serialize(got);
}

TEST(OpenAiWire, ToolChoiceKeywordsAndJsonObject) {
  ChatRequest req = sample();
  req.tools = {{"f", "", "{}", false}};
  for (const char* keyword : {"auto", "none", "required"}) {
    req.tool_choice = keyword;
    EXPECT_EQ(json::parse(*build_request(req, false)).as_object().at("tool_choice"), keyword);
  }
  req.response_format.kind = ResponseFormat::Kind::json_object;
  EXPECT_EQ(json::parse(*build_request(req, false)).as_object().at("response_format"),
            json::parse(R"({"type":"json_object"})"));
}

TEST(OpenAiWire, RefusesToolParametersThatAreNotAnObject) {
  ChatRequest req = sample();
  req.tools = {{"f", "", "[1]", false}};
  auto r = build_request(req, false);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::invalid_request);
  EXPECT_NE(r.error().message.find("tools[0].function.parameters"), std::string::npos);
}

TEST(OpenAiWire, ReadsToolCallsOfAResponse) {
  const auto c = parse_response(R"({"model":"gpt-4o","choices":[{"index":0,"finish_reason":"tool_calls",
      "message":{"role":"assistant","content":null,"tool_calls":[
        {"id":"call_a","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}},
        {"id":"call_b","type":"function","function":{"name":"get_time","arguments":"{}"}}]}}],
      "usage":{"prompt_tokens":10,"completion_tokens":5}})",
                                    sample());
  ASSERT_TRUE(c) << c.error().detail;
  EXPECT_EQ(c->content, "");
  EXPECT_EQ(c->finish_reason, "tool_calls");
  ASSERT_EQ(c->tool_calls.size(), 2u);
  EXPECT_EQ(c->tool_calls[0].id, "call_a");
  EXPECT_EQ(c->tool_calls[0].name, "get_weather");
  EXPECT_EQ(c->tool_calls[0].arguments, R"({"city":"Oslo"})");
  EXPECT_EQ(c->tool_calls[1].name, "get_time");
}

TEST(OpenAiWire, StreamedToolCallsBecomeDeltasThatAssemble) {
  // As api.openai.com streams two parallel calls: id and name first, then argument fragments.
  const std::string sse =
      "data: {\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,"
      "\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
      "\"arguments\":\"\"}}]},\"finish_reason\":null}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
      "\"{\\\"ci\"}}]},\"finish_reason\":null}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
      "\"ty\\\":\\\"Oslo\\\"}\"}}]},\"finish_reason\":null}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_b\",\"type\":\"function\","
      "\"function\":{\"name\":\"get_time\",\"arguments\":\"{}\"}}]},\"finish_reason\":null}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n"
      "data: [DONE]\n\n";
  for (std::size_t step : {std::string_view::npos, std::size_t{7}}) {
    const Transcript t = decode(sse, step);
    ASSERT_FALSE(t.error) << t.error->detail;
    EXPECT_EQ(t.text, "");
    EXPECT_EQ(t.progress.finish_reason, "tool_calls");
    ASSERT_EQ(t.calls.size(), 2u);
    EXPECT_EQ(t.calls[0].id, "call_a");
    EXPECT_EQ(t.calls[0].name, "get_weather");
    EXPECT_EQ(t.calls[0].arguments, R"({"city":"Oslo"})");
    EXPECT_EQ(t.calls[1].id, "call_b");
    EXPECT_EQ(t.calls[1].arguments, "{}");
  }
}

TEST(OpenAiWire, AStreamedToolCallWithoutAnIndexIsMalformed) {
  const Transcript t = decode(
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"id\":\"x\"}]},\"finish_reason\":null}]}\n\n");
  ASSERT_TRUE(t.error);
  EXPECT_EQ(t.error->code, errc::upstream_error);
}

TEST(OpenAiWire, EmbeddingsRequestAndResponseInInputOrder) {
  EmbeddingRequest req{"text-embedding-3-small", {"a", "b"}, 8, "u-1", "r-1", "user-1"};
  EXPECT_EQ(json::parse(build_embedding_request(req)),
            json::parse(R"({"model":"text-embedding-3-small","input":["a","b"],"encoding_format":"float",
                           "dimensions":8,"user":"u-1"})"));
  // Servers may list the items in any order: `index` says which input each is.
  const auto e = parse_embedding_response(R"({"object":"list","model":"text-embedding-3-small",
      "data":[{"object":"embedding","index":1,"embedding":[0.5,-0.5]},{"object":"embedding","index":0,"embedding":[1,0]}],
      "usage":{"prompt_tokens":2,"total_tokens":2}})",
                                          req);
  ASSERT_TRUE(e) << e.error().detail;
  ASSERT_EQ(e->vectors.size(), 2u);
  EXPECT_EQ(e->vectors[0], (std::vector<float>{1, 0}));
  EXPECT_EQ(e->vectors[1], (std::vector<float>{0.5f, -0.5f}));
  EXPECT_EQ(e->usage.input_tokens, 2);
  EXPECT_FALSE(e->usage.estimated);

  const auto missing = parse_embedding_response(R"({"data":[{"index":0,"embedding":[1]}]})", req);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, errc::upstream_error);
}

TEST(OpenAiWire, VllmsStopReasonNamesTheStopSequence) {
  const auto c = parse_response(R"({"choices":[{"index":0,"message":{"role":"assistant","content":"a"},
    "finish_reason":"stop","stop_reason":"END"}],"usage":{"prompt_tokens":1,"completion_tokens":1}})", sample());
  ASSERT_TRUE(c);
  EXPECT_EQ(c->stop_sequence, "END");
  // A stop token's id (a number) names no sequence.
  const auto token = parse_response(R"({"choices":[{"index":0,"message":{"role":"assistant","content":"a"},
    "finish_reason":"stop","stop_reason":128001}]})", sample());
  ASSERT_TRUE(token);
  EXPECT_EQ(token->stop_sequence, "");
  const Transcript t = decode("data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\",\"stop_reason\":\"END\"}]}\n\ndata: [DONE]\n\n");
  EXPECT_EQ(t.progress.stop_sequence, "END");
}

TEST(OpenAiWire, LogprobsAskedForAndReadBackStreamedAndNot) {
  ChatRequest req = sample();
  req.logprobs = true;
  req.top_logprobs = 1;
  const auto body = json::parse(*build_request(req, false)).as_object();
  EXPECT_EQ(body.at("logprobs"), true);
  EXPECT_EQ(body.at("top_logprobs"), 1);
  EXPECT_FALSE(json::parse(*build_request(sample(), false)).as_object().contains("logprobs"));

  const auto c = parse_response(R"({"choices":[{"index":0,"message":{"role":"assistant","content":"Hi there"},
    "logprobs":{"content":[{"token":"Hi","logprob":-0.5,"bytes":[72,105],"top_logprobs":[{"token":"Hi","logprob":-0.5,"bytes":[72,105]}]},
                           {"token":" there","logprob":-1.25,"bytes":null,"top_logprobs":[]}],"refusal":null},
    "finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2}})", req);
  ASSERT_TRUE(c);
  ASSERT_EQ(c->logprobs.size(), 2u);
  EXPECT_EQ(c->logprobs[0].token, "Hi");
  EXPECT_EQ(c->logprobs[0].logprob, -0.5);
  EXPECT_EQ(c->logprobs[0].bytes, (std::vector<int>{72, 105}));
  ASSERT_EQ(c->logprobs[0].top.size(), 1u);
  EXPECT_EQ(c->logprobs[0].top[0].token, "Hi");
  EXPECT_TRUE(c->logprobs[1].bytes.empty());
  EXPECT_EQ(c->logprobs[1].logprob, -1.25);

  StreamDecoder decoder;
  SseEvent ev;
  ev.data = R"({"choices":[{"index":0,"delta":{"content":" there"},"logprobs":{"content":[{"token":" there","logprob":-1.25,"top_logprobs":[]}]},"finish_reason":null}]})";
  auto d = decoder.feed(ev);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->text, " there");
  ASSERT_EQ(d->logprobs.size(), 1u);
  EXPECT_EQ(d->logprobs[0].token, " there");

  ev.data = R"({"choices":[{"index":0,"delta":{"content":"x"},"logprobs":{"content":[{"token":"x"}]}}]})";
  auto bad = decoder.feed(ev);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, errc::upstream_error);
}


// ---- odd but valid shapes, and the malformed ones left -----------------------------------------

TEST(OpenAiWire, AnInBandErrorIsARateLimitByItsCodeOrTypeAndABadRequestByItsType) {
  struct Row {
    const char* error;
    int status;
  };
  for (const Row& row : {Row{R"({"type":"invalid_request_error","message":"m"})", 400},
                         Row{R"({"code":"rate_limit_exceeded","message":"m"})", 429},
                         Row{R"({"code":"insufficient_quota"})", 429},
                         Row{R"({"type":"tokens","code":429})", 429},
                         Row{R"({"type":"requests"})", 429},
                         Row{R"({"type":"server_error","code":42})", 500},
                         Row{R"("model is loading")", 500},
                         Row{R"([1])", 500}}) {
    const std::string body = std::string(R"({"error":)") + row.error + "}";
    const auto r = parse_response(body, sample());
    ASSERT_FALSE(r) << body;
    EXPECT_EQ(r.error().upstream_status, row.status) << body;
    // The same error inside a stream and an embeddings answer.
    const Transcript t = decode("data: " + body + "\n\n");
    ASSERT_TRUE(t.error) << body;
    EXPECT_EQ(t.error->upstream_status, row.status) << body;
    const auto e = parse_embedding_response(body, {"m", {"a"}});
    ASSERT_FALSE(e) << body;
    EXPECT_EQ(e.error().upstream_status, row.status) << body;
  }
  // A numeric code (some compatible servers) is kept as text in the detail.
  const Error numeric = map_error(500, {}, R"({"error":{"message":"boom","code":1234}})", now);
  EXPECT_NE(numeric.detail.find("1234"), std::string::npos) << numeric.detail;
  // "error": null is no error.
  EXPECT_TRUE(parse_response(R"({"error":null,"choices":[{"message":{"content":"ok"}}]})", sample()));
}

TEST(OpenAiWire, MalformedToolCallsAndLogprobEntriesAreRefusedOrSkipped) {
  for (std::string_view body : {R"({"choices":[{"message":{"tool_calls":["x"]}}]})",
                                R"({"choices":[{"message":{"tool_calls":[{"id":"c"}]}}]})",
                                R"({"choices":[{"message":{"content":"a"},"logprobs":{"content":["x"]}}]})",
                                R"({"choices":[{"message":{"content":"a"},"logprobs":{"content":[{"logprob":"-1"}]}}]})",
                                R"({"choices":["text"]})"}) {
    const auto c = parse_response(body, sample());
    ASSERT_FALSE(c) << body;
    EXPECT_EQ(c.error().code, errc::upstream_error) << body;
  }
  // Bytes that are not integers and alternatives without a logprob are left out, not refused.
  const auto c = parse_response(R"({"choices":[{"message":{"content":"a"},"logprobs":{"content":[
      {"token":"a","logprob":-1,"bytes":[97,"x"],"top_logprobs":[{"token":"b"},{"token":"a","logprob":-1}]}]}}]})",
                                sample());
  ASSERT_TRUE(c) << c.error().detail;
  ASSERT_EQ(c->logprobs.size(), 1u);
  EXPECT_EQ(c->logprobs[0].bytes, std::vector<int>{97});
  ASSERT_EQ(c->logprobs[0].top.size(), 1u);
  EXPECT_EQ(c->logprobs[0].top[0].token, "a");
  // A tool call's function without name or arguments reads as empty text.
  const auto call = parse_response(R"({"choices":[{"message":{"tool_calls":[{"function":{}}]},"finish_reason":"tool_calls"}]})",
                                   sample());
  ASSERT_TRUE(call);
  ASSERT_EQ(call->tool_calls.size(), 1u);
  EXPECT_EQ(call->tool_calls[0].name, "");
  EXPECT_EQ(call->tool_calls[0].arguments, "");
}

TEST(OpenAiWire, AStreamsOddChunksAreReadAsFarAsTheyGo) {
  const Transcript t = decode(
      "data: \n\n"
      "data: {\"choices\":[]}\n\n"
      "data: {\"choices\":[\"x\"]}\n\n"
      "data: {\"model\":\"m-1\",\"choices\":[{\"index\":0}]}\n\n"
      "data: {\"model\":\"m-2\",\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\"}]}}]}\n\n"
      "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}}]}\n\n"
      "data: {\"choices\":[{\"delta\":{\"refusal\":\"No.\"},\"finish_reason\":\"content_filter\"}],\"usage\":null}\n\n"
      "data: [DONE]\n\n");
  ASSERT_FALSE(t.error) << t.error->detail;
  EXPECT_EQ(t.text, "No.");
  EXPECT_EQ(t.progress.model, "m-1") << "the first model named is kept";
  ASSERT_EQ(t.calls.size(), 1u);
  EXPECT_EQ(t.calls[0].id, "c");
  EXPECT_EQ(t.calls[0].name, "f");
  EXPECT_EQ(t.progress.finish_reason, "content_filter");
  EXPECT_EQ(t.progress.stop_sequence, "");
  EXPECT_FALSE(t.progress.output_reported);

  for (std::string_view chunk : {R"({"choices":[{"delta":{"tool_calls":["x"]}}]})",
                                 R"({"choices":[{"delta":{"tool_calls":[{"index":-1}]}}]})",
                                 R"({"choices":[{"delta":{"tool_calls":[{"index":1025}]}}]})", "[]"}) {
    const Transcript bad = decode("data: " + std::string(chunk) + "\n\n");
    ASSERT_TRUE(bad.error) << chunk;
    EXPECT_EQ(bad.error->code, errc::upstream_error) << chunk;
  }
}

TEST(OpenAiWire, MalformedEmbeddingItemsAreRefusedAndMissingUsageEstimated) {
  const EmbeddingRequest req{"m", {"one two", "three"}};
  for (std::string_view body : {"nope", R"({"object":"list"})", R"({"data":["x"]})",
                                R"({"data":[{"embedding":[1]}]})", R"({"data":[{"index":0}]})",
                                R"({"data":[{"index":-1,"embedding":[1]}]})", R"({"data":[{"index":2,"embedding":[1]}]})",
                                R"({"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[1]}]})",
                                R"({"data":[{"index":0,"embedding":[1,"x"]},{"index":1,"embedding":[1]}]})"}) {
    const auto e = parse_embedding_response(body, req);
    ASSERT_FALSE(e) << body;
    EXPECT_EQ(e.error().code, errc::upstream_error) << body;
  }
  const auto e = parse_embedding_response(R"({"data":[{"index":0,"embedding":[1]},{"index":1,"embedding":[2]}]})", req);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->model, "m");
  EXPECT_TRUE(e->usage.estimated);
  EXPECT_GT(e->usage.input_tokens, 0);
  EXPECT_FALSE(json::parse(build_embedding_request(req)).as_object().contains("dimensions"));
}

TEST(OpenAiWire, ARefusedSchemaAndStrictJsonSchemaAreBuiltOrRefusedByName) {
  ChatRequest req = sample();
  req.response_format = {ResponseFormat::Kind::json_schema, "answer", "[]", false};
  const auto bad = build_request(req, false);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("'response_format.json_schema.schema' must be a JSON object"), std::string::npos);
  req.response_format = {ResponseFormat::Kind::json_schema, "answer", R"({"type":"object"})", true};
  EXPECT_EQ(json::parse(*build_request(req, false)).at("response_format"),
            json::parse(R"({"type":"json_schema","json_schema":{"name":"answer","schema":{"type":"object"},"strict":true}})"));
}

}  // namespace aas::llm::openai_wire
