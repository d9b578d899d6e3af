#pragma once
// Structured message content in a column: the same JSON text in both dialects, so a database
// can be read by either adapter. NULL (nullopt) for none, so plain text messages cost nothing.
//   parts:      [{"type":"text","text":…} | {"type":"image_url","url":…,"detail":…}, …]
//   tool_calls: [{"id":…,"name":…,"arguments":…}, …]   (arguments: the model's JSON text, as is)
#include "domain/content.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aas::store::detail {

std::optional<std::string> encode_parts(const std::vector<domain::ContentPart>& parts);
std::optional<std::string> encode_tool_calls(const std::vector<domain::ToolCall>& calls);
// A column that is not what encode_* wrote (edited by hand) reads as none.
std::vector<domain::ContentPart> decode_parts(const std::optional<std::string>& column);
std::vector<domain::ToolCall> decode_tool_calls(const std::optional<std::string>& column);

}  // namespace aas::store::detail
