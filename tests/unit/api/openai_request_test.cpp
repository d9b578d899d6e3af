#include "api/openai_request.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

namespace aas::api::openai {
namespace {

Result<ChatCompletionRequest> chat(std::string_view body) {
  return read_chat_completion(boost::json::parse(body).as_object(), {});
}

std::string refusal(std::string_view body) {
  auto r = chat(body);
  if (r) return "accepted";
  EXPECT_EQ(r.error().code, errc::invalid_request);
  return r.error().message;
}

TEST(OpenAiRequest, ReadsEveryStructuredField) {
  auto r = chat(R"({
    "model": "gpt", "stream": true, "stream_options": {"include_usage": true},
    "messages": [
      {"role": "developer", "content": "Be brief."},
      {"role": "user", "name": "alice", "content": [
        {"type": "text", "text": "What is "}, {"type": "text", "text": "this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}}]},
      {"role": "assistant", "content": null, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "look", "arguments": "{\"x\":1}"}}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "a cat"}
    ],
    "temperature": 0, "top_p": 0.5, "seed": 7, "presence_penalty": -1, "frequency_penalty": 1.5,
    "stop": "END", "user": "u-1", "max_completion_tokens": 100, "n": 1, "logprobs": false,
    "tools": [{"type": "function", "function": {"name": "look", "description": "Looks",
               "parameters": {"type": "object"}, "strict": true}}],
    "tool_choice": {"type": "function", "function": {"name": "look"}}, "parallel_tool_calls": false,
    "response_format": {"type": "json_schema", "json_schema": {"name": "out", "schema": {"type": "object"}, "strict": true}}
  })");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->model, "gpt");
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
  const llm::ChatRequest& c = r->call;
  ASSERT_EQ(c.messages.size(), 4u);
  EXPECT_EQ(c.messages[0].role, "system");
  EXPECT_EQ(c.messages[1].name, "alice");
  EXPECT_EQ(c.messages[1].content, "What is \nthis?");  // parts joined a newline apart
  ASSERT_EQ(c.messages[1].parts.size(), 3u);
  EXPECT_EQ(c.messages[1].parts[2].kind, llm::ContentPart::Kind::image);
  EXPECT_EQ(c.messages[1].parts[2].detail, "low");
  ASSERT_EQ(c.messages[2].tool_calls.size(), 1u);
  EXPECT_EQ(c.messages[2].tool_calls[0].arguments, R"({"x":1})");
  EXPECT_EQ(c.messages[3].tool_call_id, "call_1");
  EXPECT_EQ(c.temperature, 0.0);
  EXPECT_EQ(c.top_p, 0.5);
  EXPECT_EQ(c.seed, 7);
  EXPECT_EQ(c.presence_penalty, -1.0);
  EXPECT_EQ(c.frequency_penalty, 1.5);
  EXPECT_EQ(c.stop, std::vector<std::string>{"END"});
  EXPECT_EQ(c.user, "u-1");
  EXPECT_EQ(c.max_tokens, 100);
  ASSERT_EQ(c.tools.size(), 1u);
  EXPECT_EQ(c.tools[0].parameters, R"({"type":"object"})");
  EXPECT_TRUE(c.tools[0].strict);
  EXPECT_EQ(c.tool_choice, "look");
  EXPECT_EQ(c.parallel_tool_calls, false);
  EXPECT_EQ(c.response_format.kind, llm::ResponseFormat::Kind::json_schema);
  EXPECT_EQ(c.response_format.schema_name, "out");
  EXPECT_TRUE(c.response_format.strict);
}

TEST(OpenAiRequest, RefusesNamingTheField) {
  const std::string hi = R"("model": "m", "messages": [{"role": "user", "content": "hi"}])";
  EXPECT_EQ(refusal("{" + hi + R"(, "n": 9})"), "'n' must be an integer from 1 to 8");
  EXPECT_EQ(refusal("{" + hi + R"(, "n": 0})"), "'n' must be an integer from 1 to 8");
  EXPECT_EQ(refusal("{" + hi + R"(, "n": 3})"), "accepted");
  EXPECT_EQ(refusal("{" + hi + R"(, "logprobs": true, "top_logprobs": 3})"), "accepted");
  EXPECT_EQ(refusal("{" + hi + R"(, "top_logprobs": 3})"), "'top_logprobs' requires 'logprobs' to be true");
  EXPECT_EQ(refusal("{" + hi + R"(, "logprobs": true, "top_logprobs": 21})"), "'top_logprobs' must be an integer from 0 to 20");
  EXPECT_EQ(refusal("{" + hi + R"(, "top_p": 2})"), "'top_p' must be between 0 and 1");
  EXPECT_EQ(refusal("{" + hi + R"(, "stop": ["a","b","c","d","e"]})"), "'stop' must be a string or an array of up to 4 strings");
  EXPECT_EQ(refusal("{" + hi + R"(, "seed": 1.5})"), "'seed' must be an integer");
  EXPECT_EQ(refusal("{" + hi + R"(, "tool_choice": "sometimes"})"),
            "'tool_choice' must be auto, none, required or {type: function, function: {name}}");
  EXPECT_EQ(refusal("{" + hi + R"(, "tools": [{"type": "function", "function": {"name": "f", "parameters": 3}}]})"),
            "'tools[0].function.parameters' must be a JSON object (a JSON Schema)");
  EXPECT_EQ(refusal("{" + hi + R"(, "response_format": {"type": "yaml"}})"),
            "'response_format.type' must be text, json_object or json_schema");
  EXPECT_EQ(refusal(R"({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]})"),
            "'messages[0].content[0].image_url.url' must be a string");
  EXPECT_EQ(refusal(R"({"model": "m", "messages": [{"role": "user", "content": "x", "tool_calls": []}]})"),
            "'messages[0].tool_calls' is only allowed in assistant messages");
  EXPECT_EQ(refusal(R"({"model": "m", "messages": [{"role": "tool", "content": "x"}]})"),
            "'messages[0].tool_call_id' must be a string");
  EXPECT_EQ(refusal(R"({"model": "m", "messages": [{"role": "function", "content": "x"}]})"),
            "'messages[0].role' function is not supported (function messages are not)");
}

TEST(OpenAiRequest, ReadsEmbeddings) {
  auto r = read_embeddings(boost::json::parse(
      R"({"model": "e", "input": ["a", "b"], "dimensions": 8, "encoding_format": "base64", "user": "u"})").as_object());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->inputs, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(r->dimensions, 8);
  EXPECT_TRUE(r->base64);
  EXPECT_EQ(r->user, "u");
  auto single = read_embeddings(boost::json::parse(R"({"input": "x"})").as_object());
  ASSERT_TRUE(single);
  EXPECT_EQ(single->model, "");
  EXPECT_FALSE(single->base64);
  for (const char* bad : {R"({"input": [[1,2]]})", R"({"input": []})", R"({"input": [""]})", R"({"input": 3})",
                          R"({"input": "x", "dimensions": 0})", R"({"input": "x", "encoding_format": "int8"})"}) {
    auto refused = read_embeddings(boost::json::parse(bad).as_object());
    EXPECT_FALSE(refused) << bad;
  }
}

Result<ResponseRequest> response(std::string_view body) { return read_response_request(boost::json::parse(body).as_object()); }

TEST(OpenAiRequest, ReadsAResponsesRequest) {
  auto r = response(R"({
    "model": "gpt", "instructions": "Be brief.", "stream": true, "store": false, "max_output_tokens": 20,
    "temperature": 0.2, "top_p": 0.5, "user": "u", "metadata": {"k": "v"}, "parallel_tool_calls": false,
    "input": [
      {"role": "developer", "content": "Sys."},
      {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hello"}, {"type": "input_text", "text": "world"},
        {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "low"}]},
      {"type": "function_call", "call_id": "c1", "name": "look", "arguments": "{}"},
      {"type": "function_call", "call_id": "c2", "name": "look", "arguments": "{\"x\":1}"},
      {"type": "function_call_output", "call_id": "c1", "output": "one"},
      {"role": "assistant", "content": [{"type": "output_text", "text": "Done."}]}
    ],
    "tools": [{"type": "function", "name": "look", "parameters": {"type": "object"}, "strict": true}],
    "tool_choice": {"type": "function", "name": "look"},
    "text": {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}}}
  })");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->model, "gpt");
  EXPECT_TRUE(r->stream);
  EXPECT_FALSE(r->store);
  EXPECT_EQ(r->instructions, "Be brief.");
  const llm::ChatRequest& c = r->call;
  ASSERT_EQ(c.messages.size(), 6u);
  EXPECT_EQ(c.messages[0].role, "system");
  EXPECT_EQ(c.messages[0].content, "Be brief.");
  EXPECT_EQ(c.messages[1].role, "system");  // developer
  EXPECT_EQ(c.messages[2].content, "Hello\nworld");
  ASSERT_EQ(c.messages[2].parts.size(), 3u);
  EXPECT_EQ(c.messages[2].parts[2].detail, "low");
  // Consecutive function calls are one assistant message with two calls.
  EXPECT_EQ(c.messages[3].role, "assistant");
  ASSERT_EQ(c.messages[3].tool_calls.size(), 2u);
  EXPECT_EQ(c.messages[3].tool_calls[1].arguments, R"({"x":1})");
  EXPECT_EQ(c.messages[4].role, "tool");
  EXPECT_EQ(c.messages[4].tool_call_id, "c1");
  EXPECT_EQ(c.messages[5].content, "Done.");
  EXPECT_EQ(c.max_tokens, 20);
  EXPECT_EQ(c.tools.size(), 1u);
  EXPECT_TRUE(c.tools[0].strict);
  EXPECT_EQ(c.tool_choice, "look");
  EXPECT_EQ(c.parallel_tool_calls, false);
  EXPECT_EQ(c.response_format.kind, llm::ResponseFormat::Kind::json_schema);
  EXPECT_EQ(c.user, "u");

  auto text = response(R"({"model": "m", "input": "Hi"})");
  ASSERT_TRUE(text);
  ASSERT_EQ(text->call.messages.size(), 1u);
  EXPECT_EQ(text->call.messages[0].role, "user");
  EXPECT_TRUE(text->store);
}

