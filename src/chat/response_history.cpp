#include "chat/response_history.hpp"

#include "core/offload.hpp"
#include "store/store.hpp"

#include <boost/asio/thread_pool.hpp>
#include <spdlog/spdlog.h>

namespace aas::chat {

namespace asio = boost::asio;

namespace {

// What a stored conversation holds at most: a longer chain is refused rather than cut.
constexpr int kMaxMessages = 10'000;
constexpr std::string_view kMetadata = R"({"source":"responses-api"})";

Error no_such_response(std::string_view id) {
  return make_error(errc::not_found, "no response '" + std::string(id.substr(0, 80)) + "' was found");
}

// The conversation id inside a response id, or empty.
std::string conversation_of(std::string_view response_id) {
  if (!response_id.starts_with(ResponseHistory::id_prefix)) return {};
  return std::string(response_id.substr(ResponseHistory::id_prefix.size()));
}

domain::NewMessage stored(const std::string& conversation_id, const llm::ChatMessage& m) {
  domain::NewMessage n;
  n.conversation_id = conversation_id;
  n.role = domain::role_from_string(m.role).value_or(domain::Role::user);
  n.content = m.content;
  n.parts = m.parts;
  n.tool_calls = m.tool_calls;
  if (!m.tool_call_id.empty()) n.tool_call_id = m.tool_call_id;
  return n;
}

}  // namespace

asio::awaitable<Result<std::vector<llm::ChatMessage>>> ResponseHistory::load(std::string user_id,
                                                                            std::string response_id) {
  const std::string conversation_id = conversation_of(response_id);
  if (conversation_id.empty()) co_return no_such_response(response_id);
  auto read = co_await offload(blocking_, [&]() -> Result<std::vector<domain::Message>> {
    auto conversation = store_.get_conversation(user_id, conversation_id);
    if (!conversation) return conversation.error();
    // Only the conversations this service made for responses are responses.
    if (conversation->metadata.find("\"responses-api\"") == std::string::npos) return no_such_response(response_id);
    return store_.recent_messages(user_id, conversation_id, kMaxMessages);
  });
  if (!read) {
    if (read.error().code == errc::not_found || read.error().code == errc::invalid_request)
      co_return no_such_response(response_id);
    co_return read.error();
  }
  std::vector<llm::ChatMessage> out;
  out.reserve(read->size());
  for (domain::Message& m : *read) {
    llm::ChatMessage c;
    c.role = std::string(domain::to_string(m.role));
    c.content = std::move(m.content);
    c.parts = std::move(m.parts);
    c.tool_calls = std::move(m.tool_calls);
    c.tool_call_id = m.tool_call_id.value_or("");
    out.push_back(std::move(c));
  }
  co_return out;
}

asio::awaitable<Result<std::string>> ResponseHistory::open(std::string user_id, std::string model,
                                                           std::vector<llm::ChatMessage> messages) {
  auto made = co_await offload(blocking_, [&]() -> Result<std::string> {
    domain::NewConversation c;
    c.user_id = user_id;
    c.title = "Responses API";
    c.model = model;
    c.metadata = std::string(kMetadata);
    auto conversation = store_.create_conversation(c);
    if (!conversation) return conversation.error();
    // Archived: kept for previous_response_id, out of the user's chat list.
    domain::ConversationPatch hide;
    hide.archived = true;
    if (auto r = store_.update_conversation(user_id, conversation->id, hide); !r) return r.error();
    std::vector<domain::NewMessage> rows;
    for (const llm::ChatMessage& m : messages)
      if (m.role != "system") rows.push_back(stored(conversation->id, m));
    if (!rows.empty())
      if (auto r = store_.append_messages(user_id, rows); !r) return r.error();
    return std::string(id_prefix) + conversation->id;
  });
  co_return made;
}

asio::awaitable<Result<void>> ResponseHistory::close(std::string user_id, std::string response_id, std::string model,
                                                     std::string text, std::vector<llm::ToolCall> tool_calls,
                                                     bool complete) {
  co_return co_await offload(blocking_, [&]() -> Result<void> {
    domain::NewMessage answer;
    answer.conversation_id = conversation_of(response_id);
    answer.role = domain::Role::assistant;
    answer.content = std::move(text);
    answer.tool_calls = std::move(tool_calls);
    answer.model = model;
    answer.status = complete ? domain::MessageStatus::complete : domain::MessageStatus::interrupted;
    auto r = store_.append_message(user_id, answer);
    if (!r) return r.error();
    return {};
  });
}

asio::awaitable<void> ResponseHistory::discard(std::string user_id, std::string response_id) {
  auto removed = co_await offload(blocking_, [&] {
    return store_.delete_conversation(user_id, conversation_of(response_id));
  });
  if (!removed) spdlog::warn("response {}: its record could not be removed: {}", response_id, removed.error().message);
}

}  // namespace aas::chat
