#include "store/sqlite/sqlite_store.hpp"

#include "core/ids.hpp"
#include "store/cursor.hpp"
#include "store/detail/common.hpp"
#include "store/detail/structured.hpp"
#include "store/detail/pool.hpp"
#include "store/detail/usage_rollup.hpp"
#include "store/migrations/sqlite.hpp"
#include "store/sqlite/database.hpp"
#include "store/sqlite/db.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <utility>
#include <vector>

namespace aas::store::sqlite {

namespace {

using detail::Connection;
using detail::DbError;
using detail::db_error;
using detail::Statement;
using detail::Transaction;
using store::detail::clamp_limit;
using store::detail::recovered_usage;
using store::detail::conversation_not_found;
using store::detail::metadata_or_empty_object;

// Reads run concurrently on their own connections (WAL lets readers proceed beside the writer).
// The pool grows on demand up to this many; callers beyond it wait for a free one.
constexpr std::size_t kMaxReaders = 8;
// --- Rows ----------------------------------------------------------------------------------------

// A user's search words as an FTS5 query: each word quoted (so no word is read as an operator or
// column filter), all of them required. Nothing to search for: nullopt.
std::optional<std::string> fts_query(const std::optional<std::string>& q) {
  if (!q) return std::nullopt;
  std::string out;
  std::size_t i = 0;
  while (i < q->size()) {
    while (i < q->size() && std::isspace(static_cast<unsigned char>((*q)[i]))) ++i;
    std::size_t j = i;
    while (j < q->size() && !std::isspace(static_cast<unsigned char>((*q)[j]))) ++j;
    if (j > i) {
      if (!out.empty()) out += ' ';
      out += '"';
      for (char ch : q->substr(i, j - i)) {
        if (ch == '"') out += '"';
        out += ch;
      }
      out += '"';
    }
    i = j;
  }
  if (out.empty()) return std::nullopt;
  return out;
}

Conversation read_conversation(const Statement& st) {
  Conversation c;
  c.id = st.text(0);
  c.user_id = st.text(1);
  c.title = st.optional_text(2);
  c.system_prompt = st.optional_text(3);
  c.model = st.optional_text(4);
  c.metadata = st.text(5);
  c.message_count = st.int64(6);
  c.created_at = from_unix_ms(st.int64(7));
  c.updated_at = from_unix_ms(st.int64(8));
  c.pinned = st.int64(9) != 0;
  c.archived = st.int64(10) != 0;
  c.tags = store::detail::decode_tags(st.text(11));
  c.prompt_id = st.optional_text(12);
  c.title_auto = st.int64(13) != 0;
  c.summary = st.optional_text(14);
  c.summary_through = st.optional_text(15);
  c.knowledge_base_ids = store::detail::decode_tags(st.text(16));
  return c;
}

Prompt read_prompt(const Statement& st) {
  Prompt p;
  p.id = st.text(0);
  p.owner_user_id = st.optional_text(1);
  p.name = st.text(2);
  p.content = st.text(3);
  p.created_at = from_unix_ms(st.int64(4));
  p.updated_at = from_unix_ms(st.int64(5));
  return p;
}

LimitOverride read_limit_override(const Statement& st) {
  LimitOverride o;
  o.user_id = st.text(0);
  o.requests_per_minute = st.optional_int64(1);
  o.tokens_per_minute = st.optional_int64(2);
  o.concurrent_streams = st.optional_int64(3);
  o.daily_budget_micros = st.optional_int64(4);
  o.monthly_budget_micros = st.optional_int64(5);
  o.updated_at = from_unix_ms(st.int64(6));
  return o;
}

UsageTotals read_usage_totals(const Statement& st, int first) {
  UsageTotals t;
  t.requests = st.int64(first);
  t.input_tokens = st.int64(first + 1);
  t.output_tokens = st.int64(first + 2);
  t.cached_input_tokens = st.int64(first + 3);
  t.cache_write_tokens = st.int64(first + 4);
  t.reasoning_tokens = st.int64(first + 5);
  t.cost_micros = st.int64(first + 6);
  t.unpriced_requests = st.int64(first + 7);
  t.estimated_requests = st.int64(first + 8);
  return t;
}

// How many versions a listed message has: its siblings of the same role, itself included.
#define AAS_SQLITE_VERSIONS                                                                 \
  "(SELECT count(*) FROM messages s WHERE s.conversation_id = messages.conversation_id" \
  " AND s.role = messages.role AND s.parent_id IS messages.parent_id)"

Message read_message(const Statement& st);

Message read_message_with_versions(const Statement& st) {
  Message m = read_message(st);
  m.version_count = st.int64(17);
  return m;
}

Message read_message(const Statement& st) {
  Message m;
  m.id = st.text(0);
  m.conversation_id = st.text(1);
  const std::string role = st.text(2);
  const std::string status = st.text(4);
  const auto r = role_from_string(role);
  const auto s = message_status_from_string(status);
  // The CHECK constraints make this unreachable unless the file was edited by hand.
  if (!r || !s)
    throw DbError(SQLITE_MISMATCH, "unexpected role/status '" + role + "/" + status + "'");
  m.role = *r;
  m.content = st.text(3);
  m.status = *s;
  m.model = st.optional_text(5);
  m.input_tokens = st.optional_int64(6);
  m.output_tokens = st.optional_int64(7);
  m.cost_micros = st.optional_int64(8);
  m.latency_ms = st.optional_int64(9);
  m.metadata = st.text(10);
  m.created_at = from_unix_ms(st.int64(11));
  m.parent_id = st.optional_text(12);
  m.active = st.int64(13) != 0;
  m.parts = store::detail::decode_parts(st.optional_text(14));
  m.tool_calls = store::detail::decode_tool_calls(st.optional_text(15));
  m.tool_call_id = st.optional_text(16);
  return m;
}

// --- The store -----------------------------------------------------------------------------------

class SqliteStore final : public Store {
 public:
  SqliteStore(const std::string& path, const Clock& clock)
      : clock_(clock),
        db_(path, kMaxReaders) {}