TEST(OpenAiRequest, RefusesWhatTheResponsesApiCannotCarry) {
  auto refused = [](std::string_view body) {
    auto r = response(body);
    return r ? std::string("accepted") : r.error().message;
  };
  EXPECT_EQ(refused(R"({"model": "m"})"), "'input' must be a string or a non-empty array of input items");
  EXPECT_EQ(refused(R"({"input": "x"})"), "'model' is required");
  EXPECT_EQ(refused(R"({"model": "m", "input": "x", "tools": [{"type": "web_search"}]})"),
            "'tools[0].type' must be function (built-in tools are not supported)");
  EXPECT_EQ(refused(R"({"model": "m", "input": "x", "reasoning": {"effort": "low"}})"),
            "'reasoning' is not supported by this gateway");
  EXPECT_EQ(refused(R"({"model": "m", "input": [{"type": "file_search_call"}]})"),
            "'input[0].type' file_search_call is not supported (message, function_call and function_call_output are)");
  EXPECT_EQ(refused(R"({"model": "m", "input": [{"role": "user", "content": [{"type": "input_file"}]}]})"),
            "'input[0].content[0].type' input_file is not supported (input_text, output_text and input_image are)");
  EXPECT_EQ(refused(R"({"model": "m", "input": "x", "max_output_tokens": 0})"), "'max_output_tokens' must be a positive integer");
  EXPECT_EQ(refused(R"({"model": "m", "input": "x", "tool_choice": "sometimes"})"),
            "'tool_choice' must be auto, none, required or {type: function, name}");
  EXPECT_EQ(refused(R"({"model": "m", "input": "x", "include": []})"), "accepted");
  EXPECT_EQ(refused(R"({"model": "m", "input": "x", "include": ["reasoning.encrypted_content"]})"),
            "'include[0]': 'reasoning.encrypted_content' is not supported by this gateway");
  EXPECT_EQ(refused(R"({"model": "m", "input": "x", "include": "message.output_text.logprobs"})"),
            "'include' must be an array of strings");
  EXPECT_EQ(refused(R"({"model": "m", "input": "x", "top_logprobs": 21})"), "'top_logprobs' must be an integer from 0 to 20");
}

