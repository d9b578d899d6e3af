#include "chat/conversation_service.hpp"

#include "chat/chat_service.hpp"
#include "core/ids.hpp"
#include "core/offload.hpp"
#include "llm/validate.hpp"

#include <algorithm>

namespace aas::chat {

namespace asio = boost::asio;

ConversationService::ConversationService(store::Store& store, asio::thread_pool& blocking,
                                         const llm::ModelRegistry& models, ConversationLimits limits)
    : store_(store), blocking_(blocking), models_(models), limits_(limits) {}

namespace {
Result<void> check_text(const std::optional<std::string>& value, std::string_view field,
                        std::size_t max_chars) {
  if (!value) return {};
  if (!is_valid_utf8(*value)) return make_error(errc::invalid_request, std::string(field) + " must be valid UTF-8");
  if (count_code_points(*value) > max_chars)
    return make_error(errc::invalid_request,
                      std::string(field) + " is longer than " + std::to_string(max_chars) + " characters");
  return {};
}

// Ids are UUIDs; anything else cannot exist, and answers exactly as an unknown id does.
Result<void> check_id(std::string_view id) {
  if (!is_uuid(id)) return make_error(errc::not_found, "conversation not found");
  return {};
}
}  // namespace

Result<void> ConversationService::check_fields(const std::optional<std::string>& title,
                                               const std::optional<std::string>& system_prompt,
                                               const std::optional<std::string>& model,
                                               const std::optional<std::string>& metadata) const {
  if (auto r = check_text(title, "title", limits_.max_title_chars); !r) return r;
  if (auto r = check_text(system_prompt, "systemPrompt", limits_.max_system_prompt_chars); !r) return r;
  if (model) {
    auto found = models_.find(*model);
    if (!found) return found.error();
  }
  if (metadata && metadata->size() > limits_.max_metadata_bytes)
    return make_error(errc::invalid_request, "metadata is larger than " +
                                                 std::to_string(limits_.max_metadata_bytes) + " bytes");
  return {};
}

namespace {
// A conversation carries its own system prompt or refers to one of the library, not both.
Result<void> check_prompt_choice(const std::optional<std::string>& system_prompt,
                                 const std::optional<std::string>& prompt_id) {
  if (system_prompt && prompt_id)
    return make_error(errc::invalid_request, "give systemPrompt or promptId, not both");
  if (prompt_id && !is_uuid(*prompt_id)) return make_error(errc::not_found, "prompt not found");
  return {};
}
}  // namespace

Result<domain::Conversation> ConversationService::create_now(const domain::NewConversation& c) {
  if (auto r = check_fields(c.title, c.system_prompt, c.model, c.metadata); !r) return r.error();
  if (auto r = check_prompt_choice(c.system_prompt, c.prompt_id); !r) return r.error();
  if (auto r = check_knowledge_bases(c.user_id, c.knowledge_base_ids); !r) return r.error();
  return store_.create_conversation(c);
}

Awaitable<domain::Conversation> ConversationService::create(domain::NewConversation c) {
  co_return co_await offload(blocking_, [&] { return create_now(c); });
}

Awaitable<domain::Conversation> ConversationService::import(domain::NewConversation c,
                                                           std::vector<domain::NewMessage> messages) {
  // Imported images are held to the same rules as a chat's.
  for (std::size_t i = 0; i < messages.size(); ++i) {
    for (std::size_t k = 0; k < messages[i].parts.size(); ++k) {
      const domain::ContentPart& part = messages[i].parts[k];
      if (part.kind != domain::ContentPart::Kind::image) continue;
      if (auto problem = llm::image_url_problem(part.image_url, limits_.max_image_bytes))
        co_return make_error(errc::invalid_request, "messages[" + std::to_string(i) + "].parts[" +
                                                        std::to_string(k) + "].image_url " + *problem);
    }
  }
  co_return co_await offload(blocking_, [&]() -> Result<domain::Conversation> {
    auto created = create_now(c);
    if (!created) return created.error();
    for (domain::NewMessage& m : messages) {
      m.conversation_id = created->id;
      if (auto stored = store_.append_message(c.user_id, m); !stored) {
        (void)store_.delete_conversation(c.user_id, created->id);
        return stored.error();
      }
    }
    return store_.get_conversation(c.user_id, created->id);
  });
}

Awaitable<domain::Conversation> ConversationService::get(std::string user_id, std::string id) {
  if (auto r = check_id(id); !r) co_return r.error();
  co_return co_await offload(blocking_, [&] { return store_.get_conversation(user_id, id); });
}

Result<std::vector<std::string>> ConversationService::normalise_tags(
    const std::vector<std::string>& tags) const {
  if (tags.size() > limits_.max_tags)
    return make_error(errc::invalid_request, "at most " + std::to_string(limits_.max_tags) + " tags");
  std::vector<std::string> out;
  for (const std::string& raw : tags) {
    const std::size_t b = raw.find_first_not_of(" \t");
    const std::size_t e = raw.find_last_not_of(" \t");
    std::string t = b == std::string::npos ? std::string() : raw.substr(b, e - b + 1);
    if (t.empty() || !is_valid_utf8(t) || count_code_points(t) > limits_.max_tag_chars ||
        std::any_of(t.begin(), t.end(), [](char c) { return c == ',' || static_cast<unsigned char>(c) < 0x20; }))
      return make_error(errc::invalid_request, "a tag is 1 to " + std::to_string(limits_.max_tag_chars) +
                                                   " characters, without commas or control characters");
    out.push_back(std::move(t));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Awaitable<domain::Page<domain::Conversation>> ConversationService::list(std::string user_id,
                                                                     domain::PageRequest page,
                                                                     domain::ConversationFilter f) {
  if (f.tag) {
    auto tag = normalise_tags({*f.tag});
    if (!tag) co_return tag.error();
    f.tag = tag->front();
  }
  if (f.query) {
    if (!is_valid_utf8(*f.query) || count_code_points(*f.query) > limits_.max_query_chars)
      co_return make_error(errc::invalid_request, "q is at most " + std::to_string(limits_.max_query_chars) +
                                                      " characters of valid UTF-8");
    if (is_blank(*f.query)) f.query.reset();
  }
  co_return co_await offload(blocking_, [&] { return store_.list_conversations(user_id, page, f); });
}

Awaitable<domain::Page<domain::Message>> ConversationService::messages(std::string user_id, std::string id,
                                                                       domain::PageRequest page) {
  if (auto r = check_id(id); !r) co_return r.error();
  co_return co_await offload(blocking_, [&] { return store_.list_messages(user_id, id, page); });
}

Awaitable<ConversationWithMessages> ConversationService::read(std::string user_id, std::string id,
                                                              domain::PageRequest page) {
  if (auto r = check_id(id); !r) co_return r.error();
  co_return co_await offload(blocking_, [&]() -> Result<ConversationWithMessages> {
    auto conv = store_.get_conversation(user_id, id);
    if (!conv) return conv.error();
    auto messages = store_.list_messages(user_id, id, page);
    if (!messages) return messages.error();
    return ConversationWithMessages{std::move(*conv), std::move(*messages)};
  });
}

Awaitable<ConversationWithMessages> ConversationService::read_whole(std::string user_id, std::string id) {
  if (auto r = check_id(id); !r) co_return r.error();
  co_return co_await offload(blocking_, [&]() -> Result<ConversationWithMessages> {
    auto conv = store_.get_conversation(user_id, id);
    if (!conv) return conv.error();
    ConversationWithMessages whole{std::move(*conv), {}};
    domain::PageRequest page{100, std::nullopt};
    for (;;) {
      auto got = store_.list_messages(user_id, id, page);
      if (!got) return got.error();
      for (domain::Message& m : got->items) whole.messages.items.push_back(std::move(m));
      if (!got->next_cursor) return whole;
      page.cursor = std::move(got->next_cursor);
    }
  });
}

Awaitable<std::vector<domain::Message>> ConversationService::versions(std::string user_id, std::string id,
                                                                      std::string message_id) {
  co_return co_await offload(blocking_, [&]() -> Result<std::vector<domain::Message>> {
    auto v = store_.message_versions(user_id, message_id);
    if (v && (v->empty() || v->front().conversation_id != id)) return make_error(errc::not_found, "message not found");
    return v;
  });
}

Awaitable<domain::Conversation> ConversationService::update(std::string user_id, std::string id,
                                                           domain::ConversationPatch p) {
  if (auto r = check_id(id); !r) co_return r.error();
  if (!p.title && !p.system_prompt && !p.model && !p.metadata && !p.clear_title && !p.clear_system_prompt &&
      !p.clear_model && !p.pinned && !p.archived && !p.tags && !p.prompt_id && !p.clear_prompt_id &&
      !p.knowledge_base_ids)
    co_return make_error(errc::invalid_request, "nothing to update");
  if (auto r = check_fields(p.title, p.system_prompt, p.model, p.metadata); !r) co_return r.error();
  if (auto r = check_prompt_choice(p.system_prompt, p.prompt_id); !r) co_return r.error();
  // Choosing one kind of system prompt drops the other.
  if (p.system_prompt) p.clear_prompt_id = true;
  if (p.prompt_id) p.clear_system_prompt = true;
  if (p.tags) {
    auto tags = normalise_tags(*p.tags);
    if (!tags) co_return tags.error();
    p.tags = std::move(*tags);
  }
  co_return co_await offload(blocking_, [&]() -> Result<domain::Conversation> {
    if (p.knowledge_base_ids)
      if (auto r = check_knowledge_bases(user_id, *p.knowledge_base_ids); !r) return r.error();
    return store_.update_conversation(user_id, id, p);
  });
}

Result<void> ConversationService::check_knowledge_bases(const std::string& user_id,
                                                         const std::vector<std::string>& ids) const {
  if (ids.empty()) return {};
  if (ids.size() > 20) return make_error(errc::invalid_request, "at most 20 knowledge bases per conversation");
  if (!retriever_) return make_error(errc::not_found, "knowledge base not found");
  return retriever_->check(user_id, ids);
}

Awaitable<void> ConversationService::remove(std::string user_id, std::string id) {
  if (auto r = check_id(id); !r) co_return r;
  co_return co_await offload(blocking_, [&] { return store_.delete_conversation(user_id, id); });
}

}  // namespace aas::chat