  Result<void> ping() override {
    return read<void>("ping", [&](Connection& c) -> Result<void> {
      c.prepare("SELECT 1").run();
      return {};
    });
  }

  Result<int> migrate() override {
    return write_locked<int>("migrate", [&](Connection& c) -> Result<int> {
      c.exec(
          "CREATE TABLE IF NOT EXISTS schema_migrations ("
          " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)");
      for (const auto& m : migrations::sqlite_migrations()) {
        // One transaction per migration, re-checked inside it: another process (the `migrate`
        // command beside a running server) may have applied it meanwhile.
        Transaction tx(c, Transaction::Kind::write);
        auto st = c.prepare("SELECT 1 FROM schema_migrations WHERE version = ?1");
        const bool applied = st.bind(1, m.version).step();
        if (applied) continue;
        c.exec(std::string(m.sql));
        c.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)")
            .bind_all(m.version, m.name, to_unix_ms(clock_.now()))
            .run();
        tx.commit();
      }
      return applied_version(c);
    });
  }

  Result<int> schema_version() override {
    return read<int>("schema_version", [&](Connection& c) -> Result<int> {
      Transaction tx(c, Transaction::Kind::read);
      return applied_version(c);
    });
  }

  int latest_schema_version() const override {
    return migrations::latest_version(migrations::sqlite_migrations());
  }

  Result<Conversation> create_conversation(const NewConversation& n) override {
    return write<Conversation>("create_conversation", [&](Connection& c) { return create_in(c, n); });
  }

  Result<Conversation> create_in(Connection& c, const NewConversation& n) {
    const std::int64_t now = to_unix_ms(clock_.now());
    const Conversation conv = store::detail::conversation_from(n, new_uuid_v7(), now);
    if (conv.prompt_id && !prompt_visible(c, conv.user_id, *conv.prompt_id))
      return store::detail::prompt_not_found();
    c.prepare("INSERT INTO conversations (" AAS_CONVERSATION_COLUMNS
              ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, ?7, 0, 0, '', ?8, ?9, NULL, NULL, ?10)")
        .bind_all(conv.id, conv.user_id, conv.title, conv.system_prompt, conv.model,
                  conv.metadata, now, conv.prompt_id, conv.title_auto,
                  store::detail::encode_tags(conv.knowledge_base_ids))
        .run();
    return conv;
  }

  Result<Conversation> get_conversation(std::string_view user_id, std::string_view id) override {
    return read<Conversation>("get_conversation", [&](Connection& c) -> Result<Conversation> {
      auto st = c.prepare("SELECT " AAS_CONVERSATION_COLUMNS
                          " FROM conversations WHERE id = ?1 AND user_id = ?2");
      if (!st.bind_all(id, user_id).step()) return conversation_not_found();
      return read_conversation(st);
    });
  }