TEST(OpenAiRequest, AResponseAsksForLogprobsByIncludeOrTopLogprobs) {
  auto included = response(R"({"model": "m", "input": "x", "include": ["message.output_text.logprobs"]})");
  ASSERT_TRUE(included) << included.error().message;
  EXPECT_TRUE(included->call.logprobs);
  EXPECT_FALSE(included->call.top_logprobs);
  auto top = response(R"({"model": "m", "input": "x", "top_logprobs": 3})");
  ASSERT_TRUE(top) << top.error().message;
  EXPECT_TRUE(top->call.logprobs);
  EXPECT_EQ(top->call.top_logprobs, 3);
  auto plain = response(R"({"model": "m", "input": "x"})");
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->call.logprobs);
}

TEST(OpenAiRequest, ReadsALegacyCompletion) {
  auto r = read_completion_request(boost::json::parse(
      R"({"model": "m", "prompt": ["a", "b"], "temperature": 1, "stop": ["x"], "n": 1, "best_of": 1, "echo": false})").as_object());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->prompts, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(r->call.max_tokens, 16) << "OpenAI's default for this endpoint";
  EXPECT_EQ(r->call.temperature, 1.0);
  EXPECT_TRUE(r->call.messages.empty());
  auto refused = [](std::string_view body) {
    auto c = read_completion_request(boost::json::parse(body).as_object());
    return c ? std::string("accepted") : c.error().message;
  };
  EXPECT_EQ(refused(R"({"model": "m"})"), "'prompt' must be a string or an array of 1 to 16 strings");
  EXPECT_EQ(refused(R"({"model": "m", "prompt": [[1, 2]]})"),
            "'prompt' must be a string or an array of strings (token arrays are not supported)");
  EXPECT_EQ(refused(R"({"model": "m", "prompt": "x", "n": 2})"), "accepted");
  EXPECT_EQ(refused(R"({"model": "m", "prompt": ["x", "y", "z"], "n": 6})"),
            "'n' times the number of prompts must not exceed 16");
  EXPECT_EQ(refused(R"({"model": "m", "prompt": "x", "best_of": 2})"), "'best_of' greater than 1 is not supported");
  EXPECT_EQ(refused(R"({"model": "m", "prompt": "x", "echo": true})"), "'echo' is not supported");
  EXPECT_EQ(refused(R"({"model": "m", "prompt": "x", "logprobs": 2})"), "accepted");
  EXPECT_EQ(refused(R"({"model": "m", "prompt": "x", "logprobs": 6})"), "'logprobs' must be an integer from 0 to 5");
  EXPECT_EQ(refused(R"({"model": "m", "prompt": ["x", "y"], "stream": true})"), "'prompt' must be one string when streaming");
}

}  // namespace
}  // namespace aas::api::openai

