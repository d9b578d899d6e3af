#pragma once
// Structured message content in OpenAI's JSON shape, read and written alike by the gateway, the
// native chat API and conversation exports: content parts (text, image_url) and tool calls.
#include "core/error.hpp"
#include "llm/provider.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace aas::api {

namespace json = boost::json;

// "prefix[i]rest", the way errors name a field of an array.
std::string at(std::string_view prefix, std::size_t i, std::string_view rest = {});
// The member as a string, or null when absent or of another type.
const json::string* string_member(const json::object& o, std::string_view key);

// A message's content into `m`: a string, null, or an array of parts (text, image_url), of which
// the text parts are also joined into m.content, one newline apart. 400 naming `field` (and the part) otherwise.
Result<void> read_content(const json::value& v, const std::string& field, llm::ChatMessage& m);
// [{id, type: "function", function: {name, arguments}}, ...]; 400 naming `field` otherwise.
Result<std::vector<llm::ToolCall>> read_tool_calls(const json::value& v, const std::string& field);

json::array tool_calls_json(const std::vector<llm::ToolCall>& calls);
// [{type: "text", text} | {type: "image_url", image_url: {url, detail?}}, ...]
json::array parts_json(const std::vector<llm::ContentPart>& parts);

// Tokens' log probabilities as OpenAI writes them in chat choices and Responses' output_text:
// [{token, logprob, bytes (null when unknown), top_logprobs: [{token, logprob, bytes}]}].
json::array token_logprobs_json(const std::vector<llm::TokenLogprob>& tokens);

}  // namespace aas::api
