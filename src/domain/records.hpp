#pragma once
// The records the service keeps: conversations, messages, prompts, pages of them. Plain structs
// that the services take and return and the API turns into JSON; the Store port (store/store.hpp)
// reads and writes them, but nothing here knows of a database.
#include "core/clock.hpp"
#include "domain/content.hpp"
#include "domain/usage.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aas::domain {

// tool: the result of a tool call, answering the assistant message that made it.
enum class Role { system, user, assistant, tool };
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
  // The knowledge bases its turns answer from (retrieval with citations); empty: none.
  std::vector<std::string> knowledge_base_ids;
};

struct NewConversation {
  std::string user_id;
  std::optional<std::string> title;
  std::optional<std::string> system_prompt;
  std::optional<std::string> model;
  std::string metadata = "{}";
  std::optional<std::string> prompt_id;
  bool title_auto = false;
  std::vector<std::string> knowledge_base_ids;
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
  std::optional<std::vector<std::string>> knowledge_base_ids;  // replaces them all (empty: none)
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
  // Structured content beside the text: `content` holds the text parts joined, `parts` every
  // part in order when there is more than text (images); an answer's tool calls; for a tool
  // result (role tool), the call it answers.
  std::vector<ContentPart> parts;
  std::vector<ToolCall> tool_calls;
  std::optional<std::string> tool_call_id;
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
  std::vector<ContentPart> parts;
  std::vector<ToolCall> tool_calls;
  std::optional<std::string> tool_call_id;
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
  std::vector<ToolCall> tool_calls;
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

}  // namespace aas::domain