namespace aas::api::openai {
namespace {

// `base` with `patch`'s members put over it, read by `read`: "accepted" or the refusal's message.
template <class Read>
std::string refused_by(Read read, std::string_view base, std::string_view patch) {
  boost::json::object body = boost::json::parse(base).as_object();
  const boost::json::value members = boost::json::parse(patch);
  for (const auto& [key, value] : members.as_object()) body[key] = value;
  auto r = read(body);
  if (r) return "accepted";
  EXPECT_EQ(r.error().code, errc::invalid_request);
  return r.error().message;
}

// A valid chat completion request with `patch`'s members put over it (a null member is sent as null).
std::string refused_with(std::string_view patch) {
  return refused_by([](const boost::json::object& b) { return read_chat_completion(b, {}); },
                    R"({"model":"m","messages":[{"role":"user","content":"hi"}]})", patch);
}

// A valid Responses request with `patch`'s members put over it: "accepted" or the refusal.
std::string responses(std::string_view patch) {
  return refused_by([](const boost::json::object& b) { return read_response_request(b); }, R"({"model":"m","input":"hi"})",
                    patch);
}

// A patch whose input is the one item `item`.
std::string item(std::string_view item) { return std::string(R"({"input": [)") + std::string(item) + "]}"; }

// Every member of a chat completion request that has the wrong type or range is refused with the
// member named (the 400 an SDK user reads), rather than ignored or taken as its default.
TEST(OpenAiRequest, EachMalformedMemberIsRefusedByName) {
  const std::vector<std::pair<std::string_view, std::string>> cases{
      {R"({"model": 5})", "'model' must be a string"},
      {R"({"model": null})", "'model' is required"},
      {R"({"n": 0})", "'n' must be an integer from 1 to 8"},
      {R"({"n": 1.5})", "'n' must be an integer from 1 to 8"},
      {R"({"logprobs": "yes"})", "'logprobs' must be a boolean"},
      {R"({"top_logprobs": 21, "logprobs": true})", "'top_logprobs' must be an integer from 0 to 20"},
      {R"({"top_logprobs": 2})", "'top_logprobs' requires 'logprobs' to be true"},
      {R"({"messages": []})", "'messages' must be a non-empty array"},
      {R"({"messages": {"role": "user"}})", "'messages' must be a non-empty array"},
      {R"({"messages": ["hi"]})", "'messages[0].role' must be a string"},
      {R"({"messages": [{"role": "function", "content": "x"}]})",
       "'messages[0].role' function is not supported (function messages are not)"},
      {R"({"messages": [{"role": "user", "content": "x", "name": 7}]})", "'messages[0].name' must be a string"},
      {R"({"messages": [{"role": "user", "content": "x", "tool_calls": []}]})",
       "'messages[0].tool_calls' is only allowed in assistant messages"},
      {R"({"messages": [{"role": "tool", "content": "x"}]})", "'messages[0].tool_call_id' must be a string"},
      {R"({"temperature": "hot"})", "'temperature' must be a number"},
      {R"({"temperature": 2.5})", "'temperature' must be between 0 and 2"},
      {R"({"top_p": 1.5})", "'top_p' must be between 0 and 1"},
      {R"({"presence_penalty": -3})", "'presence_penalty' must be between -2 and 2"},
      {R"({"frequency_penalty": 3})", "'frequency_penalty' must be between -2 and 2"},
      {R"({"seed": 1.5})", "'seed' must be an integer"},
      {R"({"max_tokens": 0})", "'max_tokens' must be a positive integer"},
      {R"({"max_completion_tokens": "many"})", "'max_completion_tokens' must be a positive integer"},
      {R"({"stop": ["a", ""]})", "'stop' must hold non-empty strings"},
      {R"({"stop": ["a", "b", "c", "d", "e"]})", "'stop' must be a string or an array of up to 4 strings"},
      {R"({"stop": 5})", "'stop' must be a string or an array of up to 4 strings"},
      {R"({"user": 5})", "'user' must be a string"},
      {R"({"tools": {}})", "'tools' must be an array"},
      {R"({"tools": [{"type": "retrieval"}]})", "'tools[0].type' must be function"},
      {R"({"tools": [{"type": "function", "function": {"description": "x"}}]})", "'tools[0].function.name' must be a string"},
      {R"({"tools": [{"type": "function", "function": {"name": "f", "description": 5}}]})",
       "'tools[0].function.description' must be a string"},
      {R"({"tools": [{"type": "function", "function": {"name": "f", "parameters": "{}"}}]})",
       "'tools[0].function.parameters' must be a JSON object (a JSON Schema)"},
      {R"({"tools": [{"type": "function", "function": {"name": "f", "strict": "yes"}}]})",
       "'tools[0].function.strict' must be a boolean"},
      {R"({"tool_choice": "sometimes"})", "'tool_choice' must be auto, none, required or {type: function, function: {name}}"},
      {R"({"tool_choice": {"type": "tool", "function": {"name": "f"}}})",
       "'tool_choice' must be auto, none, required or {type: function, function: {name}}"},
      {R"({"tool_choice": 3})", "'tool_choice' must be auto, none, required or {type: function, function: {name}}"},
      {R"({"parallel_tool_calls": 1})", "'parallel_tool_calls' must be a boolean"},
      {R"({"response_format": "json"})", "'response_format.type' must be a string"},
      {R"({"response_format": {"type": "yaml"}})", "'response_format.type' must be text, json_object or json_schema"},
      {R"({"response_format": {"type": "json_schema"}})", "'response_format.json_schema.name' must be a string"},
      {R"({"response_format": {"type": "json_schema", "json_schema": {"name": "o"}}})",
       "'response_format.json_schema.schema' must be a JSON object (a JSON Schema)"},
      {R"({"response_format": {"type": "json_schema", "json_schema": {"name": "o", "schema": {}, "strict": 1}}})",
       "'response_format.json_schema.strict' must be a boolean"},
      {R"({"stream": "yes"})", "'stream' must be a boolean"},
      {R"({"logit_bias": {"1": 2}})", "'logit_bias' is not supported"},
      {R"({"functions": []})", "'functions' is not supported: use 'tools'"},
      {R"({"function_call": "auto"})", "'function_call' is not supported: use 'tool_choice'"},
      {R"({"audio": {}})", "'audio' output is not supported"},
      {R"({"prediction": {}})", "'prediction' is not supported"},
  };
  for (const auto& [patch, expected] : cases) EXPECT_EQ(refused_with(patch), expected) << patch;
  // Nulls are absent members, and the accepted forms of the same members are read.
  EXPECT_EQ(refused_with(R"({"n": null, "seed": null, "stop": null, "tools": null, "tool_choice": null,
                             "response_format": null, "logit_bias": null, "temperature": null})"),
            "accepted");
  EXPECT_EQ(refused_with(R"({"response_format": {"type": "json_object"}, "stop": ["a", "b"], "seed": 3})"),
            "accepted");
}

}  // namespace
}  // namespace aas::api::openai

