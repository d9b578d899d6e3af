#pragma once
// Structured message content: what a message may hold beside its text. The model port
// (llm/provider.hpp) speaks these same types, so a stored turn goes to a provider unchanged.
#include <string>

namespace aas::domain {

// One piece of a message's content. Text, or an image given by URL (https, or a
// `data:image/...;base64,` URL) with OpenAI's optional `detail` hint.
struct ContentPart {
  enum class Kind { text, image };
  Kind kind = Kind::text;
  std::string text;       // Kind::text
  std::string image_url;  // Kind::image: an https URL or a data: URL
  std::string detail;     // Kind::image: "auto" | "low" | "high", empty when not given
};

// A function the model asked to call. `arguments` is JSON text exactly as the model wrote it
// (it may be invalid JSON: the caller decides what to do with it).
struct ToolCall {
  std::string id;
  std::string name;
  std::string arguments;
};

}  // namespace aas::domain
