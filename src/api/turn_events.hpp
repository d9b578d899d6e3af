#pragma once
// The events of a streamed turn, named and shaped alike on both channels: Server-Sent Events
// (`event: start`, …) and Socket.IO (`ai:start`, …).
#include "api/json_io.hpp"
#include "chat/chat_service.hpp"

#include <string_view>
#include <utility>
#include <vector>

namespace aas::api {

json::object usage_json(const llm::Usage& u);
// start: {conversationId, messageId, userMessageId, model}
json::object start_event(const chat::PreparedTurn& turn);
// tool_call {callId, name, arguments}, tool_result {callId, name, result, isError},
// tool_confirmation {callId, name, arguments, expiresAt}: the name and the payload of an agent's
// tool event. `arguments` is the model's JSON when it parses, else its text.
std::pair<std::string_view, json::object> tool_event(const chat::ToolEvent& e);
// After the stream: usage then done, or usage then error (interrupted part way), or error alone.
std::vector<std::pair<std::string_view, json::object>> end_events(const Result<chat::TurnResult>& result,
                                                                  const std::string& message_id);

}  // namespace aas::api
