#pragma once
// The Store port: every repository the service needs, as plain C++ structs. Adapters (sqlite/,
// postgres/) implement it; one conformance suite (tests/unit/store/store_conformance.hpp)
// holds them all to the same behaviour.
//
// Ownership is part of every query: a conversation of another user is reported as not_found,
// exactly as if it did not exist, so callers cannot enumerate ids.
#include "core/clock.hpp"
#include "core/error.hpp"
#include "store/usage.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aas::store {

enum class Role { system, user, assistant };
std::string_view to_string(Role r) noexcept;
std::optional<Role> role_from_string(std::string_view s) noexcept;

// complete: a finished answer (or any user/system message). streaming: an answer being generated
// right now (stored when the stream starts, so it is never lost; a restart turns leftovers into
// interrupted). interrupted: the answer stopped part way (client gone, upstream dropped) and holds
// what arrived. error: the model call failed before any text; content may be empty. Usage is
// recorded in every case.
enum class MessageStatus { complete, streaming, interrupted, error };
std::string_view to_string(MessageStatus s) noexcept;
std::optional<MessageStatus> message_status_from_string(std::string_view s) noexcept;

struct Conversation {
  std::string id;
  std::string user_id;
  std::optional<std::string> title;
  std::optional<std::string> system_prompt;
  std::optional<std::string> model;
  std::string metadata = "{}";  // a JSON object, kept as text: the store does not interpret it
  std::int64_t message_count = 0;
  TimePoint created_at{};
  TimePoint updated_at{};  // moves with every message: "newest activity first" sorts on it
  bool pinned = false;
  bool archived = false;  // hidden from lists unless asked for
  std::vector<std::string> tags;  // sorted, distinct
  // A prompt of the library this conversation uses as its system prompt (when it has no own
  // system_prompt). Deleting the prompt clears it.
  std::optional<std::string> prompt_id;
  bool title_auto = false;  // the title was made by the service (first line, or a model), not the user
  // The summary of the earlier turns (through summary_through, a message id): the context
  // builder sends it in place of those turns.
  std::optional<std::string> summary;
  std::optional<std::string> summary_through;
};

struct NewConversation {
  std::string user_id;
  std::optional<std::string> title;
  std::optional<std::string> system_prompt;
  std::optional<std::string> model;
  std::string metadata = "{}";
  std::optional<std::string> prompt_id;
  bool title_auto = false;
};

// Fields left empty are not changed. To clear an optional text field, set clear_* to true.
struct ConversationPatch {
  std::optional<std::string> title;
  std::optional<std::string> system_prompt;
  std::optional<std::string> model;
  std::optional<std::string> metadata;
  std::optional<bool> pinned;
  std::optional<bool> archived;
  std::optional<std::vector<std::string>> tags;  // replaces them all (sorted, distinct, no commas)
  std::optional<std::string> prompt_id;
  bool clear_prompt_id = false;
  bool title_auto = false;  // with a title: whether the service made it (users' titles are final)
  bool clear_title = false;
  bool clear_system_prompt = false;
  bool clear_model = false;
};

// A system prompt of the library: a user's own, or global (no owner, managed by admins).
struct Prompt {
  std::string id;
  std::optional<std::string> owner_user_id;  // nullopt: global
  std::string name;
  std::string content;
  TimePoint created_at{};
  TimePoint updated_at{};
};

struct NewPrompt {
  std::optional<std::string> owner_user_id;
  std::string name;
  std::string content;
};

struct PromptPatch {
  std::optional<std::string> name;
  std::optional<std::string> content;
};

// Which conversations a list shows. Every filter set must hold.
struct ConversationFilter {
  std::optional<bool> archived = false;  // default: not archived; nullopt: both
  std::optional<bool> pinned;
  std::optional<std::string> tag;
  // Full-text search over titles and message contents: every word must occur (whole words,
  // case-insensitive; no stemming, so both stores find the same).
  std::optional<std::string> query;
};

struct Message {
  std::string id;
  std::string conversation_id;
  Role role = Role::user;
  std::string content;
  MessageStatus status = MessageStatus::complete;
  std::optional<std::string> model;
  std::optional<std::int64_t> input_tokens;
  std::optional<std::int64_t> output_tokens;
  std::optional<std::int64_t> cost_micros;  // USD * 1e6; null when the price is unknown
  std::optional<std::int64_t> latency_ms;
  std::string metadata = "{}";  // JSON object as text (e.g. {"usageEstimated":true})
  TimePoint created_at{};
  // Versions: each message follows the one before it on its branch (parent_id; none for the
  // first). Regenerating an answer or editing a message deactivates it and what followed, and
  // the new version becomes a sibling (same parent, same role). Lists show the active branch.
  std::optional<std::string> parent_id;
  bool active = true;
  std::int64_t version_count = 1;  // siblings of the same role, itself included (list reads)
};

struct NewMessage {
  std::string conversation_id;
  Role role = Role::user;
  std::string content;
  MessageStatus status = MessageStatus::complete;
  std::optional<std::string> model;
  std::optional<std::int64_t> input_tokens;
  std::optional<std::int64_t> output_tokens;
  std::optional<std::int64_t> cost_micros;
  std::optional<std::int64_t> latency_ms;
  std::string metadata = "{}";
  // When set, this ledger row (message_id filled in) is written in the message's transaction.
  std::optional<UsageRecord> usage;
};