  Result<Page<Conversation>> list_conversations(std::string_view user_id, const PageRequest& page,
                                                const ConversationFilter& filter) override {
    auto cursor = store::detail::conversation_cursor_of(page);
    if (!cursor) return cursor.error();
    const std::optional<ConversationCursor>& after = *cursor;
    const int limit = clamp_limit(page.limit);
    const std::optional<std::string> search = fts_query(filter.query);
    return read<Page<Conversation>>(
        "list_conversations", [&](Connection& c) -> Result<Page<Conversation>> {
          // The cursor and the search are parts of the statement only when used, so the plain
          // list stays a range scan of the (user_id, updated_at, id) index; the other filters
          // are "NULL or equal" tests on the rows it reads. Each variant's text is fixed, so
          // the connection's statement cache keeps all four.
          std::string sql = "SELECT " AAS_CONVERSATION_COLUMNS " FROM conversations WHERE user_id = ?1";
          if (after) sql += " AND (updated_at, id) < (?2, ?3)";
          sql += " AND (?5 IS NULL OR archived = ?5) AND (?6 IS NULL OR pinned = ?6)"
                 " AND (?7 IS NULL OR instr(tags, ?7) > 0)";
          if (search)
            sql += " AND (rowid IN (SELECT rowid FROM conversations_fts WHERE conversations_fts MATCH ?8)"
                   " OR id IN (SELECT m.conversation_id FROM messages_fts f"
                   " JOIN messages m ON m.rowid = f.rowid WHERE messages_fts MATCH ?8))";
          sql += " ORDER BY updated_at DESC, id DESC LIMIT ?4";
          auto st = c.prepare(sql);
          st.bind(1, user_id).bind(4, limit + 1);  // one extra row says whether a next page exists
          if (after) st.bind(2, after->updated_at_ms).bind(3, after->id);
          st.bind(5, store::detail::flag(filter.archived))
              .bind(6, store::detail::flag(filter.pinned))
              .bind(7, store::detail::tag_needle(filter));
          if (search) st.bind(8, *search);
          std::vector<Conversation> items;
          items.reserve(static_cast<std::size_t>(limit) + 1);
          while (st.step()) items.push_back(read_conversation(st));
          return store::detail::conversation_page(std::move(items), limit);
        });
  }

  Result<Conversation> update_conversation(std::string_view user_id, std::string_view id,
                                           const ConversationPatch& p) override {
    return write<Conversation>("update_conversation", [&](Connection& c) { return update_in(c, user_id, id, p); });
  }

  Result<Conversation> update_in(Connection& c, std::string_view user_id, std::string_view id,
                                 const ConversationPatch& p) {
    // One fixed statement for every patch: a flag per field says whether to replace it (with
    // NULL when clearing), so the statement is cached instead of built per call.
    auto st = c.prepare(
        "UPDATE conversations SET"
        " title = CASE WHEN ?3 THEN ?4 ELSE title END,"
        " system_prompt = CASE WHEN ?5 THEN ?6 ELSE system_prompt END,"
        " model = CASE WHEN ?7 THEN ?8 ELSE model END,"
        " metadata = CASE WHEN ?9 THEN ?10 ELSE metadata END,"
        " pinned = coalesce(?12, pinned), archived = coalesce(?13, archived),"
        " tags = coalesce(?14, tags),"
        " knowledge_base_ids = coalesce(?18, knowledge_base_ids),"
        " prompt_id = CASE WHEN ?15 THEN ?16 ELSE prompt_id END,"
        " title_auto = CASE WHEN ?3 THEN ?17 ELSE title_auto END,"
        " updated_at = max(updated_at, ?11)"
        " WHERE id = ?1 AND user_id = ?2"
        " RETURNING " AAS_CONVERSATION_COLUMNS);
    // A clear_* flag wins over a value given for the same field.
    auto field = [&](int index, bool clear, const std::optional<std::string>& value) {
      st.bind(index, clear || value.has_value());
      if (clear)
        st.bind_null(index + 1);
      else
        st.bind(index + 1, value);
    };
    st.bind(1, id).bind(2, user_id);
    field(3, p.clear_title, p.title);
    field(5, p.clear_system_prompt, p.system_prompt);
    field(7, p.clear_model, p.model);
    st.bind(9, p.metadata.has_value());
    if (p.metadata)
      st.bind(10, metadata_or_empty_object(*p.metadata));
    else
      st.bind_null(10);
    st.bind(11, to_unix_ms(clock_.now()));
    st.bind(12, store::detail::flag(p.pinned)).bind(13, store::detail::flag(p.archived));
    if (p.tags)
      st.bind(14, store::detail::encode_tags(*p.tags));
    else
      st.bind_null(14);
    if (p.prompt_id && !p.clear_prompt_id && !prompt_visible(c, user_id, *p.prompt_id))
      return store::detail::prompt_not_found();
    field(15, p.clear_prompt_id, p.prompt_id);
    st.bind(17, p.title_auto && p.title.has_value() && !p.clear_title);
    if (p.knowledge_base_ids)
      st.bind(18, store::detail::encode_tags(*p.knowledge_base_ids));
    else
      st.bind_null(18);
    if (!st.step()) return conversation_not_found();
    Conversation conv = read_conversation(st);
    st.run();  // finish the statement before COMMIT
    return conv;
  }

  Result<void> delete_conversation(std::string_view user_id, std::string_view id) override {
    return write<void>("delete_conversation", [&](Connection& c) -> Result<void> {
      // Messages go with it through ON DELETE CASCADE (foreign_keys is on for the writer).
      c.prepare("DELETE FROM conversations WHERE id = ?1 AND user_id = ?2")
          .bind_all(id, user_id)
          .run();
      if (c.changes() == 0) return conversation_not_found();
      return {};
    });
  }

