#pragma once
// Private to the Store adapters (sqlite/, postgres/): what every adapter does the same way — page
// limits, the errors a client sees, column lists, assembling a page and its cursor. SQL whose
// text differs by dialect (placeholders, max/GREATEST, types) stays in each adapter, and so does
// the row -> struct mapping, which depends on each driver's result type.
#include "core/error.hpp"
#include "store/cursor.hpp"
#include "store/store.hpp"

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aas::store::detail {

// The contract clamps limits to 1..100; the stores clamp again so a caller bug cannot ask for a
// million rows.
inline constexpr int kMaxPageLimit = 100;
inline int clamp_limit(int limit) { return std::clamp(limit, 1, kMaxPageLimit); }

inline Error conversation_not_found() { return make_error(errc::not_found, "conversation not found"); }
inline Error message_not_found() { return make_error(errc::not_found, "message not found"); }
inline Error limit_override_not_found() {
  return make_error(errc::not_found, "no limits set for this user");
}
inline Error invalid_cursor() { return make_error(errc::invalid_request, "invalid cursor"); }

// The store does not interpret metadata, but an empty string would not read back as JSON.
inline std::string_view metadata_or_empty_object(const std::string& s) {
  return s.empty() ? std::string_view("{}") : std::string_view(s);
}

// A page's cursor, decoded: nullopt without one, invalid_request for one no store wrote.
inline Result<std::optional<ConversationCursor>> conversation_cursor_of(const PageRequest& page) {
  if (!page.cursor) return std::optional<ConversationCursor>();
  auto c = decode_conversation_cursor(*page.cursor);
  if (!c) return invalid_cursor();
  return c;
}

inline Result<std::optional<std::string>> message_cursor_of(const PageRequest& page) {
  if (!page.cursor) return std::optional<std::string>();
  auto c = decode_message_cursor(*page.cursor);
  if (!c) return invalid_cursor();
  return c;
}

// What a new conversation / message is once written: the caller's fields, the store's id and time.
inline Conversation conversation_from(const NewConversation& n, std::string id, std::int64_t now_ms) {
  Conversation c;
  c.id = std::move(id);
  c.user_id = n.user_id;
  c.title = n.title;
  c.system_prompt = n.system_prompt;
  c.model = n.model;
  c.metadata = std::string(metadata_or_empty_object(n.metadata));
  c.prompt_id = n.prompt_id;
  c.title_auto = n.title_auto;
  c.knowledge_base_ids = n.knowledge_base_ids;
  c.message_count = 0;
  c.created_at = c.updated_at = from_unix_ms(now_ms);
  return c;
}

inline Message message_from(const NewMessage& n, std::string id, std::int64_t now_ms) {
  Message m;
  m.id = std::move(id);
  m.conversation_id = n.conversation_id;
  m.role = n.role;
  m.content = n.content;
  m.status = n.status;
  m.model = n.model;
  m.input_tokens = n.input_tokens;
  m.output_tokens = n.output_tokens;
  m.cost_micros = n.cost_micros;
  m.latency_ms = n.latency_ms;
  m.metadata = std::string(metadata_or_empty_object(n.metadata));
  m.parts = n.parts;
  m.tool_calls = n.tool_calls;
  m.tool_call_id = n.tool_call_id;
  m.created_at = from_unix_ms(now_ms);
  return m;
}

// `items` holds up to limit + 1 rows: the extra one only says that another page follows.
// Tags are kept as one text ",a,b," (or "" for none), so a tag filter is a substring test that
// reads the same in every dialect; ',' never occurs in a tag (the service refuses it).
inline std::string encode_tags(const std::vector<std::string>& tags) {
  if (tags.empty()) return {};
  std::string out = ",";
  for (const std::string& t : tags) out += t + ",";
  return out;
}

inline std::vector<std::string> decode_tags(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 1;
  while (start < text.size()) {
    const std::size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) break;
    if (comma > start) out.emplace_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

// A tag as the filter's substring.
inline std::optional<std::string> tag_needle(const ConversationFilter& f) {
  if (!f.tag) return std::nullopt;
  return "," + *f.tag + ",";
}

inline std::optional<std::int64_t> flag(const std::optional<bool>& b) {
  if (!b) return std::nullopt;
  return *b ? 1 : 0;
}

inline Error prompt_not_found() { return make_error(errc::not_found, "prompt not found"); }

inline Page<Prompt> prompt_page(std::vector<Prompt> items, int limit) {
  Page<Prompt> out{std::move(items), std::nullopt};
  if (out.items.size() > static_cast<std::size_t>(limit)) {
    out.items.pop_back();
    out.next_cursor = encode_message_cursor(out.items.back().id);  // the same "last id" cursor
  }
  return out;
}

inline Page<Conversation> conversation_page(std::vector<Conversation> items, int limit) {
  Page<Conversation> out{std::move(items), std::nullopt};
  if (out.items.size() > static_cast<std::size_t>(limit)) {
    out.items.pop_back();
    const auto& last = out.items.back();
    out.next_cursor = encode_conversation_cursor(to_unix_ms(last.updated_at), last.id);
  }
  return out;
}

inline Page<Message> message_page(std::vector<Message> items, int limit) {
  Page<Message> out{std::move(items), std::nullopt};
  if (out.items.size() > static_cast<std::size_t>(limit)) {
    out.items.pop_back();
    out.next_cursor = encode_message_cursor(out.items.back().id);
  }
  return out;
}

// The rollup column a report groups by (a fixed name, never a value from the request).
inline const char* usage_group_column(UsageGroup g) {
  return g == UsageGroup::user ? "user_id" : g == UsageGroup::model ? "model" : "day";
}

// A rolled-up ledger row adds to one (day, user, model) row: whether it counts as unpriced or
// estimated.
// append_messages of both stores: each message through `append` (the store's append on the
// transaction's connection), in order, stopping at the first failure (which rolls all back).
template <class Append>
Result<std::vector<Message>> append_each(const std::vector<NewMessage>& messages, Append&& append) {
  std::vector<Message> out;
  out.reserve(messages.size());
  for (const NewMessage& n : messages) {
    Result<Message> m = append(n);
    if (!m) return m.error();
    out.push_back(std::move(*m));
  }
  return out;
}

// update_message_and_append of both stores, inside the adapter's write transaction: the message
// updated, then `following` appended, stopping at the first failure (which rolls all back); the
// updated message first in what comes back.
template <class Update, class Append>
Result<std::vector<Message>> update_then_append(const std::vector<NewMessage>& following, Update&& update,
                                                Append&& append) {
  Result<Message> updated = update();
  if (!updated) return updated.error();
  auto appended = append_each(following, append);
  if (!appended) return appended.error();
  appended->insert(appended->begin(), std::move(*updated));
  return appended;
}

// start_turn of both stores, inside the adapter's write transaction: the conversation created or
// patched, the replaced message off the branch, then the messages appended, stopping at the first
// failure (which rolls all back). Each step is the store's own operation on that connection
// (`s.create_in`, `update_in`, `deactivate_in`, `append_in`).
template <class Adapter, class Conn>
Result<TurnStarted> start_turn_in(Adapter& s, Conn& c, std::string_view user_id, const TurnStart& t) {
  TurnStarted out;
  if (t.create || t.patch) {
    Result<Conversation> conv = t.create ? s.create_in(c, *t.create) : s.update_in(c, user_id, t.conversation_id, *t.patch);
    if (!conv) return conv.error();
    out.conversation = std::move(*conv);
  }
  if (t.deactivate_from) {
    if (auto off = s.deactivate_in(c, user_id, *t.deactivate_from); !off) return off.error();
  }
  std::vector<NewMessage> messages = t.messages;
  for (NewMessage& m : messages) m.conversation_id = t.create ? out.conversation.id : t.conversation_id;
  auto appended = append_each(messages, [&](const NewMessage& n) { return s.append_in(c, user_id, n); });
  if (!appended) return appended.error();
  out.messages = std::move(*appended);
  return out;
}

// The metadata of an answer found `streaming` at start-up: its usage is its last checkpoint's.
#define AAS_RECOVERED_METADATA "{\"usageEstimated\":true,\"error\":\"interrupted\",\"recovered\":true}"

// The ledger row of such an answer (the process that streamed it died before recording it):
// what its last checkpoint saved (the prompt's estimate from the placeholder at least), flagged
// estimated, status interrupted. No deployment is known.
inline UsageRecord recovered_usage(std::string user_id, std::string conversation_id, std::string model,
                                   std::int64_t input_tokens, std::int64_t output_tokens,
                                   std::optional<std::int64_t> cost_micros) {
  UsageRecord r;
  r.user_id = std::move(user_id);
  r.conversation_id = std::move(conversation_id);
  r.kind = "chat";
  r.model = std::move(model);
  r.input_tokens = input_tokens;
  r.output_tokens = output_tokens;
  r.cost_micros = cost_micros;
  r.status = "interrupted";
  r.estimated = true;
  r.request_id = "recovered";
  return r;
}

inline std::int64_t unpriced_count(const UsageRecord& r) { return r.cost_micros ? 0 : 1; }
inline std::int64_t estimated_count(const UsageRecord& r) { return r.estimated ? 1 : 0; }

}  // namespace aas::store::detail

// Column lists, in the order the adapters' read_* functions expect them.
#define AAS_CONVERSATION_COLUMNS                                                          \
  "id, user_id, title, system_prompt, model, metadata, message_count, created_at, updated_at," \
  " pinned, archived, tags, prompt_id, title_auto, summary, summary_through, knowledge_base_ids"

#define AAS_PROMPT_COLUMNS "id, owner_user_id, name, content, created_at, updated_at"

#define AAS_MESSAGE_COLUMNS                                                                       \
  "id, conversation_id, role, content, status, model, input_tokens, output_tokens, cost_micros, " \
  "latency_ms, metadata, created_at, parent_id, active, parts, tool_calls, tool_call_id"

#define AAS_LIMIT_COLUMNS                                                                    \
  "user_id, requests_per_minute, tokens_per_minute, concurrent_streams, daily_budget_micros," \
  " monthly_budget_micros, updated_at"

#define AAS_USAGE_LEDGER_COLUMNS                                                              \
  "id, user_id, conversation_id, message_id, kind, model, deployment, provider, input_tokens," \
  " output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, cost_micros,"   \
  " latency_ms, ttft_ms, status, estimated, request_id, created_at"

// The rollup's sums, in the order read_usage_totals expects; the same in both dialects.
#define AAS_USAGE_SUMS                                                                            \
  "coalesce(sum(requests), 0), coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0),"  \
  " coalesce(sum(cached_input_tokens), 0), coalesce(sum(cache_write_tokens), 0),"                  \
  " coalesce(sum(reasoning_tokens), 0), coalesce(sum(cost_micros), 0),"                            \
  " coalesce(sum(unpriced_requests), 0), coalesce(sum(estimated_requests), 0)"

// The same sums over every group of a GROUP BY (window sums of the group sums), so one statement
// returns a page of groups and the totals of all of them.
#define AAS_USAGE_WINDOW_SUMS                                                                       \
  "coalesce(sum(sum(requests)) OVER (), 0), coalesce(sum(sum(input_tokens)) OVER (), 0),"            \
  " coalesce(sum(sum(output_tokens)) OVER (), 0), coalesce(sum(sum(cached_input_tokens)) OVER (), 0)," \
  " coalesce(sum(sum(cache_write_tokens)) OVER (), 0), coalesce(sum(sum(reasoning_tokens)) OVER (), 0)," \
  " coalesce(sum(sum(cost_micros)) OVER (), 0), coalesce(sum(sum(unpriced_requests)) OVER (), 0),"   \
  " coalesce(sum(sum(estimated_requests)) OVER (), 0)"

// The rollup's upsert: a ledger row's share (or, on PostgreSQL, the sum of a batch's rows)
// added to its (day, user, model) row. Only the VALUES placeholders differ by dialect.
#define AAS_USAGE_DAILY_UPSERT(VALUES)                                                   \
  "INSERT INTO usage_daily (day, user_id, model, requests, input_tokens, output_tokens," \
  " cached_input_tokens, cache_write_tokens, reasoning_tokens, cost_micros,"             \
  " unpriced_requests, estimated_requests) VALUES " VALUES                               \
  " ON CONFLICT (day, user_id, model) DO UPDATE SET requests = usage_daily.requests + excluded.requests,"  \
  " input_tokens = usage_daily.input_tokens + excluded.input_tokens,"                     \
  " output_tokens = usage_daily.output_tokens + excluded.output_tokens,"                  \
  " cached_input_tokens = usage_daily.cached_input_tokens + excluded.cached_input_tokens," \
  " cache_write_tokens = usage_daily.cache_write_tokens + excluded.cache_write_tokens,"   \
  " reasoning_tokens = usage_daily.reasoning_tokens + excluded.reasoning_tokens,"         \
  " cost_micros = usage_daily.cost_micros + excluded.cost_micros,"                        \
  " unpriced_requests = usage_daily.unpriced_requests + excluded.unpriced_requests,"      \
  " estimated_requests = usage_daily.estimated_requests + excluded.estimated_requests"

// The limit override's upsert (a put replaces the whole override).
#define AAS_LIMIT_UPSERT(VALUES)                                                               \
  "INSERT INTO limit_overrides (" AAS_LIMIT_COLUMNS ") VALUES " VALUES                         \
  " ON CONFLICT (user_id) DO UPDATE SET requests_per_minute = excluded.requests_per_minute,"   \
  " tokens_per_minute = excluded.tokens_per_minute,"                                           \
  " concurrent_streams = excluded.concurrent_streams,"                                         \
  " daily_budget_micros = excluded.daily_budget_micros,"                                       \
  " monthly_budget_micros = excluded.monthly_budget_micros, updated_at = excluded.updated_at" \
  " RETURNING " AAS_LIMIT_COLUMNS
