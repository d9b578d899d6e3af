#pragma once
// Checks of a structured chat request that do not depend on the provider: tool definitions and
// choice, tool results answering earlier calls, the response format and images. The messages
// name the field as OpenAI's request JSON spells it (`messages[2].content[1].image_url`), since
// that is the shape clients send.
#include "core/error.hpp"
#include "llm/provider.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace aas::llm {

struct ValidationLimits {
  std::size_t max_image_bytes = 5 * 1024 * 1024;  // an image's decoded size (data URLs)
};

// invalid_request naming the first field at fault:
// - a tool's name ([A-Za-z0-9_-], 1..64 characters, unique) and parameters (a JSON object);
// - tool_choice: auto | none | required | the name of a given tool; none of it without tools;
// - a tool message's tool_call_id must answer a call of an earlier assistant message;
// - response_format json_schema: a name as for tools, a schema that is a JSON object;
// - image parts: in user messages only; an https URL, or a data URL of image/png, jpeg, gif or
//   webp whose base64 is valid, whose decoded bytes begin as that format does (magic bytes) and
//   are at most max_image_bytes.
Result<void> validate_request(const ChatRequest& req, const ValidationLimits& limits);

// Why an image URL is refused, or nullopt when it is acceptable (see above).
std::optional<std::string> image_url_problem(std::string_view url, std::size_t max_bytes);

}  // namespace aas::llm