  Result<Message> append_message(std::string_view user_id, const NewMessage& n) override {
    return write<Message>("append_message", [&](Connection& c) { return append_in(c, user_id, n); });
  }

  Result<std::vector<Message>> append_messages(std::string_view user_id,
                                               const std::vector<NewMessage>& messages) override {
    return write<std::vector<Message>>("append_messages", [&](Connection& c) {
      return store::detail::append_each(messages, [&](const NewMessage& n) { return append_in(c, user_id, n); });
    });
  }

  Result<TurnStarted> start_turn(std::string_view user_id, const TurnStart& t) override {
    return write<TurnStarted>("start_turn", [&](Connection& c) { return start_turn_in(c, user_id, t); });
  }
  void start_turn_then(std::string_view user_id, TurnStart t, Then<TurnStarted> done) override {
    db_.write_then<TurnStarted>(
        "start_turn",
        [this, user_id = std::string(user_id), t = std::move(t)](Connection& c) { return start_turn_in(c, user_id, t); },
        std::move(done));
  }
  Result<TurnStarted> start_turn_in(Connection& c, std::string_view user_id, const TurnStart& t) {
    return store::detail::start_turn_in(*this, c, user_id, t);
  }

  Result<bool> checkpoint_message(std::string_view user_id, std::string_view message_id, std::string_view content,
                                  std::int64_t input_tokens, std::int64_t output_tokens,
                                  std::optional<std::int64_t> cost_micros) override {
    return write<bool>("checkpoint_message", [&](Connection& c) -> Result<bool> {
      c.prepare("UPDATE messages SET content = ?3, input_tokens = ?4, output_tokens = ?5, cost_micros = ?6,"
                " metadata = '{\"usageEstimated\":true}'"
                " WHERE id = ?1 AND status = 'streaming' AND EXISTS"
                " (SELECT 1 FROM conversations c WHERE c.id = messages.conversation_id AND c.user_id = ?2)")
          .bind_all(message_id, user_id, content, input_tokens, output_tokens, cost_micros)
          .run();
      return c.changes() > 0;
    });
  }

  Result<Message> append_in(Connection& c, std::string_view user_id, const NewMessage& n) {
    {
      const std::int64_t now = to_unix_ms(clock_.now());
      // The ownership check and the bump in one statement; max() keeps updated_at from moving
      // backwards when the clock does.
      c.prepare(
           "UPDATE conversations SET updated_at = max(updated_at, ?3),"
           " message_count = message_count + 1 WHERE id = ?1 AND user_id = ?2")
          .bind_all(n.conversation_id, user_id, now)
          .run();
      if (c.changes() == 0) return conversation_not_found();

      // The id is issued under the writer lock, so id order is commit order: a reader paging by
      // id never misses a message that commits after it passed a larger id.
      Message m = store::detail::message_from(n, new_uuid_v7(), now);
      // It follows the last message of the active branch.
      auto last = c.prepare("SELECT id FROM messages WHERE conversation_id = ?1 AND active = 1"
                            " ORDER BY id DESC LIMIT 1");
      if (last.bind_all(m.conversation_id).step()) m.parent_id = last.text(0);
      last.run();
      c.prepare("INSERT INTO messages (" AAS_MESSAGE_COLUMNS
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 1, ?14, ?15, ?16)")
          .bind_all(m.id, m.conversation_id, to_string(m.role), m.content, to_string(m.status),
                    m.model, m.input_tokens, m.output_tokens, m.cost_micros, m.latency_ms,
                    m.metadata, now, m.parent_id, store::detail::encode_parts(m.parts),
                    store::detail::encode_tool_calls(m.tool_calls), m.tool_call_id)
          .run();
      if (n.usage) insert_usage(c, *n.usage, m.id, now);
      return m;
    }
  }

  Result<Message> update_message(std::string_view user_id, std::string_view message_id,
                                 const MessageUpdate& u) override {
    return write<Message>("update_message", [&](Connection& c) { return update_message_in(c, user_id, message_id, u); });
  }
  void update_message_then(std::string_view user_id, std::string_view message_id, MessageUpdate u,
                           Then<Message> done) override {
    db_.write_then<Message>("update_message",
                            [this, user_id = std::string(user_id), message_id = std::string(message_id),
                             u = std::move(u)](Connection& c) { return update_message_in(c, user_id, message_id, u); },
                            std::move(done));
  }

  Result<std::vector<Message>> update_message_and_append(std::string_view user_id, std::string_view message_id,
                                                         const MessageUpdate& u,
                                                         const std::vector<NewMessage>& following) override {
    return write<std::vector<Message>>("update_message_and_append", [&](Connection& c) -> Result<std::vector<Message>> {
      return store::detail::update_then_append(
          following, [&] { return update_message_in(c, user_id, message_id, u); },
          [&](const NewMessage& n) { return append_in(c, user_id, n); });
    });
  }