// The outcome of a streamed answer, written over its placeholder.
struct MessageUpdate {
  std::string content;
  MessageStatus status = MessageStatus::complete;
  std::optional<std::int64_t> input_tokens;
  std::optional<std::int64_t> output_tokens;
  std::optional<std::int64_t> cost_micros;
  std::optional<std::int64_t> latency_ms;
  std::string metadata = "{}";
  // When set, this ledger row (message_id filled in) is written in the update's transaction.
  std::optional<UsageRecord> usage;
};

// Cursor pagination. A cursor is opaque to clients; adapters encode the sort key of the last
// item returned. limit is already clamped by the caller (1..100).
struct PageRequest {
  int limit = 20;
  std::optional<std::string> cursor;
};

template <class T>
struct Page {
  std::vector<T> items;
  std::optional<std::string> next_cursor;  // absent on the last page
};

class Store {
 public:
  virtual ~Store() = default;

  // Health: a cheap round trip to the database.
  virtual Result<void> ping() = 0;
  // Applies pending numbered migrations; returns the schema version now in force.
  virtual Result<int> migrate() = 0;
  // The version applied, and the version this binary knows (ready when equal).
  virtual Result<int> schema_version() = 0;
  virtual int latest_schema_version() const = 0;

  virtual Result<Conversation> create_conversation(const NewConversation& c) = 0;
  virtual Result<Conversation> get_conversation(std::string_view user_id, std::string_view id) = 0;
  // Newest activity first (updated_at desc, id desc); no message bodies.
  virtual Result<Page<Conversation>> list_conversations(std::string_view user_id,
                                                        const PageRequest& page,
                                                        const ConversationFilter& filter = {}) = 0;
  virtual Result<Conversation> update_conversation(std::string_view user_id, std::string_view id,
                                                   const ConversationPatch& patch) = 0;
  // Removes the conversation and all its messages.
  virtual Result<void> delete_conversation(std::string_view user_id, std::string_view id) = 0;

  // Appends a message in its own transaction and moves the conversation's updated_at (and bumps
  // message_count). not_found when the conversation does not belong to user_id.
  virtual Result<Message> append_message(std::string_view user_id, const NewMessage& m) = 0;
  // Replaces a message's outcome (a streamed answer finishing) and moves the conversation's
  // updated_at. not_found when the message is not in a conversation of user_id.
  virtual Result<Message> update_message(std::string_view user_id, std::string_view message_id,
                                         const MessageUpdate& update) = 0;
  // Stores a conversation's summary of its turns through `through_message_id`; does not count as
  // activity (updated_at stays). not_found when the conversation is not the user's.
  virtual Result<void> set_summary(std::string_view user_id, std::string_view conversation_id,
                                   std::string_view summary, std::string_view through_message_id) = 0;

  // One message of the user's (any branch).
  virtual Result<Message> get_message(std::string_view user_id, std::string_view message_id) = 0;
  // Takes `message_id` and every later message of its active branch off the branch (the
  // start of a new version). not_found unless it is an active message of the user's.
  virtual Result<std::int64_t> deactivate_from(std::string_view user_id, std::string_view message_id) = 0;
  // The versions of a message: its siblings of the same role (itself included), oldest first.
  virtual Result<std::vector<Message>> message_versions(std::string_view user_id,
                                                        std::string_view message_id) = 0;

  // Marks every message still `streaming` as `interrupted`: run at start-up, when no answer of
  // this store can still be in flight. Returns how many were marked.
  virtual Result<std::int64_t> interrupt_streaming_messages() = 0;
  // Oldest first, for reading a conversation back (cursor pagination over created order).
  virtual Result<Page<Message>> list_messages(std::string_view user_id,
                                              std::string_view conversation_id,
                                              const PageRequest& page) = 0;
  // The most recent `max_messages` messages, returned oldest first: the model's context.
  virtual Result<std::vector<Message>> recent_messages(std::string_view user_id,
                                                       std::string_view conversation_id,
                                                       int max_messages) = 0;

  // --- prompt library ---
  // Conversations refer to prompts by id: create_conversation / update_conversation with a
  // prompt_id that is neither the user's nor global answer not_found.

  virtual Result<Prompt> create_prompt(const NewPrompt& p) = 0;
  // One of the user's own prompts, or a global one; not_found otherwise.
  virtual Result<Prompt> get_prompt(std::string_view user_id, std::string_view id) = 0;
  // The user's own prompts and the global ones, oldest first (by id).
  virtual Result<Page<Prompt>> list_prompts(std::string_view user_id, const PageRequest& page) = 0;
  // owner: the user whose prompt it must be, or nullopt for a global prompt. not_found otherwise.
  virtual Result<Prompt> update_prompt(const std::optional<std::string>& owner, std::string_view id,
                                       const PromptPatch& patch) = 0;
  virtual Result<void> delete_prompt(const std::optional<std::string>& owner, std::string_view id) = 0;

  // --- accounting ---

  // A ledger row on its own (calls without a stored message: the OpenAI-compatible gateway).
  virtual Result<void> record_usage(const UsageRecord& r) = 0;
  // Totals and one page of a breakdown, from the daily rollup.
  virtual Result<UsageReport> usage_report(const UsageQuery& q) = 0;
  // What a user's priced calls cost from `from_day` (inclusive) on: budgets start from it.
  virtual Result<std::int64_t> spent_micros(std::string_view user_id, std::string_view from_day) = 0;

  virtual Result<std::optional<LimitOverride>> get_limit_override(std::string_view user_id) = 0;
  virtual Result<LimitOverride> put_limit_override(const LimitOverride& o) = 0;
  // not_found when the user had none.
  virtual Result<void> delete_limit_override(std::string_view user_id) = 0;
};

}  // namespace aas::store
