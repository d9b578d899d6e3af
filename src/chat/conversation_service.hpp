#pragma once
// Conversation management: validation of user-supplied fields on top of the Store. Blocking (it
// calls the store directly); callers run it on the blocking pool.
#include "core/error.hpp"
#include "llm/models.hpp"
#include "store/store.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace aas::chat {

struct ConversationLimits {
  std::size_t max_title_chars = 200;
  std::size_t max_system_prompt_chars = 32000;
  std::size_t max_metadata_bytes = 16 * 1024;
  std::size_t max_tags = 20;
  std::size_t max_tag_chars = 50;
  std::size_t max_query_chars = 200;
};

class ConversationService {
 public:
  ConversationService(store::Store& store, const llm::ModelRegistry& models,
                      ConversationLimits limits = {});

  Result<store::Conversation> create(const store::NewConversation& c);
  Result<store::Conversation> get(std::string_view user_id, std::string_view id);
  // 400 for a tag or a search that cannot be valid.
  Result<store::Page<store::Conversation>> list(std::string_view user_id, const store::PageRequest& page,
                                               const store::ConversationFilter& filter = {});
  Result<store::Page<store::Message>> messages(std::string_view user_id, std::string_view id,
                                              const store::PageRequest& page);
  Result<store::Conversation> update(std::string_view user_id, std::string_view id,
                                     const store::ConversationPatch& patch);
  Result<void> remove(std::string_view user_id, std::string_view id);
  // A new conversation holding these messages in order (an exported one brought back). All or
  // nothing: when a message cannot be stored, the conversation is removed again.
  Result<store::Conversation> import(const store::NewConversation& c,
                                     const std::vector<store::NewMessage>& messages);

 private:
  // Trimmed, sorted, distinct; 400 for an empty tag, a comma, control characters or too many.
  Result<std::vector<std::string>> normalise_tags(const std::vector<std::string>& tags) const;
  Result<void> check_fields(const std::optional<std::string>& title,
                            const std::optional<std::string>& system_prompt,
                            const std::optional<std::string>& model,
                            const std::optional<std::string>& metadata) const;

  store::Store& store_;
  const llm::ModelRegistry& models_;
  ConversationLimits limits_;
};

}  // namespace aas::chat
