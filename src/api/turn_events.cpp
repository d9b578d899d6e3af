#include "api/turn_events.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/serializer.hpp>

#include <stdexcept>

namespace aas::api {

void append_json_string(std::string& out, std::string_view text) {
  json::serializer sr;
  sr.reset(json::string_view(text.data(), text.size()));
  char buf[512];
  while (!sr.done()) {
    const json::string_view part = sr.read(buf, sizeof buf);
    out.append(part.data(), part.size());
  }
}

TextEventTemplate::TextEventTemplate(const json::value& value, std::string_view field, std::string_view before,
                                     std::string_view after) {
  const std::string whole = json::serialize(value);
  std::string slot;
  append_json_string(slot, field);
  slot += ":\"\"";
  const std::size_t at = whole.rfind(slot);
  if (at == std::string::npos) throw std::logic_error("TextEventTemplate: no empty field " + std::string(field));
  head_.assign(before).append(whole, 0, at + slot.size() - 2);
  tail_.assign(whole, at + slot.size(), std::string::npos).append(after);
}

std::string_view TextEventTemplate::fill(std::string_view text) {
  out_.assign(head_);
  append_json_string(out_, text);
  out_.append(tail_);
  return out_;
}

json::object usage_json(const llm::Usage& u) {
  return json::object{{"inputTokens", u.input_tokens}, {"outputTokens", u.output_tokens}, {"estimated", u.estimated}};
}

json::object start_event(const chat::PreparedTurn& turn) {
  return json::object{{"conversationId", turn.conversation.id},
                      {"messageId", *turn.placeholder_id},
                      {"userMessageId", turn.user_message_id},
                      {"model", turn.model->name}};
}

std::pair<std::string_view, json::object> tool_event(const chat::ToolEvent& e) {
  const auto arguments = [&]() -> json::value {
    boost::system::error_code ec;
    json::value v = json::parse(e.arguments, ec);
    if (ec) return json::string(e.arguments);
    return v;
  };
  switch (e.kind) {
    case chat::ToolEvent::Kind::call:
      return {"tool_call", json::object{{"callId", e.call_id}, {"name", e.name}, {"arguments", arguments()}}};
    case chat::ToolEvent::Kind::confirmation:
      return {"tool_confirmation", json::object{{"callId", e.call_id}, {"name", e.name}, {"arguments", arguments()},
                                                {"expiresAt", format_rfc3339(e.expires_at)}}};
    case chat::ToolEvent::Kind::result:
      break;
  }
  return {"tool_result", json::object{{"callId", e.call_id}, {"name", e.name}, {"result", e.result}, {"isError", e.error}}};
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