  Result<Message> update_message_in(Connection& c, std::string_view user_id, std::string_view message_id,
                                    const MessageUpdate& u) {
    {
      const std::int64_t now = to_unix_ms(clock_.now());
      // Ownership through the conversation, in the same statement as the update.
      auto st = c.prepare(
          "UPDATE messages SET content = ?3, status = ?4, input_tokens = ?5, output_tokens = ?6,"
          " cost_micros = ?7, latency_ms = ?8, metadata = ?9, tool_calls = ?10"
          " WHERE id = ?1 AND EXISTS"
          " (SELECT 1 FROM conversations c WHERE c.id = messages.conversation_id AND c.user_id = ?2)"
          " RETURNING " AAS_MESSAGE_COLUMNS);
      st.bind_all(message_id, user_id, u.content, to_string(u.status), u.input_tokens,
                  u.output_tokens, u.cost_micros, u.latency_ms, metadata_or_empty_object(u.metadata),
                  store::detail::encode_tool_calls(u.tool_calls));
      if (!st.step()) return store::detail::message_not_found();
      Message m = read_message(st);
      st.run();  // finish the statement before the next one
      c.prepare("UPDATE conversations SET updated_at = max(updated_at, ?2) WHERE id = ?1")
          .bind_all(m.conversation_id, now)
          .run();
      if (u.usage) insert_usage(c, *u.usage, m.id, now);
      return m;
    }
  }

  Result<void> set_summary(std::string_view user_id, std::string_view conversation_id,
                           std::string_view summary, std::string_view through_message_id) override {
    return write<void>("set_summary", [&](Connection& c) -> Result<void> {
      c.prepare("UPDATE conversations SET summary = ?3, summary_through = ?4 WHERE id = ?1 AND user_id = ?2")
          .bind_all(conversation_id, user_id, summary, through_message_id)
          .run();
      if (c.changes() == 0) return conversation_not_found();
      return {};
    });
  }

  Result<Message> get_message(std::string_view user_id, std::string_view message_id) override {
    return read<Message>("get_message", [&](Connection& c) -> Result<Message> {
      auto st = c.prepare("SELECT " AAS_MESSAGE_COLUMNS " FROM messages WHERE id = ?1 AND EXISTS"
                          " (SELECT 1 FROM conversations c WHERE c.id = messages.conversation_id AND c.user_id = ?2)");
      if (!st.bind_all(message_id, user_id).step()) return store::detail::message_not_found();
      return read_message(st);
    });
  }

  Result<std::int64_t> deactivate_from(std::string_view user_id, std::string_view message_id) override {
    return write<std::int64_t>("deactivate_from", [&](Connection& c) { return deactivate_in(c, user_id, message_id); });
  }

  Result<std::int64_t> deactivate_in(Connection& c, std::string_view user_id, std::string_view message_id) {
    auto st = c.prepare("SELECT conversation_id FROM messages WHERE id = ?1 AND active = 1 AND EXISTS"
                        " (SELECT 1 FROM conversations c WHERE c.id = messages.conversation_id AND c.user_id = ?2)");
    if (!st.bind_all(message_id, user_id).step()) return store::detail::message_not_found();
    const std::string conversation = st.text(0);
    st.run();
    c.prepare("UPDATE messages SET active = 0 WHERE conversation_id = ?1 AND active = 1 AND id >= ?2")
        .bind_all(conversation, message_id)
        .run();
    return static_cast<std::int64_t>(c.changes());
  }

  Result<std::vector<Message>> message_versions(std::string_view user_id, std::string_view message_id) override {
    return read<std::vector<Message>>("message_versions", [&](Connection& c) -> Result<std::vector<Message>> {
      Transaction tx(c, Transaction::Kind::read);
      auto one = c.prepare("SELECT conversation_id, role, parent_id FROM messages WHERE id = ?1 AND EXISTS"
                           " (SELECT 1 FROM conversations c WHERE c.id = messages.conversation_id AND c.user_id = ?2)");
      if (!one.bind_all(message_id, user_id).step()) return store::detail::message_not_found();
      const std::string conversation = one.text(0);
      const std::string role = one.text(1);
      const std::optional<std::string> parent = one.optional_text(2);
      one.run();
      auto st = c.prepare("SELECT " AAS_MESSAGE_COLUMNS " FROM messages WHERE conversation_id = ?1"
                          " AND role = ?2 AND parent_id IS ?3 ORDER BY id");
      st.bind_all(conversation, role, parent);
      std::vector<Message> out;
      while (st.step()) out.push_back(read_message(st));
      for (Message& m : out) m.version_count = static_cast<std::int64_t>(out.size());
      return out;
    });
  }

