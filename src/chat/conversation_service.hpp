#pragma once
// Conversation management on top of the Store.
#include "core/error.hpp"
#include "chat/retriever.hpp"
#include "llm/models.hpp"
#include "store/store.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace boost::asio { class thread_pool; }

namespace aas::chat {

template <class T>
using Awaitable = boost::asio::awaitable<Result<T>>;

struct ConversationLimits {
  std::size_t max_title_chars = 200;
  std::size_t max_system_prompt_chars = 32000;
  std::size_t max_metadata_bytes = 16 * 1024;
  std::size_t max_tags = 20;
  std::size_t max_tag_chars = 50;
  std::size_t max_query_chars = 200;
  std::size_t max_image_bytes = 5 * 1024 * 1024;  // an imported image's decoded size
};

// A conversation with messages, read together.
struct ConversationWithMessages {
  domain::Conversation conversation;
  domain::Page<domain::Message> messages;
};

// Conversation management: validation of user-supplied fields on top of the Store. Every method
// runs its store work on the blocking pool, so callers (handlers) never decide threading.
class ConversationService {
 public:
  ConversationService(store::Store& store, boost::asio::thread_pool& blocking, const llm::ModelRegistry& models,
                      ConversationLimits limits = {});

  Awaitable<domain::Conversation> create(domain::NewConversation c);
  Awaitable<domain::Conversation> get(std::string user_id, std::string id);
  // 400 for a tag or a search that cannot be valid.
  Awaitable<domain::Page<domain::Conversation>> list(std::string user_id, domain::PageRequest page,
                                                     domain::ConversationFilter filter = {});
  Awaitable<domain::Page<domain::Message>> messages(std::string user_id, std::string id, domain::PageRequest page);
  // The conversation and one page of its messages (GET /conversations/:id).
  Awaitable<ConversationWithMessages> read(std::string user_id, std::string id, domain::PageRequest page);
  // Every message, oldest first (exports). The page holds them all; next_cursor is empty.
  Awaitable<ConversationWithMessages> read_whole(std::string user_id, std::string id);
  // The versions of a message of this conversation, oldest first.
  Awaitable<std::vector<domain::Message>> versions(std::string user_id, std::string id, std::string message_id);
  Awaitable<domain::Conversation> update(std::string user_id, std::string id, domain::ConversationPatch patch);
  Awaitable<void> remove(std::string user_id, std::string id);
  // A new conversation holding these messages in order (an exported one brought back). All or
  // nothing: when a message cannot be stored, the conversation is removed again.
  Awaitable<domain::Conversation> import(domain::NewConversation c, std::vector<domain::NewMessage> messages);
  // Checks a conversation's knowledge bases are the user's (set once at start-up).
  void set_retriever(Retriever* retriever) { retriever_ = retriever; }

 private:
  // The blocking bodies, run on the pool.
  Result<domain::Conversation> create_now(const domain::NewConversation& c);
  // Trimmed, sorted, distinct; 400 for an empty tag, a comma, control characters or too many.
  Result<std::vector<std::string>> normalise_tags(const std::vector<std::string>& tags) const;
  Result<void> check_fields(const std::optional<std::string>& title,
                            const std::optional<std::string>& system_prompt,
                            const std::optional<std::string>& model,
                            const std::optional<std::string>& metadata) const;

  // not_found unless every id is a knowledge base of the user's; blocking.
  Result<void> check_knowledge_bases(const std::string& user_id, const std::vector<std::string>& ids) const;

  store::Store& store_;
  boost::asio::thread_pool& blocking_;
  const llm::ModelRegistry& models_;
  ConversationLimits limits_;
  Retriever* retriever_ = nullptr;
};

}  // namespace aas::chat