namespace aas::api::openai {
namespace {

TEST(OpenAiRequest, EachMalformedMemberOfALegacyCompletionIsRefusedByName) {
  const auto completion = [](std::string_view patch) {
    return refused_by([](const boost::json::object& b) { return read_completion_request(b); },
                      R"({"model":"m","prompt":"hi"})", patch);
  };
  const std::vector<std::pair<std::string_view, std::string>> cases{
      {R"({"model": ""})", "'model' is required"},
      {R"({"prompt": [1, 2]})", "'prompt' must be a string or an array of strings (token arrays are not supported)"},
      {R"({"prompt": []})", "'prompt' must be a string or an array of 1 to 16 strings"},
      {R"({"prompt": ""})", "'prompt' must not be empty"},
      {R"({"logprobs": 6})", "'logprobs' must be an integer from 0 to 5"},
      {R"({"logit_bias": {}})", "'logit_bias' is not supported"},
      {R"({"suffix": "end"})", "'suffix' (insertion) is not supported"},
      {R"({"echo": true})", "'echo' is not supported"},
      {R"({"n": 9})", "'n' must be an integer from 1 to 8"},
      {R"({"n": 2, "prompt": ["a", "b", "c", "d", "e", "f", "g", "h", "i"]})",
       "'n' times the number of prompts must not exceed 16"},
      {R"({"best_of": 0})", "'best_of' must be a positive integer"},
      {R"({"best_of": 2})", "'best_of' greater than 1 is not supported"},
      {R"({"stream": true, "prompt": ["a", "b"]})", "'prompt' must be one string when streaming"},
  };
  for (const auto& [patch, expected] : cases) EXPECT_EQ(completion(patch), expected) << patch;
  EXPECT_EQ(completion(R"({"echo": false, "best_of": 1, "logprobs": 2, "suffix": null})"), "accepted");
}

TEST(OpenAiRequest, EachMalformedMemberOfAnEmbeddingsRequestIsRefusedByName) {
  const auto embeddings = [](std::string_view patch) {
    return refused_by([](const boost::json::object& b) { return read_embeddings(b); }, R"({"model":"e","input":"x"})",
                      patch);
  };
  const std::vector<std::pair<std::string_view, std::string>> cases{
      {R"({"model": 1})", "'model' must be a string"},
      {R"({"input": [[1, 2]]})", "'input' must be a string or an array of strings (token arrays are not supported)"},
      {R"({"input": 5})", "'input' must be a string or an array of 1 to 2048 strings"},
      {R"({"input": ["a", ""]})", "'input' must not contain empty strings"},
      {R"({"dimensions": 0})", "'dimensions' must be a positive integer"},
      {R"({"encoding_format": "int8"})", "'encoding_format' must be float or base64"},
      {R"({"encoding_format": 1})", "'encoding_format' must be a string"},
      {R"({"user": []})", "'user' must be a string"},
  };
  for (const auto& [patch, expected] : cases) EXPECT_EQ(embeddings(patch), expected) << patch;
  EXPECT_EQ(embeddings(R"({"dimensions": 256, "encoding_format": "base64", "user": "u"})"), "accepted");
}

}  // namespace
}  // namespace aas::api::openai