  Result<std::int64_t> interrupt_streaming_messages() override {
    return write<std::int64_t>("interrupt_streaming_messages", [&](Connection& c) -> Result<std::int64_t> {
      const std::int64_t now = to_unix_ms(clock_.now());
      std::vector<UsageRecord> rows;
      std::vector<std::string> ids;
      {
        auto st = c.prepare("SELECT m.id, m.conversation_id, c.user_id, m.model, m.input_tokens, m.output_tokens,"
                            " m.cost_micros FROM messages m JOIN conversations c ON c.id = m.conversation_id"
                            " WHERE m.status = 'streaming'");
        while (st.step()) {
          ids.push_back(st.text(0));
          rows.push_back(recovered_usage(st.text(2), st.text(1), st.is_null(3) ? std::string() : st.text(3),
                                         st.is_null(4) ? 0 : st.int64(4), st.is_null(5) ? 0 : st.int64(5),
                                         st.is_null(6) ? std::nullopt : std::optional<std::int64_t>(st.int64(6))));
        }
      }
      for (std::size_t i = 0; i < ids.size(); ++i) {
        c.prepare("UPDATE messages SET status = 'interrupted', input_tokens = ?2, output_tokens = ?3,"
                  " metadata = '" AAS_RECOVERED_METADATA "' WHERE id = ?1")
            .bind_all(ids[i], rows[i].input_tokens, rows[i].output_tokens)
            .run();
        insert_usage(c, rows[i], ids[i], now);
      }
      return static_cast<std::int64_t>(ids.size());
    });
  }

  Result<Page<Message>> list_messages(std::string_view user_id, std::string_view conversation_id,
                                      const PageRequest& page) override {
    auto cursor = store::detail::message_cursor_of(page);
    if (!cursor) return cursor.error();
    const std::optional<std::string>& after = *cursor;
    const int limit = clamp_limit(page.limit);
    return read<Page<Message>>("list_messages", [&](Connection& c) -> Result<Page<Message>> {
      Transaction tx(c, Transaction::Kind::read);  // the check and the rows from one snapshot
      if (!owns(c, user_id, conversation_id)) return conversation_not_found();
      auto st = after ? c.prepare("SELECT " AAS_MESSAGE_COLUMNS
                                  ", " AAS_SQLITE_VERSIONS " FROM messages WHERE conversation_id = ?1 AND active = 1 AND id > ?2"
                                  " ORDER BY id LIMIT ?3")
                      : c.prepare("SELECT " AAS_MESSAGE_COLUMNS
                                  ", " AAS_SQLITE_VERSIONS " FROM messages WHERE conversation_id = ?1 AND active = 1"
                                  " ORDER BY id LIMIT ?3");
      st.bind(1, conversation_id).bind(3, limit + 1);
      if (after) st.bind(2, *after);
      std::vector<Message> items;
      items.reserve(static_cast<std::size_t>(limit) + 1);
      while (st.step()) items.push_back(read_message_with_versions(st));
      return store::detail::message_page(std::move(items), limit);
    });
  }

  Result<std::vector<Message>> recent_messages(std::string_view user_id,
                                               std::string_view conversation_id,
                                               int max_messages) override {
    return read<std::vector<Message>>(
        "recent_messages", [&](Connection& c) -> Result<std::vector<Message>> {
          Transaction tx(c, Transaction::Kind::read);
          if (!owns(c, user_id, conversation_id)) return conversation_not_found();
          std::vector<Message> out;
          if (max_messages <= 0) return out;
          auto st = c.prepare("SELECT " AAS_MESSAGE_COLUMNS
                              " FROM messages WHERE conversation_id = ?1 AND active = 1"
                              " ORDER BY id DESC LIMIT ?2");
          st.bind_all(conversation_id, max_messages);
          while (st.step()) out.push_back(read_message(st));
          std::reverse(out.begin(), out.end());
          return out;
        });
  }

  Result<void> record_usage(const UsageRecord& r) override {
    return write<void>("record_usage", [&](Connection& c) { return record_usage_in(c, r); });
  }
  void record_usage_then(UsageRecord r, Then<void> done) override {
    db_.write_then<void>("record_usage", [this, r = std::move(r)](Connection& c) { return record_usage_in(c, r); },
                         std::move(done));
  }
  Result<void> record_usage_in(Connection& c, const UsageRecord& r) {
    insert_usage(c, r, r.message_id, to_unix_ms(clock_.now()));
    return {};
  }

