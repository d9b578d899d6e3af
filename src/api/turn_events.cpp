#include "api/turn_events.hpp"

#include <boost/json/parse.hpp>

namespace aas::api {

json::object usage_json(const llm::Usage& u) {
  return json::object{{"inputTokens", u.input_tokens}, {"outputTokens", u.output_tokens}, {"estimated", u.estimated}};
}

json::object start_event(const chat::PreparedTurn& turn) {
  return json::object{{"conversationId", turn.conversation.id},
                      {"messageId", *turn.placeholder_id},
                      {"userMessageId", turn.user_message_id},
                      {"model", turn.model->name}};
}

json::array citations_array(const std::vector<chat::Citation>& citations) {
  // The same shape as stored with the answer (chat::citations_json).
  return json::parse(chat::citations_json(citations)).as_array();
}

json::object citations_event(const std::vector<chat::Citation>& citations) {
  return json::object{{"citations", citations_array(citations)}};
}

std::vector<std::pair<std::string_view, json::object>> end_events(const Result<chat::TurnResult>& result,
                                                                  const std::string& message_id) {
  const auto error = [](const Error& e) {
    return json::object{{"code", code_name(e.code)}, {"message", e.message}};
  };
  if (!result) return {{"error", error(result.error())}};
  json::object usage = usage_json(result->usage);
  usage["cost"] = cost_to_json(result->assistant.cost_micros);
  if (result->interruption) return {{"usage", std::move(usage)}, {"error", error(*result->interruption)}};
  return {{"usage", std::move(usage)},
          {"done", json::object{{"messageId", message_id},
                                {"status", domain::to_string(result->assistant.status)},
                                {"finishReason", result->finish_reason}}}};
}

}  // namespace aas::api