namespace aas::api::openai {
namespace {

TEST(OpenAiRequest, EachMalformedMemberOfAResponsesRequestIsRefusedByName) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {R"({"model": ""})", "'model' is required"},
      {R"({"reasoning": {"effort": "low"}})", "'reasoning' is not supported by this gateway"},
      {R"({"background": true})", "'background' is not supported by this gateway"},
      {R"({"include": "x"})", "'include' must be an array of strings"},
      {R"({"include": [5]})", "'include[0]' must be a string"},
      {R"({"include": ["file_search_call.results"]})",
       "'include[0]': 'file_search_call.results' is not supported by this gateway"},
      {R"({"top_logprobs": 30})", "'top_logprobs' must be an integer from 0 to 20"},
      {R"({"instructions": 5})", "'instructions' must be a string"},
      {R"({"input": []})", "'input' must be a string or a non-empty array of input items"},
      {item("5"), "'input[0]' must be an object"},
      {item(R"({"role": "tool", "content": "x"})"), "'input[0].role' must be user, assistant, system or developer"},
      {item(R"({"role": "user", "content": 5})"), "'input[0].content' must be a string or an array of content parts"},
      {item(R"({"role": "user", "content": [{"text": "x"}]})"), "'input[0].content[0].type' must be a string"},
      {item(R"({"role": "user", "content": [{"type": "input_text"}]})"), "'input[0].content[0].text' must be a string"},
      {item(R"({"role": "user", "content": [{"type": "input_image", "file_id": "f"}]})"),
       "'input[0].content[0].image_url' must be a string (file ids are not supported)"},
      {item(R"({"role": "user", "content": [{"type": "input_file"}]})"),
       "'input[0].content[0].type' input_file is not supported (input_text, output_text and input_image are)"},
      {item(R"({"type": "function_call", "name": "f", "arguments": "{}"})"), "'input[0].call_id' must be a string"},
      {item(R"({"type": "function_call", "call_id": "c", "arguments": "{}"})"), "'input[0].name' must be a string"},
      {item(R"({"type": "function_call", "call_id": "c", "name": "f"})"), "'input[0].arguments' must be a string of JSON"},
      {item(R"({"type": "function_call_output", "output": "x"})"), "'input[0].call_id' must be a string"},
      {item(R"({"type": "function_call_output", "call_id": "c"})"), "'input[0].output' must be a string"},
      {item(R"({"type": "reasoning"})"),
       "'input[0].type' reasoning is not supported (message, function_call and function_call_output are)"},
      {R"({"max_output_tokens": 0})", "'max_output_tokens' must be a positive integer"},
      {R"({"user": 5})", "'user' must be a string"},
      {R"({"tools": {}})", "'tools' must be an array"},
      {R"({"tools": [{"type": "web_search"}]})", "'tools[0].type' must be function (built-in tools are not supported)"},
      {R"({"tool_choice": "maybe"})", "'tool_choice' must be auto, none, required or {type: function, name}"},
      {R"({"parallel_tool_calls": "no"})", "'parallel_tool_calls' must be a boolean"},
      {R"({"text": 5})", "'text' must be an object"},
      {R"({"text": {"format": {"kind": "text"}}})", "'text.format.type' must be a string"},
      {R"({"text": {"format": {"type": "xml"}}})", "'text.format.type' must be text, json_object or json_schema"},
      {R"({"text": {"format": {"type": "json_schema"}}})", "'text.format.name' must be a string"},
      {R"({"text": {"format": {"type": "json_schema", "name": "o"}}})",
       "'text.format.schema' must be a JSON object (a JSON Schema)"},
      {R"({"metadata": []})", "'metadata' must be an object"},
      {R"({"previous_response_id": 5})", "'previous_response_id' must be a string"},
      {R"({"store": "yes"})", "'store' must be a boolean"},
      {R"({"stream": "yes"})", "'stream' must be a boolean"},
  };
  for (const auto& [patch, expected] : cases) EXPECT_EQ(responses(patch), expected) << patch;
  EXPECT_EQ(responses(R"({"reasoning": null, "background": false, "include": [], "tools": null, "text": null})"),
            "accepted");
}

}  // namespace
}  // namespace aas::api::openai

