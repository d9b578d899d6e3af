#pragma once
// The events of a streamed turn, named and shaped alike on both channels: Server-Sent Events
// (`event: start`, …) and Socket.IO (`ai:start`, …).
#include "api/json_io.hpp"
#include "chat/chat_service.hpp"

#include <string_view>
#include <utility>
#include <vector>

namespace aas::api {

// An event that differs from one use to the next only in one string field, as every delta of an
// answer does: serialized once with that field empty, then per use the field's text is escaped
// by Boost.JSON's serializer straight into a reused buffer (no JSON value built, no allocation
// once the buffer has grown). The bytes are exactly json::serialize of the value with the text.
class TextEventTemplate {
 public:
  // `value` holds `field` set to "" (its last occurrence is the slot); the text goes between
  // `before` and `after` (an SSE "event: delta\ndata: " and "\n\n", say).
  TextEventTemplate(const json::value& value, std::string_view field, std::string_view before = {},
                    std::string_view after = {});
  // Valid until the next fill.
  std::string_view fill(std::string_view text);

 private:
  std::string head_, tail_, out_;
};

// Appends `text` as a JSON string (quoted, escaped).
void append_json_string(std::string& out, std::string_view text);

json::object usage_json(const llm::Usage& u);
// start: {conversationId, messageId, userMessageId, model}
json::object start_event(const chat::PreparedTurn& turn);
// tool_call {callId, name, arguments}, tool_result {callId, name, result, isError},
// tool_confirmation {callId, name, arguments, expiresAt}: the name and the payload of an agent's
// tool event. `arguments` is the model's JSON when it parses, else its text.
std::pair<std::string_view, json::object> tool_event(const chat::ToolEvent& e);
// citations: {citations: [{index, documentId, knowledgeBaseId, title, chunkId, snippet, start, end,
// page, score}]}, sent after start when the turn retrieved passages.
json::array citations_array(const std::vector<chat::Citation>& citations);
json::object citations_event(const std::vector<chat::Citation>& citations);
// After the stream: usage then done, or usage then error (interrupted part way), or error alone.
std::vector<std::pair<std::string_view, json::object>> end_events(const Result<chat::TurnResult>& result,
                                                                  const std::string& message_id);

}  // namespace aas::api