  Result<UsageReport> usage_report(const UsageQuery& q) override {
    return read<UsageReport>("usage_report", [&](Connection& c) -> Result<UsageReport> {
      Transaction tx(c, Transaction::Kind::read);
      const auto bind_values = [](Statement& st, const store::detail::UsageSource& src) {
        for (std::size_t i = 0; i < src.values.size(); ++i) st.bind(static_cast<int>(i) + 1, src.values[i]);
      };
      const auto totals_alone = [&]() {
        const store::detail::UsageSource src = store::detail::usage_totals_source(q, '?');
        auto st = c.prepare(store::detail::usage_totals_sql(src));
        bind_values(st, src);
        st.step();
        UsageTotals t = read_usage_totals(st, 0);
        st.run();
        return t;
      };
      UsageReport out;
      if (q.group == UsageGroup::none) {
        out.totals = totals_alone();
        return out;
      }
      // One scan: the page of groups, each row also carrying the totals over all groups (window
      // sums); only an empty page needs the totals asked for apart.
      const store::detail::UsageSource src = store::detail::usage_source(q, '?', utc_day(clock_.now()));
      const int first = static_cast<int>(src.values.size()) + 1;
      auto st = c.prepare(store::detail::usage_page_sql(q, src));
      bind_values(st, src);
      st.bind(first, q.limit + 1).bind(first + 1, q.offset);
      bool have_totals = false;
      while (st.step()) {
        out.rows.push_back({st.text(0), read_usage_totals(st, 1)});
        if (!have_totals) out.totals = read_usage_totals(st, 10);
        have_totals = true;
      }
      if (!have_totals) out.totals = totals_alone();
      if (static_cast<int>(out.rows.size()) > q.limit) {
        out.rows.pop_back();
        out.more = true;
      }
      return out;
    });
  }

  Result<std::int64_t> spent_micros(std::string_view user_id, std::string_view from_day) override {
    return read<std::int64_t>("spent_micros", [&](Connection& c) -> Result<std::int64_t> {
      auto st = c.prepare(
          "SELECT coalesce(sum(cost_micros), 0) FROM usage_daily WHERE user_id = ?1 AND day >= ?2");
      st.bind_all(user_id, from_day);
      st.step();
      return st.int64(0);
    });
  }

  Result<std::optional<LimitOverride>> get_limit_override(std::string_view user_id) override {
    return read<std::optional<LimitOverride>>(
        "get_limit_override", [&](Connection& c) -> Result<std::optional<LimitOverride>> {
          auto st = c.prepare("SELECT " AAS_LIMIT_COLUMNS " FROM limit_overrides WHERE user_id = ?1");
          st.bind_all(user_id);
          if (!st.step()) return std::optional<LimitOverride>();
          return std::optional<LimitOverride>(read_limit_override(st));
        });
  }