namespace aas::api::openai {
namespace {

// The members of a chat completion the first table leaves out: nested members that are missing
// rather than mistyped, the accepted forms of each choice, and a request llm::validate_request refuses.
TEST(OpenAiRequest, EachMissingNestedMemberIsRefusedAndEachAcceptedFormRead) {
  const std::vector<std::pair<std::string_view, std::string>> cases{
      {R"({"messages": null})", "'messages' must be a non-empty array"},
      {R"({"messages": [{"role": "assistant", "tool_calls": 5}]})", "'messages[0].tool_calls' must be an array"},
      {R"({"messages": [{"role": "user", "content": 5}]})",
       "'messages[0].content' must be a string or an array of content parts"},
      {R"({"tools": [5]})", "'tools[0].type' must be function"},
      {R"({"tools": [{"type": "function"}]})", "'tools[0].function.name' must be a string"},
      {R"({"tools": [{"type": "function", "function": "f"}]})", "'tools[0].function.name' must be a string"},
      {R"({"tool_choice": {"type": "function"}})",
       "'tool_choice' must be auto, none, required or {type: function, function: {name}}"},
      {R"({"tool_choice": {"type": "function", "function": {}}})",
       "'tool_choice' must be auto, none, required or {type: function, function: {name}}"},
      {R"({"tool_choice": {"function": {"name": "f"}}})",
       "'tool_choice' must be auto, none, required or {type: function, function: {name}}"},
      {R"({"response_format": {"type": "json_schema", "json_schema": {"name": "o", "schema": "{}"}}})",
       "'response_format.json_schema.schema' must be a JSON object (a JSON Schema)"},
      {R"({"response_format": {"type": "json_schema", "json_schema": "o"}})",
       "'response_format.json_schema.name' must be a string"},
      {R"({"stop": ["a", 5]})", "'stop' must hold non-empty strings"},
      {R"({"logit_bias": true})", "'logit_bias' is not supported"},
      {R"({"top_logprobs": -1, "logprobs": true})", "'top_logprobs' must be an integer from 0 to 20"},
      {R"({"top_logprobs": "3", "logprobs": true})", "'top_logprobs' must be an integer from 0 to 20"},
      {R"({"max_completion_tokens": 1000001})", "'max_completion_tokens' must be a positive integer"},
      {R"({"max_completion_tokens": null, "max_tokens": -1})", "'max_tokens' must be a positive integer"},
      {R"({"seed": "7"})", "'seed' must be an integer"},
      {R"({"messages": [{"role": "assistant", "tool_calls": [5]}]})", "'messages[0].tool_calls[0].id' must be a string"},
      {R"({"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "type": "custom"}]}]})",
       "'messages[0].tool_calls[0].type' must be function"},
      {R"({"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "function": "f"}]}]})",
       "'messages[0].tool_calls[0].function.name' must be a string"},
      {R"({"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f"}}]}]})",
       "'messages[0].tool_calls[0].function.arguments' must be a string of JSON"},
      {R"({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": "https://x/a.png"}]}]})",
       "'messages[0].content[0].image_url.url' must be a string"},
      {R"({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/a.png", "detail": 1}}]}]})",
       "'messages[0].content[0].image_url.detail' must be a string"},
  };
  for (const auto& [patch, expected] : cases) EXPECT_EQ(refused_with(patch), expected) << patch;
  // Accepted: every form of tool_choice, text and json formats, strict null, a refused flag sent as false.
  for (std::string_view ok : {R"({"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "none"})", R"({"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "required"})",
                              R"({"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "auto"})",
                              R"({"response_format": {"type": "text"}})", R"({"functions": false, "audio": null})",
                              R"({"tools": [{"type": "function", "function": {"name": "f", "strict": null, "description": null}}]})",
                              R"({"response_format": {"type": "json_schema", "json_schema": {"name": "o", "schema": {}, "strict": null}}})",
                              R"({"max_completion_tokens": 5, "max_tokens": "ignored when the newer name is given"})"})
    EXPECT_EQ(refused_with(ok), "accepted") << ok;

  // Read, not just accepted.
  auto r = chat(R"({"model": "m", "messages": [{"role": "user", "content": "hi"}], "tool_choice": "required",
                    "tools": [{"type": "function", "function": {"name": "f"}}],
                    "max_completion_tokens": 5, "max_tokens": 9, "seed": -3, "stream_options": {"include_usage": "yes"}})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->call.tool_choice, "required");
  EXPECT_EQ(r->call.max_tokens, 5);
  EXPECT_EQ(r->call.seed, -3);
  EXPECT_FALSE(r->include_usage) << "only a boolean include_usage counts";
  auto usage = chat(R"({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream_options": 5})");
  ASSERT_TRUE(usage);
  EXPECT_FALSE(usage->include_usage);

  // llm::validate_request's own refusals come through as they are.
  EXPECT_EQ(refused_with(R"({"tool_choice": "none"})"), "'tool_choice' is only allowed when 'tools' are given");
  const std::string validated = refused_with(R"({"messages": [{"role": "tool", "tool_call_id": "nope", "content": "x"}]})");
  EXPECT_NE(validated, "accepted");
  EXPECT_EQ(validated.rfind("'messages[0]", 0), 0u) << validated;
}

TEST(OpenAiRequest, EachMalformedMemberOfAResponsesRequestLeftOutBeforeIsRefusedByName) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {R"({"model": 5})", "'model' is required"},
      {R"({"input": null})", "'input' must be a string or a non-empty array of input items"},
      {R"({"conversation": "c"})", "'conversation' is not supported by this gateway"},
      {R"({"prompt": {"id": "p"}})", "'prompt' is not supported by this gateway"},
      {R"({"background": [1]})", "'background' is not supported by this gateway"},
      {R"({"top_logprobs": "2"})", "'top_logprobs' must be an integer from 0 to 20"},
      {item(R"({"content": "x"})"), "'input[0].role' must be user, assistant, system or developer"},
      {item(R"({"type": "message", "role": "user"})"), "'input[0].content' must be a string or an array of content parts"},
      {item(R"({"role": "user", "content": [5]})"), "'input[0].content[0].type' must be a string"},
      {R"({"temperature": 3})", "'temperature' must be between 0 and 2"},
      {R"({"top_p": "all"})", "'top_p' must be a number"},
      {R"({"max_output_tokens": 1.5})", "'max_output_tokens' must be a positive integer"},
      {R"({"tools": [5]})", "'tools[0].type' must be function (built-in tools are not supported)"},
      {R"({"tools": [{"type": "function"}]})", "'tools[0].name' must be a string"},
      {R"({"tool_choice": {"type": "function"}})", "'tool_choice' must be auto, none, required or {type: function, name}"},
      {R"({"tool_choice": {"name": "f"}})", "'tool_choice' must be auto, none, required or {type: function, name}"},
      {R"({"tool_choice": {"type": "file_search", "name": "f"}})",
       "'tool_choice' must be auto, none, required or {type: function, name}"},
      {R"({"tool_choice": 1})", "'tool_choice' must be auto, none, required or {type: function, name}"},
      {R"({"text": {"format": 5}})", "'text.format.type' must be a string"},
      {R"({"text": {"format": {"type": "json_schema", "name": "o", "schema": []}}})",
       "'text.format.schema' must be a JSON object (a JSON Schema)"},
  };
  for (const auto& [patch, expected] : cases) EXPECT_EQ(responses(patch), expected) << patch;
  for (std::string_view ok : {R"({"tool_choice": "none"})", R"({"tool_choice": "required"})", R"({"text": {}})",
                              R"({"text": {"format": null}})", R"({"text": {"format": {"type": "text"}}})",
                              R"({"conversation": null, "prompt": false, "metadata": null, "include": null})"})
    EXPECT_EQ(responses(ok), "accepted") << ok;
}

