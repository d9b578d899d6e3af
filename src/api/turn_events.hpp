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
// citations: {citations: [{index, documentId, knowledgeBaseId, title, chunkId, snippet, start, end,
// page, score}]}, sent after start when the turn retrieved passages.
json::array citations_array(const std::vector<chat::Citation>& citations);
json::object citations_event(const std::vector<chat::Citation>& citations);
// After the stream: usage then done, or usage then error (interrupted part way), or error alone.
std::vector<std::pair<std::string_view, json::object>> end_events(const Result<chat::TurnResult>& result,
                                                                  const std::string& message_id);

}  // namespace aas::api
