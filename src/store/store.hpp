#pragma once
// The Store port: every repository the service needs, reading and writing the records of
// domain/records.hpp. Adapters (sqlite/, postgres/) implement it; one conformance suite
// (tests/unit/store/store_conformance.hpp) holds them all to the same behaviour.
//
// Ownership is part of every query: a conversation of another user is reported as not_found,
// exactly as if it did not exist, so callers cannot enumerate ids.
#include "core/clock.hpp"
#include "core/error.hpp"
#include "domain/records.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aas::store {

// The records the port reads and writes (domain/), by their names in this namespace too.
using domain::Role;
using domain::to_string;
using domain::role_from_string;
using domain::MessageStatus;
using domain::message_status_from_string;
using domain::Conversation;
using domain::NewConversation;
using domain::ConversationPatch;
using domain::Prompt;
using domain::NewPrompt;
using domain::PromptPatch;
using domain::ConversationFilter;
using domain::Message;
using domain::NewMessage;
using domain::MessageUpdate;
using domain::PageRequest;
using domain::Page;
using domain::UsageRecord;
using domain::utc_day;
using domain::UsageGroup;
using domain::UsageQuery;
using domain::UsageTotals;
using domain::UsageRow;
using domain::UsageReport;
using domain::LimitOverride;

// A turn's writes before its model call (Store::start_turn).
struct TurnStart {
  std::optional<NewConversation> create;      // a new conversation, or
  std::string conversation_id;                // the existing one, with
  std::optional<ConversationPatch> patch;     //   what the turn changes of it (nullopt: nothing)
  std::optional<std::string> deactivate_from;  // a new version: this message and later leave the branch
  std::vector<NewMessage> messages;           // appended in order (their conversation_id is filled in)
};
struct TurnStarted {
  Conversation conversation;  // as created or patched (empty when neither)
  std::vector<Message> messages;
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
  // Appends several messages in ONE transaction, in order (a turn's user message and its answer's
  // placeholder: a crash leaves both or neither). not_found as for append_message.
  virtual Result<std::vector<Message>> append_messages(std::string_view user_id,
                                                       const std::vector<NewMessage>& messages) = 0;
  // A turn's first writes in ONE transaction (a crash leaves all or none): the conversation
  // created or patched, a replaced message and its successors taken off the branch, then the
  // user's message and the answer's placeholder appended. Errors as for the single operations.
  virtual Result<TurnStarted> start_turn(std::string_view user_id, const TurnStart& turn) = 0;
  // Saves a streaming answer's progress (its text so far and the usage estimated for it) while
  // it is still `streaming`: false when it no longer is (its outcome was written meanwhile, which
  // a late checkpoint must never overwrite). One UPDATE; not_found when not the user's.
  virtual Result<bool> checkpoint_message(std::string_view user_id, std::string_view message_id,
                                          std::string_view content, std::int64_t input_tokens,
                                          std::int64_t output_tokens,
                                          std::optional<std::int64_t> cost_micros) = 0;
  // Replaces a message's outcome (a streamed answer finishing) and moves the conversation's
  // updated_at. not_found when the message is not in a conversation of user_id.
  virtual Result<Message> update_message(std::string_view user_id, std::string_view message_id,
                                         const MessageUpdate& update) = 0;
  // An agent step (agent/agent_loop.hpp): the step's outcome written over its message (as
  // update_message, its ledger row included) and the messages that follow it appended (as
  // append_messages: the step's tool results and the next answer's placeholder), in ONE
  // transaction, so a step is never stored without its results nor they without it. Returns the
  // updated message, then the appended ones. Errors as for the single operations.
  virtual Result<std::vector<Message>> update_message_and_append(std::string_view user_id,
                                                                 std::string_view message_id,
                                                                 const MessageUpdate& update,
                                                                 const std::vector<NewMessage>& following) = 0;
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

  // Marks every message still `streaming` as `interrupted` and writes its ledger row from the
  // usage its last checkpoint saved (status interrupted, estimated), in one transaction: run at
  // start-up, when no answer of this store can still be in flight. Returns how many were marked.
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
  // The hot writes of a chat turn and of a gateway call, without waiting for them (issue 16):
  // each does what the method of the same name without `_then` does, and calls `done` with its
  // result once it is durable (or failed) — on whichever thread ran the write, possibly this one
  // before returning. `done` must be quick and must not block (post the rest elsewhere). An
  // adapter with group commit lets the calling pool thread go on at once, so a batch is not
  // bounded by the threads free to wait for it; by default the write runs here, and then `done`.
  template <class T>
  using Then = std::function<void(Result<T>)>;
  virtual void start_turn_then(std::string_view user_id, TurnStart turn, Then<TurnStarted> done) {
    done(start_turn(user_id, turn));
  }
  virtual void update_message_then(std::string_view user_id, std::string_view message_id, MessageUpdate update,
                                   Then<Message> done) {
    done(update_message(user_id, message_id, update));
  }
  virtual void record_usage_then(UsageRecord r, Then<void> done) { done(record_usage(r)); }

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