TEST(OpenAiRequest, AResponsesRequestReadsEachRoleFormatAndFunctionCallPlacement) {
  auto r = response(R"({"model": "m", "tool_choice": "none", "text": {"format": {"type": "json_object"}},
    "input": [
      {"role": "system", "content": "S"},
      {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
      {"role": "assistant", "content": "A"},
      {"type": "function_call", "call_id": "c2", "name": "f", "arguments": "{}"},
      {"role": "user", "content": [{"type": "input_image", "image_url": "https://example.com/a.png"}]}
    ]})");
  ASSERT_TRUE(r) << r.error().message;
  const auto& m = r->call.messages;
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0].role, "system");
  EXPECT_EQ(m[1].role, "assistant") << "a call after a system message opens an assistant message";
  EXPECT_EQ(m[1].tool_calls.size(), 1u);
  EXPECT_EQ(m[2].content, "A");
  EXPECT_EQ(m[2].tool_calls.size(), 1u) << "a call right after an assistant message joins it";
  ASSERT_EQ(m[3].parts.size(), 1u);
  EXPECT_EQ(m[3].parts[0].detail, "") << "no detail given";
  EXPECT_EQ(r->call.tool_choice, "none");
  EXPECT_EQ(r->call.response_format.kind, llm::ResponseFormat::Kind::json_object);

  const auto strict = [](std::string_view value) {
    auto s = response(std::string(R"({"model": "m", "input": "x", "text": {"format": {"type": "json_schema", "name": "o",
                                  "schema": {}, "strict": )") + std::string(value) + "}}}");
    EXPECT_TRUE(s) << value;
    return s && s->call.response_format.strict;
  };
  EXPECT_TRUE(strict("true"));
  EXPECT_FALSE(strict("false"));
  EXPECT_FALSE(strict(R"("yes")")) << "a strict that is not a boolean is left at its default";
}

TEST(OpenAiRequest, EachMalformedMemberOfALegacyCompletionLeftOutBeforeIsRefusedByName) {
  const auto completion = [](std::string_view patch) {
    return refused_by([](const boost::json::object& b) { return read_completion_request(b); },
                      R"({"model":"m","prompt":"hi"})", patch);
  };
  const std::vector<std::pair<std::string_view, std::string>> cases{
      {R"({"model": null})", "'model' is required"},
      {R"({"prompt": null})", "'prompt' must be a string or an array of 1 to 16 strings"},
      {R"({"prompt": ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16", "17"]})",
       "'prompt' must be a string or an array of 1 to 16 strings"},
      {R"({"logprobs": "2"})", "'logprobs' must be an integer from 0 to 5"},
      {R"({"echo": "no"})", "'echo' is not supported"},
      {R"({"best_of": "1"})", "'best_of' must be a positive integer"},
      {R"({"temperature": 9})", "'temperature' must be between 0 and 2"},
      {R"({"stream": 1})", "'stream' must be a boolean"},
  };
  for (const auto& [patch, expected] : cases) EXPECT_EQ(completion(patch), expected) << patch;
  auto r = read_completion_request(boost::json::parse(
      R"({"model": "m", "prompt": "x", "stream": true, "max_tokens": 3, "stream_options": {"include_usage": true}})").as_object());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
  EXPECT_EQ(r->call.max_tokens, 3) << "the default 16 only when none is given";
}

TEST(OpenAiRequest, EmbeddingsInputMayHoldUpTo2048Strings) {
  const auto inputs = [](std::size_t n) {
    boost::json::array a;
    for (std::size_t i = 0; i < n; ++i) a.emplace_back("x");
    return read_embeddings(boost::json::object{{"input", std::move(a)}});
  };
  EXPECT_TRUE(inputs(2048));
  auto refused = inputs(2049);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message, "'input' must be a string or an array of 1 to 2048 strings");
  auto missing = read_embeddings(boost::json::object{});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "'input' must be a string or an array of 1 to 2048 strings");
}

}  // namespace
}  // namespace aas::api::openai