  Result<LimitOverride> put_limit_override(const LimitOverride& o) override {
    return write<LimitOverride>("put_limit_override", [&](Connection& c) -> Result<LimitOverride> {
      auto st = c.prepare(AAS_LIMIT_UPSERT("(?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
      st.bind_all(o.user_id, o.requests_per_minute, o.tokens_per_minute, o.concurrent_streams,
                  o.daily_budget_micros, o.monthly_budget_micros, to_unix_ms(clock_.now()));
      st.step();
      LimitOverride saved = read_limit_override(st);
      st.run();
      return saved;
    });
  }

  Result<void> delete_limit_override(std::string_view user_id) override {
    return write<void>("delete_limit_override", [&](Connection& c) -> Result<void> {
      c.prepare("DELETE FROM limit_overrides WHERE user_id = ?1").bind_all(user_id).run();
      if (c.changes() == 0) return store::detail::limit_override_not_found();
      return {};
    });
  }

  Result<Prompt> create_prompt(const NewPrompt& n) override {
    return write<Prompt>("create_prompt", [&](Connection& c) -> Result<Prompt> {
      const std::int64_t now = to_unix_ms(clock_.now());
      auto st = c.prepare("INSERT INTO prompts (" AAS_PROMPT_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?5)"
                          " RETURNING " AAS_PROMPT_COLUMNS);
      st.bind_all(new_uuid_v7(), n.owner_user_id, n.name, n.content, now);
      st.step();
      Prompt p = read_prompt(st);
      st.run();
      return p;
    });
  }

  Result<Prompt> get_prompt(std::string_view user_id, std::string_view id) override {
    return read<Prompt>("get_prompt", [&](Connection& c) -> Result<Prompt> {
      auto st = c.prepare("SELECT " AAS_PROMPT_COLUMNS " FROM prompts"
                          " WHERE id = ?1 AND (owner_user_id = ?2 OR owner_user_id IS NULL)");
      if (!st.bind_all(id, user_id).step()) return store::detail::prompt_not_found();
      return read_prompt(st);
    });
  }

  Result<Page<Prompt>> list_prompts(std::string_view user_id, const PageRequest& page) override {
    auto after = store::detail::message_cursor_of(page);
    if (!after) return after.error();
    const int limit = clamp_limit(page.limit);
    return read<Page<Prompt>>("list_prompts", [&](Connection& c) -> Result<Page<Prompt>> {
      auto st = c.prepare("SELECT " AAS_PROMPT_COLUMNS " FROM prompts"
                          " WHERE (owner_user_id = ?1 OR owner_user_id IS NULL)"
                          " AND (?2 IS NULL OR id > ?2) ORDER BY id LIMIT ?3");
      st.bind(1, user_id).bind(2, *after).bind(3, limit + 1);
      std::vector<Prompt> items;
      while (st.step()) items.push_back(read_prompt(st));
      return store::detail::prompt_page(std::move(items), limit);
    });
  }

  Result<Prompt> update_prompt(const std::optional<std::string>& owner, std::string_view id,
                               const PromptPatch& patch) override {
    return write<Prompt>("update_prompt", [&](Connection& c) -> Result<Prompt> {
      auto st = c.prepare(
          "UPDATE prompts SET name = coalesce(?3, name), content = coalesce(?4, content),"
          " updated_at = max(updated_at, ?5)"
          " WHERE id = ?1 AND owner_user_id IS ?2 RETURNING " AAS_PROMPT_COLUMNS);
      st.bind_all(id, owner, patch.name, patch.content, to_unix_ms(clock_.now()));
      if (!st.step()) return store::detail::prompt_not_found();
      Prompt p = read_prompt(st);
      st.run();
      return p;
    });
  }

  Result<void> delete_prompt(const std::optional<std::string>& owner, std::string_view id) override {
    return write<void>("delete_prompt", [&](Connection& c) -> Result<void> {
      c.prepare("DELETE FROM prompts WHERE id = ?1 AND owner_user_id IS ?2").bind_all(id, owner).run();
      if (c.changes() == 0) return store::detail::prompt_not_found();
      return {};
    });
  }

 private:
  static bool prompt_visible(Connection& c, std::string_view user_id, std::string_view prompt_id) {
    return c.prepare("SELECT 1 FROM prompts WHERE id = ?1 AND (owner_user_id = ?2 OR owner_user_id IS NULL)")
        .bind_all(prompt_id, user_id)
        .step();
  }

  // The ledger row and its share of the daily rollup, inside the caller's write transaction.
  void insert_usage(Connection& c, const UsageRecord& r, const std::optional<std::string>& message_id,
                    std::int64_t now) {
    c.prepare(
         "INSERT INTO usage_ledger (" AAS_USAGE_LEDGER_COLUMNS ")"
         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,"
         " ?19, ?20)")
        .bind_all(new_uuid_v7(), r.user_id, r.conversation_id, message_id, r.kind, r.model,
                  r.deployment, r.provider, r.input_tokens, r.output_tokens, r.cached_input_tokens,
                  r.cache_write_tokens, r.reasoning_tokens, r.cost_micros, r.latency_ms, r.ttft_ms,
                  r.status, r.estimated, r.request_id, now)
        .run();
    c.prepare(AAS_USAGE_DAILY_UPSERT(
                  "(?1, ?2, ?3, 1, ?4, ?5, ?6, ?7, ?8, coalesce(?9, 0), ?10, ?11)"))
        .bind_all(utc_day(from_unix_ms(now)), r.user_id, r.model, r.input_tokens, r.output_tokens,
                  r.cached_input_tokens, r.cache_write_tokens, r.reasoning_tokens, r.cost_micros,
                  store::detail::unpriced_count(r), store::detail::estimated_count(r))
        .run();
  }

  static bool owns(Connection& c, std::string_view user_id, std::string_view conversation_id) {
    return c.prepare("SELECT 1 FROM conversations WHERE id = ?1 AND user_id = ?2")
        .bind_all(conversation_id, user_id)
        .step();
  }

  // The highest applied migration, 0 on a database never migrated.
  static int applied_version(Connection& c) {
    auto exists = c.prepare(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'");
    if (!exists.step()) return 0;
    auto st = c.prepare("SELECT coalesce(max(version), 0) FROM schema_migrations");
    st.step();
    return static_cast<int>(st.int64(0));
  }

  template <class T, class F>
  Result<T> read(std::string_view op, F&& f) {
    return db_.read<T>(op, std::forward<F>(f));
  }
  template <class T, class F>
  Result<T> write_locked(std::string_view op, F&& f) {
    return db_.write_locked<T>(op, std::forward<F>(f));
  }
  template <class T, class F>
  Result<T> write(std::string_view op, F&& f) {
    return db_.write<T>(op, std::forward<F>(f));
  }

  const Clock& clock_;
  detail::Database db_;
};


}  // namespace

std::unique_ptr<Store> open_sqlite_store(const std::string& path, const Clock& clock) {
  try {
    if (path != ":memory:") {
      const auto parent = std::filesystem::path(path).parent_path();
      if (!parent.empty()) std::filesystem::create_directories(parent);
    }
    return std::make_unique<SqliteStore>(path, clock);
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot open SQLite database '" + path + "': " + e.what());
  }
}

}  // namespace aas::store::sqlite
