#include "store/postgres/postgres_store.hpp"

#include "core/ids.hpp"
#include "store/cursor.hpp"
#include "store/detail/common.hpp"
#include "store/detail/structured.hpp"
#include "store/detail/pool.hpp"
#include "store/detail/usage_rollup.hpp"
#include "store/migrations/postgres.hpp"
#include "store/postgres/pq.hpp"
#include "store/postgres/unit.hpp"
#include "store/postgres/writer.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <utility>
#include <vector>

namespace aas::store::postgres {

namespace {

using detail::Connection;
using detail::DailyUsage;
using detail::Params;
using detail::PgError;
using detail::Pipeline;
using detail::Rows;
using detail::Transaction;
using store::detail::clamp_limit;
using store::detail::recovered_usage;
using store::detail::conversation_not_found;
using store::detail::metadata_or_empty_object;

// Connections per store (per replica). Opened on demand; a request beyond them waits for one.
constexpr std::size_t kPoolSize = 8;
// Group-committed batches that may run at once, each on one of those connections. Measured on
// the loaded 2-core machine (chat turns, one user, durable server): 1 writer 126 turns/s, 4
// writers 158 (each batch's server process gets its own share of the CPU; docs/benchmarks.md).
constexpr std::size_t kWriters = 4;

// Statements that run both step by step and pipelined (detail::Writer): one text each, so both
// share the connection's prepared statement.
constexpr std::string_view kInsertConversation =
    "INSERT INTO conversations (" AAS_CONVERSATION_COLUMNS
    ") VALUES ($1, $2, $3, $4, $5, $6, $11, $7, $7, 0, 0, '', $8, $9, NULL, NULL, $10)";
// An append's ownership check, and its lock on the conversation row (see append_message).
constexpr std::string_view kTouchConversation =
    "UPDATE conversations SET updated_at = GREATEST(updated_at, $3),"
    " message_count = message_count + 1 WHERE id = $1 AND user_id = $2";
// Pipelined (detail::Writer), a write that cannot go ahead must fail in SQL, so that the server
// skips the rest of the batch and its COMMIT: these wrap a statement as `WITH x AS (...) SELECT
// 1 / count(*) FROM x`, a division by zero when it touched no row.
#define AAS_PG_OR_FAIL(STATEMENT) "WITH x AS (" STATEMENT " RETURNING 1) SELECT 1 / count(*) FROM x"
constexpr std::string_view kTouchConversationOrFail = AAS_PG_OR_FAIL(
    "UPDATE conversations SET updated_at = GREATEST(updated_at, $3),"
    " message_count = message_count + 1 WHERE id = $1 AND user_id = $2");
// A pipelined append: the id was issued before the conversation's lock was granted, so it is
// inserted only when it still follows every message of the conversation (otherwise the batch
// fails and the write runs again step by step); the parent is read here, after the lock.
constexpr std::string_view kInsertMessageAfter =
    "WITH x AS (INSERT INTO messages (" AAS_MESSAGE_COLUMNS ") SELECT $1::text, $2::text, $3::text, $4::text,"
    " $5::text, $6::text, $7::bigint, $8::bigint, $9::bigint, $10::bigint, $11::text, $12::bigint,"
    " (SELECT max(id) FROM messages WHERE conversation_id = $2 AND active = 1), 1, $13::text, $14::text,"
    " $15::text WHERE NOT EXISTS (SELECT 1 FROM messages WHERE conversation_id = $2 AND id >= $1)"
    " AND EXISTS (SELECT 1 FROM conversations WHERE id = $2 AND user_id = $16) RETURNING parent_id)"
    " SELECT max(parent_id), 1 / count(*) FROM x";
// An answer's update: the conversation first (ownership, and its row lock), then the message.
#define AAS_PG_TOUCH_FOR_MESSAGE                                   \
  "UPDATE conversations SET updated_at = GREATEST(updated_at, $3)" \
  " WHERE user_id = $2 AND id = (SELECT conversation_id FROM messages WHERE id = $1)"
constexpr std::string_view kTouchForMessage = AAS_PG_TOUCH_FOR_MESSAGE;
constexpr std::string_view kTouchForMessageOrFail = AAS_PG_OR_FAIL(AAS_PG_TOUCH_FOR_MESSAGE);
constexpr std::string_view kUpdateMessage =
    "UPDATE messages SET content = $2, status = $3, input_tokens = $4, output_tokens = $5,"
    " cost_micros = $6, latency_ms = $7, metadata = $8, tool_calls = $9 WHERE id = $1"
    " RETURNING " AAS_MESSAGE_COLUMNS;
// The advisory lock that serialises migrations across processes ("aas_mig" in ASCII).
constexpr std::int64_t kMigrationLockKey = 0x6161735f6d6967;

// --- Rows ----------------------------------------------------------------------------------------

Conversation read_conversation(const Rows& r, int i) {
  Conversation c;
  c.id = r.text(i, 0);
  c.user_id = r.text(i, 1);
  c.title = r.optional_text(i, 2);
  c.system_prompt = r.optional_text(i, 3);
  c.model = r.optional_text(i, 4);
  c.metadata = r.text(i, 5);
  c.message_count = r.int64(i, 6);
  c.created_at = from_unix_ms(r.int64(i, 7));
  c.updated_at = from_unix_ms(r.int64(i, 8));
  c.pinned = r.int64(i, 9) != 0;
  c.archived = r.int64(i, 10) != 0;
  c.tags = store::detail::decode_tags(r.text(i, 11));
  c.prompt_id = r.optional_text(i, 12);
  c.title_auto = r.int64(i, 13) != 0;
  c.summary = r.optional_text(i, 14);
  c.summary_through = r.optional_text(i, 15);
  c.knowledge_base_ids = store::detail::decode_tags(r.text(i, 16));
  return c;
}

Prompt read_prompt(const Rows& r, int i) {
  Prompt p;
  p.id = r.text(i, 0);
  p.owner_user_id = r.optional_text(i, 1);
  p.name = r.text(i, 2);
  p.content = r.text(i, 3);
  p.created_at = from_unix_ms(r.int64(i, 4));
  p.updated_at = from_unix_ms(r.int64(i, 5));
  return p;
}

// How many versions a listed message has: its siblings of the same role, itself included.
#define AAS_PG_VERSIONS                                                                       \
  "(SELECT count(*) FROM messages s WHERE s.conversation_id = messages.conversation_id"   \
  " AND s.role = messages.role AND s.parent_id IS NOT DISTINCT FROM messages.parent_id)"

Message read_message(const Rows& r, int i) {
  Message m;
  m.id = r.text(i, 0);
  m.conversation_id = r.text(i, 1);
  const std::string role = r.text(i, 2);
  const std::string status = r.text(i, 4);
  const auto ro = role_from_string(role);
  const auto st = message_status_from_string(status);
  // The CHECK constraints make this unreachable unless the table was edited by hand.
  if (!ro || !st) throw PgError("", "unexpected role/status '" + role + "/" + status + "'", false);
  m.role = *ro;
  m.content = r.text(i, 3);
  m.status = *st;
  m.model = r.optional_text(i, 5);
  m.input_tokens = r.optional_int64(i, 6);
  m.output_tokens = r.optional_int64(i, 7);
  m.cost_micros = r.optional_int64(i, 8);
  m.latency_ms = r.optional_int64(i, 9);
  m.metadata = r.text(i, 10);
  m.created_at = from_unix_ms(r.int64(i, 11));
  m.parent_id = r.optional_text(i, 12);
  m.active = r.int64(i, 13) != 0;
  m.parts = store::detail::decode_parts(r.optional_text(i, 14));
  m.tool_calls = store::detail::decode_tool_calls(r.optional_text(i, 15));
  m.tool_call_id = r.optional_text(i, 16);
  if (r.columns() > 17) m.version_count = r.int64(i, 17);
  return m;
}

std::vector<Message> read_messages(const Rows& r) {
  std::vector<Message> out;
  out.reserve(static_cast<std::size_t>(r.size()));
  for (int i = 0; i < r.size(); ++i) out.push_back(read_message(r, i));
  return out;
}

LimitOverride read_limit_override(const Rows& r, int i) {
  LimitOverride o;
  o.user_id = r.text(i, 0);
  o.requests_per_minute = r.optional_int64(i, 1);
  o.tokens_per_minute = r.optional_int64(i, 2);
  o.concurrent_streams = r.optional_int64(i, 3);
  o.daily_budget_micros = r.optional_int64(i, 4);
  o.monthly_budget_micros = r.optional_int64(i, 5);
  o.updated_at = from_unix_ms(r.int64(i, 6));
  return o;
}

UsageTotals read_usage_totals(const Rows& r, int i, int first) {
  UsageTotals t;
  t.requests = r.int64(i, first);
  t.input_tokens = r.int64(i, first + 1);
  t.output_tokens = r.int64(i, first + 2);
  t.cached_input_tokens = r.int64(i, first + 3);
  t.cache_write_tokens = r.int64(i, first + 4);
  t.reasoning_tokens = r.int64(i, first + 5);
  t.cost_micros = r.int64(i, first + 6);
  t.unpriced_requests = r.int64(i, first + 7);
  t.estimated_requests = r.int64(i, first + 8);
  return t;
}

// A UUIDv7 greater than `last` (another UUIDv7): one millisecond after it.
std::string uuid_after(const std::string& last) {
  std::int64_t ms = 0;
  for (char ch : last.substr(0, 8) + last.substr(9, 4))
    ms = ms * 16 + (ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10);
  return new_uuid_v7(from_unix_ms(ms + 1));
}

// --- Connection pool -----------------------------------------------------------------------------

// Up to kPoolSize connections, opened on demand and kept. A connection goes back to the pool only
// when libpq still reports it connected and outside a transaction; a broken one is dropped and
// the next acquire opens a new one. A connection the server dropped while it sat idle (a restart,
// an idle timeout) is only noticed when used: the store then retries the work on a fresh
// connection (see PostgresStore::run) and closes the other idle ones with it (drop_idle), so no
// health-check round trip is paid on every acquire.
using detail::Pool;
using detail::Tx;
using detail::acquire;

class PostgresStore final : public Store {
 public:
  PostgresStore(const std::string& url, const Clock& clock)
      : clock_(clock),
        pool_(kPoolSize, [url] { return std::make_unique<Connection>(url); },
              [](const Connection& c) { return c.reusable(); }) {
    // Fail at start-up, not on the first request, when the server cannot be reached.
    auto first = acquire(pool_);
  }

  Result<void> ping() override {
    return run<void>("ping", Tx::none, [&](Connection& c) -> Result<void> {
      c.query("SELECT 1");
      return {};
    });
  }

  Result<int> migrate() override {
    return run<int>("migrate", Tx::none, [&](Connection& c) -> Result<int> {
      for (const auto& m : migrations::postgres_migrations()) {
        // One transaction per migration, under a transaction-scoped advisory lock: replicas
        // starting together (or `migrate` beside a running server) queue here, and each re-checks
        // inside the lock whether another process applied the migration meanwhile. Even creating
        // schema_migrations happens under the lock (two concurrent CREATE TABLE IF NOT EXISTS
        // can otherwise collide).
        Transaction tx(c, Transaction::Kind::write);
        c.query_with("SELECT pg_advisory_xact_lock($1)", kMigrationLockKey);
        c.exec(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)");
        if (!c.query_with("SELECT 1 FROM schema_migrations WHERE version = $1", m.version).empty())
          continue;  // rolled back: nothing to keep, and the lock goes with it
        c.exec(std::string(m.sql));
        c.query_with("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                     m.version, m.name, to_unix_ms(clock_.now()));
        tx.commit();
      }
      return applied_version(c);
    });
  }

  Result<int> schema_version() override {
    return run<int>("schema_version", Tx::read,
                    [&](Connection& c) -> Result<int> { return applied_version(c); });
  }

  int latest_schema_version() const override {
    return migrations::latest_version(migrations::postgres_migrations());
  }

  Result<Conversation> create_conversation(const NewConversation& n) override {
    return run<Conversation>("create_conversation", Tx::none, [&](Connection& c) { return create_in(c, n); });
  }

  Result<Conversation> create_in(Connection& c, const NewConversation& n) {
    const std::int64_t now = to_unix_ms(clock_.now());
    const Conversation conv = store::detail::conversation_from(n, new_uuid_v7(), now);
    if (conv.prompt_id && !prompt_visible(c, conv.user_id, *conv.prompt_id))
      return store::detail::prompt_not_found();
    insert_conversation(c, conv, now);
    return conv;
  }

  // `c`: a Connection, or a Pipeline. `messages`: the count of those its transaction appends
  // without touching it (a pipelined turn's).
  template <class C>
  static void insert_conversation(C& c, const Conversation& conv, std::int64_t now, std::int64_t messages = 0) {
    c.query_with(kInsertConversation, conv.id, conv.user_id, conv.title, conv.system_prompt, conv.model,
                 conv.metadata, now, conv.prompt_id, std::int64_t{conv.title_auto ? 1 : 0},
                 store::detail::encode_tags(conv.knowledge_base_ids), messages);
  }

  Result<Conversation> get_conversation(std::string_view user_id, std::string_view id) override {
    return run<Conversation>("get_conversation", Tx::none, [&](Connection& c) -> Result<Conversation> {
      const Rows r = c.query_with("SELECT " AAS_CONVERSATION_COLUMNS
                                  " FROM conversations WHERE id = $1 AND user_id = $2",
                                  id, user_id);
      if (r.empty()) return conversation_not_found();
      return read_conversation(r, 0);
    });
  }

  Result<Page<Conversation>> list_conversations(std::string_view user_id, const PageRequest& page,
                                                const ConversationFilter& filter) override {
    auto cursor = store::detail::conversation_cursor_of(page);
    if (!cursor) return cursor.error();
    const std::optional<ConversationCursor>& after = *cursor;
    const int limit = clamp_limit(page.limit);
    std::optional<std::string> search = filter.query;
    if (search && search->find_first_not_of(" \t\r\n") == std::string::npos) search.reset();
    return run<Page<Conversation>>(
        "list_conversations", Tx::none, [&](Connection& c) -> Result<Page<Conversation>> {
          // One statement for every filter: "NULL or equal" tests on the rows of the
          // (user_id, updated_at, id) index, the cursor as a row comparison when given. One
          // extra row says whether a next page exists.
          const Rows r = c.query_with(
              "SELECT " AAS_CONVERSATION_COLUMNS " FROM conversations WHERE user_id = $1"
              " AND ($2::bigint IS NULL OR (updated_at, id) < ($2, $3::text))"
              " AND ($5::integer IS NULL OR archived = $5) AND ($6::integer IS NULL OR pinned = $6)"
              " AND ($7::text IS NULL OR strpos(tags, $7) > 0)"
              " AND ($8::text IS NULL"
              "      OR title_search @@ plainto_tsquery('simple', $8)"
              "      OR id IN (SELECT conversation_id FROM messages"
              "                WHERE search @@ plainto_tsquery('simple', $8)))"
              " ORDER BY updated_at DESC, id DESC LIMIT $4",
              user_id, after ? std::optional<std::int64_t>(after->updated_at_ms) : std::nullopt,
              after ? std::optional<std::string>(after->id) : std::nullopt, limit + 1,
              store::detail::flag(filter.archived), store::detail::flag(filter.pinned),
              store::detail::tag_needle(filter), search);
          std::vector<Conversation> items;
          items.reserve(static_cast<std::size_t>(r.size()));
          for (int i = 0; i < r.size(); ++i) items.push_back(read_conversation(r, i));
          return store::detail::conversation_page(std::move(items), limit);
        });
  }

  Result<Conversation> update_conversation(std::string_view user_id, std::string_view id,
                                           const ConversationPatch& p) override {
    return run<Conversation>("update_conversation", Tx::none, [&](Connection& c) { return update_in(c, user_id, id, p); });
  }

  Result<Conversation> update_in(Connection& c, std::string_view user_id, std::string_view id,
                                 const ConversationPatch& p) {
    // One fixed statement for every patch: a flag per field says whether to replace it (with
    // NULL when clearing); a clear_* flag wins over a value given for the same field.
    const auto value = [](bool clear, const std::optional<std::string>& v) {
      return clear ? std::nullopt : v;
    };
    if (p.prompt_id && !p.clear_prompt_id && !prompt_visible(c, user_id, *p.prompt_id))
      return store::detail::prompt_not_found();
    std::optional<std::string> metadata;
    if (p.metadata) metadata = std::string(metadata_or_empty_object(*p.metadata));
    const Rows r = c.query_with(
        "UPDATE conversations SET"
        " title = CASE WHEN $3 THEN $4 ELSE title END,"
        " system_prompt = CASE WHEN $5 THEN $6 ELSE system_prompt END,"
        " model = CASE WHEN $7 THEN $8 ELSE model END,"
        " metadata = CASE WHEN $9 THEN $10 ELSE metadata END,"
        " pinned = coalesce($12::integer, pinned), archived = coalesce($13::integer, archived),"
        " tags = coalesce($14::text, tags),"
        " knowledge_base_ids = coalesce($18::text, knowledge_base_ids),"
        " prompt_id = CASE WHEN $15 THEN $16 ELSE prompt_id END,"
        " title_auto = CASE WHEN $3 THEN $17 ELSE title_auto END,"
        " updated_at = GREATEST(updated_at, $11)"
        " WHERE id = $1 AND user_id = $2"
        " RETURNING " AAS_CONVERSATION_COLUMNS,
        id, user_id, p.clear_title || p.title.has_value(), value(p.clear_title, p.title),
        p.clear_system_prompt || p.system_prompt.has_value(),
        value(p.clear_system_prompt, p.system_prompt), p.clear_model || p.model.has_value(),
        value(p.clear_model, p.model), p.metadata.has_value(), metadata,
        to_unix_ms(clock_.now()), store::detail::flag(p.pinned), store::detail::flag(p.archived),
        p.tags ? std::optional<std::string>(store::detail::encode_tags(*p.tags)) : std::nullopt,
        p.clear_prompt_id || p.prompt_id.has_value(), value(p.clear_prompt_id, p.prompt_id),
        std::int64_t{p.title_auto && p.title.has_value() && !p.clear_title ? 1 : 0},
        p.knowledge_base_ids ? std::optional<std::string>(store::detail::encode_tags(*p.knowledge_base_ids))
                             : std::nullopt);
    if (r.empty()) return conversation_not_found();
    return read_conversation(r, 0);
  }

  Result<void> delete_conversation(std::string_view user_id, std::string_view id) override {
    return run<void>("delete_conversation", Tx::none, [&](Connection& c) -> Result<void> {
      // Messages go with it through ON DELETE CASCADE.
      if (c.query_with("DELETE FROM conversations WHERE id = $1 AND user_id = $2", id, user_id)
              .affected() == 0)
        return conversation_not_found();
      return {};
    });
  }

  // Message ids must be issued in commit order within a conversation, or a reader paging by id
  // (list_messages' keyset cursor) could pass an id and then miss a message that commits later
  // with a smaller one. SQLite gets this from its single writer; here appends run on several
  // connections (and replicas), so each append first takes the conversation's row lock — the
  // UPDATE that checks ownership and bumps updated_at/message_count locks the row until COMMIT,
  // exactly as SELECT ... FOR UPDATE would, without an extra round trip — and issues the id only
  // once it holds the lock. Appends to one conversation thus run one after another; appends to
  // different conversations do not wait for each other. (A transaction-scoped advisory lock
  // keyed by a hash of the id would serialise the same way but can collide between unrelated
  // conversations and is not tied to the row existing.)
  //
  // UUIDv7 ids are strictly increasing within one process; across replicas their clocks may
  // differ, so the id is also checked against the conversation's newest message, read after the
  // lock was granted (a new statement, hence a new READ COMMITTED snapshot that sees every append
  // that held the lock before), and moved past it when a skewed clock put it behind.
  Result<Message> append_message(std::string_view user_id, const NewMessage& n) override {
    struct Plan {
      PostgresStore& s;
      std::string_view user_id;
      const NewMessage& n;
      PendingAppend a;
      void send(Pipeline& p, DailyUsage& usage) { a = s.send_append(p, usage, user_id, n, to_unix_ms(s.clock_.now())); }
      Result<Message> receive(const Pipeline& p) { return receive_append(p, a); }
      Result<Message> run(Connection& c) { return s.append_in(c, user_id, n); }
    } plan{*this, user_id, n, {}};
    return writer_.write<Message>("append_message", plan);
  }

  Result<std::vector<Message>> append_messages(std::string_view user_id,
                                               const std::vector<NewMessage>& messages) override {
    return run<std::vector<Message>>("append_messages", Tx::write, [&](Connection& c) {
      return store::detail::append_each(messages, [&](const NewMessage& n) { return append_in(c, user_id, n); });
    });
  }

  // A pipelined append (kInsertMessageAfter): the message as it will read back, and the ticket
  // of its insert.
  struct PendingAppend {
    std::size_t insert = 0;
    Message m;
  };

  // The common turn (a new conversation, or a message to one that needs no change) is pipelined;
  // one that reads before it writes (a prompt to check, a branch to cut, a patch) runs step by
  // step in its own transaction.
  static bool pipelined(const TurnStart& t) {
    return !t.deactivate_from && !t.patch && !(t.create && t.create->prompt_id);
  }

  Result<TurnStarted> start_turn(std::string_view user_id, const TurnStart& t) override {
    if (!pipelined(t))
      return run<TurnStarted>("start_turn", Tx::write, [&](Connection& c) { return start_turn_in(c, user_id, t); });
    StartTurn plan{*this, std::string(user_id), t};
    return writer_.write<TurnStarted>("start_turn", plan);
  }
  void start_turn_then(std::string_view user_id, TurnStart t, Then<TurnStarted> done) override {
    if (!pipelined(t)) return done(start_turn(user_id, t));  // not a chat turn's common path
    writer_.write_then<TurnStarted>("start_turn", StartTurn{*this, std::string(user_id), std::move(t)},
                                    std::move(done));
  }

  Result<TurnStarted> start_turn_in(Connection& c, std::string_view user_id, const TurnStart& t) {
    return store::detail::start_turn_in(*this, c, user_id, t);
  }

  // A pipelined start_turn (detail::Writer's plan); owns its input, as write_then keeps it.
  struct StartTurn {
    PostgresStore& s;
    std::string user_id;
    TurnStart t;
    std::optional<Conversation> conv;
    std::vector<PendingAppend> appends;
    void send(Pipeline& p, DailyUsage& usage) {
      const std::int64_t now = to_unix_ms(s.clock_.now());
      conv.reset();
      appends.clear();
      if (t.create) {
        conv = store::detail::conversation_from(*t.create, new_uuid_v7(), now);
        // Inserted with the message count and time the appends would leave it with: a
        // conversation this transaction creates needs no touch (no lock to take, nobody else can
        // see it), which spares two row updates per new conversation's turn.
        insert_conversation(p, *conv, now, static_cast<std::int64_t>(t.messages.size()));
      }
      for (NewMessage n : t.messages) {
        n.conversation_id = conv ? conv->id : t.conversation_id;
        appends.push_back(s.send_append(p, usage, user_id, n, now, !conv));
      }
    }
    Result<TurnStarted> receive(const Pipeline& p) {
      TurnStarted out;
      if (conv) out.conversation = *conv;
      for (PendingAppend& a : appends) {
        auto m = receive_append(p, a);
        if (!m) return m.error();
        out.messages.push_back(std::move(*m));
      }
      return out;
    }
    Result<TurnStarted> run(Connection& c) { return s.start_turn_in(c, user_id, t); }
  };

  // `touch`: take the conversation's row lock and count the message (false: the batch created it).
  PendingAppend send_append(Pipeline& p, DailyUsage& usage, std::string_view user_id, const NewMessage& n,
                            std::int64_t now, bool touch = true) {
    PendingAppend a;
    a.m = store::detail::message_from(n, new_uuid_v7(), now);
    const Message& m = a.m;
    if (touch) p.query_with(kTouchConversationOrFail, n.conversation_id, user_id, now);
    a.insert = p.query_with(kInsertMessageAfter, m.id, m.conversation_id, to_string(m.role), m.content,
                            to_string(m.status), m.model, m.input_tokens, m.output_tokens, m.cost_micros,
                            m.latency_ms, m.metadata, now, store::detail::encode_parts(m.parts),
                            store::detail::encode_tool_calls(m.tool_calls), m.tool_call_id, user_id);
    if (n.usage) insert_usage(p, usage, *n.usage, m.id, now);
    return a;
  }

  // Committed: a conversation not the user's, or another append that committed a later id first,
  // failed the batch in SQL instead (the append then ran again step by step, its id issued under
  // the lock).
  static Result<Message> receive_append(const Pipeline& p, PendingAppend& a) {
    a.m.parent_id = p.result(a.insert).optional_text(0, 0);
    return a.m;
  }

  Result<bool> checkpoint_message(std::string_view user_id, std::string_view message_id, std::string_view content,
                                  std::int64_t input_tokens, std::int64_t output_tokens,
                                  std::optional<std::int64_t> cost_micros) override {
    return run<bool>("checkpoint_message", Tx::none, [&](Connection& c) -> Result<bool> {
      // No conversation row lock (unlike update_message): only this message's row, and only while
      // it is still streaming, so the final update (which locks it too) always wins.
      return c.query_with("UPDATE messages SET content = $3, input_tokens = $4, output_tokens = $5,"
                          " cost_micros = $6, metadata = '{\"usageEstimated\":true}'"
                          " WHERE id = $1 AND status = 'streaming' AND EXISTS"
                          " (SELECT 1 FROM conversations c WHERE c.id = messages.conversation_id AND c.user_id = $2)",
                          message_id, user_id, content, input_tokens, output_tokens, cost_micros)
                 .affected() > 0;
    });
  }

  Result<Message> append_in(Connection& c, std::string_view user_id, const NewMessage& n) {
    {
      const std::int64_t now = to_unix_ms(clock_.now());
      // GREATEST keeps updated_at from moving backwards when the clock does.
      if (c.query_with(kTouchConversation, n.conversation_id, user_id, now).affected() == 0)
        return conversation_not_found();
      const Rows last =
          c.query_with("SELECT max(id) FROM messages WHERE conversation_id = $1", n.conversation_id);

      std::string id = new_uuid_v7();
      if (!last.is_null(0, 0)) {
        const std::string newest = last.text(0, 0);
        if (id <= newest) id = uuid_after(newest);
      }
      Message m = store::detail::message_from(n, std::move(id), now);
      // It follows the last message of the active branch.
      const Rows tip = c.query_with("SELECT max(id) FROM messages WHERE conversation_id = $1 AND active = 1",
                                    n.conversation_id);
      if (!tip.is_null(0, 0)) m.parent_id = tip.text(0, 0);
      c.query_with("INSERT INTO messages (" AAS_MESSAGE_COLUMNS
                   ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 1, $14, $15, $16)",
                   m.id, m.conversation_id, to_string(m.role), m.content, to_string(m.status),
                   m.model, m.input_tokens, m.output_tokens, m.cost_micros, m.latency_ms,
                   m.metadata, now, m.parent_id, store::detail::encode_parts(m.parts),
                   store::detail::encode_tool_calls(m.tool_calls), m.tool_call_id);
      if (n.usage) insert_usage(c, *n.usage, m.id, now);
      return m;
    }
  }

  Result<Message> update_message(std::string_view user_id, std::string_view message_id,
                                 const MessageUpdate& u) override {
    UpdateMessage plan{*this, std::string(user_id), std::string(message_id), u};
    return writer_.write<Message>("update_message", plan);
  }
  void update_message_then(std::string_view user_id, std::string_view message_id, MessageUpdate u,
                           Then<Message> done) override {
    writer_.write_then<Message>("update_message",
                                UpdateMessage{*this, std::string(user_id), std::string(message_id), std::move(u)},
                                std::move(done));
  }

  // A pipelined update_message. The conversation first (ownership, and its row lock), then the
  // message: the same lock order as append_message and delete_conversation (whose cascade locks
  // the messages after the conversation), so none of them can deadlock another.
  struct UpdateMessage {
    PostgresStore& s;
    std::string user_id;
    std::string message_id;
    MessageUpdate u;
    std::size_t update = 0;
    void send(Pipeline& p, DailyUsage& usage) {
      const std::int64_t now = to_unix_ms(s.clock_.now());
      p.query_with(kTouchForMessageOrFail, message_id, user_id, now);
      update = p.query_with(kUpdateMessage, message_id, u.content, to_string(u.status), u.input_tokens,
                            u.output_tokens, u.cost_micros, u.latency_ms, metadata_or_empty_object(u.metadata),
                            store::detail::encode_tool_calls(u.tool_calls));
      if (u.usage) insert_usage(p, usage, *u.usage, std::optional<std::string>(message_id), now);
    }
    // Committed: the message was ours (or the batch failed at the touch), and under the
    // conversation's lock it cannot have gone since.
    Result<Message> receive(const Pipeline& p) {
      const Rows& r = p.result(update);
      if (r.empty()) return store::detail::message_not_found();
      return read_message(r, 0);
    }
    Result<Message> run(Connection& c) { return s.update_message_in(c, user_id, message_id, u); }
  };

  Result<Message> update_message_in(Connection& c, std::string_view user_id, std::string_view message_id,
                                    const MessageUpdate& u) {
    const std::int64_t now = to_unix_ms(clock_.now());
    // Step by step, the message is only touched once the conversation is known to be ours.
    const Rows touched = c.query_with(kTouchForMessage, message_id, user_id, now);
    if (touched.affected() == 0) return store::detail::message_not_found();
    const Rows r = c.query_with(kUpdateMessage, message_id, u.content, to_string(u.status), u.input_tokens,
                                u.output_tokens, u.cost_micros, u.latency_ms,
                                metadata_or_empty_object(u.metadata), store::detail::encode_tool_calls(u.tool_calls));
    if (r.empty()) return store::detail::message_not_found();  // deleted meanwhile
    Message m = read_message(r, 0);
    if (u.usage) insert_usage(c, *u.usage, m.id, now);
    return m;
  }

  Result<std::vector<Message>> update_message_and_append(std::string_view user_id, std::string_view message_id,
                                                         const MessageUpdate& u,
                                                         const std::vector<NewMessage>& following) override {
    // Step by step in one transaction: the conversation's row lock taken by the update is held
    // through the appends, which take it again (the same lock order as update_message).
    return run<std::vector<Message>>("update_message_and_append", Tx::write, [&](Connection& c) -> Result<std::vector<Message>> {
      return store::detail::update_then_append(
          following, [&] { return update_message_in(c, user_id, message_id, u); },
          [&](const NewMessage& n) { return append_in(c, user_id, n); });
    });
  }

  Result<void> set_summary(std::string_view user_id, std::string_view conversation_id,
                           std::string_view summary, std::string_view through_message_id) override {
    return run<void>("set_summary", Tx::none, [&](Connection& c) -> Result<void> {
      if (c.query_with("UPDATE conversations SET summary = $3, summary_through = $4 WHERE id = $1 AND user_id = $2",
                       conversation_id, user_id, summary, through_message_id)
              .affected() == 0)
        return conversation_not_found();
      return {};
    });
  }

  Result<Message> get_message(std::string_view user_id, std::string_view message_id) override {
    return run<Message>("get_message", Tx::none, [&](Connection& c) -> Result<Message> {
      const Rows r = c.query_with("SELECT " AAS_MESSAGE_COLUMNS " FROM messages WHERE id = $1 AND EXISTS"
                                  " (SELECT 1 FROM conversations c WHERE c.id = messages.conversation_id AND c.user_id = $2)",
                                  message_id, user_id);
      if (r.empty()) return store::detail::message_not_found();
      return read_message(r, 0);
    });
  }

  Result<std::int64_t> deactivate_from(std::string_view user_id, std::string_view message_id) override {
    return run<std::int64_t>("deactivate_from", Tx::write, [&](Connection& c) { return deactivate_in(c, user_id, message_id); });
  }

  Result<std::int64_t> deactivate_in(Connection& c, std::string_view user_id, std::string_view message_id) {
    const Rows one = c.query_with("SELECT conversation_id FROM messages WHERE id = $1 AND active = 1 AND"
                                  " EXISTS (SELECT 1 FROM conversations c WHERE c.id = messages.conversation_id AND c.user_id = $2)",
                                  message_id, user_id);
    if (one.empty()) return store::detail::message_not_found();
    return static_cast<std::int64_t>(
        c.query_with("UPDATE messages SET active = 0 WHERE conversation_id = $1 AND active = 1 AND id >= $2",
                     one.text(0, 0), message_id)
            .affected());
  }

  Result<std::vector<Message>> message_versions(std::string_view user_id, std::string_view message_id) override {
    return run<std::vector<Message>>("message_versions", Tx::read, [&](Connection& c) -> Result<std::vector<Message>> {
      const Rows one = c.query_with("SELECT conversation_id, role, parent_id FROM messages WHERE id = $1 AND"
                                    " EXISTS (SELECT 1 FROM conversations c WHERE c.id = messages.conversation_id AND c.user_id = $2)",
                                    message_id, user_id);
      if (one.empty()) return store::detail::message_not_found();
      std::vector<Message> out = read_messages(
          c.query_with("SELECT " AAS_MESSAGE_COLUMNS " FROM messages WHERE conversation_id = $1 AND role = $2"
                       " AND parent_id IS NOT DISTINCT FROM $3::text ORDER BY id",
                       one.text(0, 0), one.text(0, 1), one.optional_text(0, 2)));
      for (Message& m : out) m.version_count = static_cast<std::int64_t>(out.size());
      return out;
    });
  }

  Result<std::int64_t> interrupt_streaming_messages() override {
    return run<std::int64_t>("interrupt_streaming_messages", Tx::write, [&](Connection& c) -> Result<std::int64_t> {
      const std::int64_t now = to_unix_ms(clock_.now());
      const Rows r = c.query("SELECT m.id, m.conversation_id, c.user_id, m.model, m.input_tokens, m.output_tokens,"
                             " m.cost_micros FROM messages m JOIN conversations c ON c.id = m.conversation_id"
                             " WHERE m.status = 'streaming' FOR UPDATE OF m");
      for (int i = 0; i < r.size(); ++i) {
        const std::string id = r.text(i, 0);
        const UsageRecord row = recovered_usage(
            r.text(i, 2), r.text(i, 1), r.is_null(i, 3) ? std::string() : r.text(i, 3),
            r.is_null(i, 4) ? 0 : r.int64(i, 4), r.is_null(i, 5) ? 0 : r.int64(i, 5),
            r.is_null(i, 6) ? std::nullopt : std::optional<std::int64_t>(r.int64(i, 6)));
        c.query_with("UPDATE messages SET status = 'interrupted', input_tokens = $2, output_tokens = $3,"
                     " metadata = '" AAS_RECOVERED_METADATA "' WHERE id = $1",
                     id, row.input_tokens, row.output_tokens);
        insert_usage(c, row, id, now);
      }
      return static_cast<std::int64_t>(r.size());
    });
  }

  Result<Page<Message>> list_messages(std::string_view user_id, std::string_view conversation_id,
                                      const PageRequest& page) override {
    auto cursor = store::detail::message_cursor_of(page);
    if (!cursor) return cursor.error();
    const std::optional<std::string>& after = *cursor;
    const int limit = clamp_limit(page.limit);
    // The ownership check and the rows from one snapshot.
    return run<Page<Message>>("list_messages", Tx::read, [&](Connection& c) -> Result<Page<Message>> {
      if (!owns(c, user_id, conversation_id)) return conversation_not_found();
      const Rows r = after ? c.query_with("SELECT " AAS_MESSAGE_COLUMNS ", " AAS_PG_VERSIONS
                                          " FROM messages WHERE conversation_id = $1 AND active = 1 AND id > $2"
                                          " ORDER BY id LIMIT $3",
                                          conversation_id, *after, limit + 1)
                           : c.query_with("SELECT " AAS_MESSAGE_COLUMNS ", " AAS_PG_VERSIONS
                                          " FROM messages WHERE conversation_id = $1 AND active = 1"
                                          " ORDER BY id LIMIT $2",
                                          conversation_id, limit + 1);
      return store::detail::message_page(read_messages(r), limit);
    });
  }

  Result<std::vector<Message>> recent_messages(std::string_view user_id,
                                               std::string_view conversation_id,
                                               int max_messages) override {
    return run<std::vector<Message>>(
        "recent_messages", Tx::read, [&](Connection& c) -> Result<std::vector<Message>> {
          if (!owns(c, user_id, conversation_id)) return conversation_not_found();
          if (max_messages <= 0) return std::vector<Message>();
          std::vector<Message> out = read_messages(
              c.query_with("SELECT " AAS_MESSAGE_COLUMNS " FROM messages WHERE conversation_id = $1"
                           " AND active = 1 ORDER BY id DESC LIMIT $2",
                           conversation_id, max_messages));
          std::reverse(out.begin(), out.end());
          return out;
        });
  }

  Result<Prompt> create_prompt(const NewPrompt& n) override {
    return run<Prompt>("create_prompt", Tx::none, [&](Connection& c) -> Result<Prompt> {
      const Rows r = c.query_with("INSERT INTO prompts (" AAS_PROMPT_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $5)"
                                  " RETURNING " AAS_PROMPT_COLUMNS,
                                  new_uuid_v7(), n.owner_user_id, n.name, n.content,
                                  to_unix_ms(clock_.now()));
      return read_prompt(r, 0);
    });
  }

  Result<Prompt> get_prompt(std::string_view user_id, std::string_view id) override {
    return run<Prompt>("get_prompt", Tx::none, [&](Connection& c) -> Result<Prompt> {
      const Rows r = c.query_with("SELECT " AAS_PROMPT_COLUMNS " FROM prompts"
                                  " WHERE id = $1 AND (owner_user_id = $2 OR owner_user_id IS NULL)",
                                  id, user_id);
      if (r.empty()) return store::detail::prompt_not_found();
      return read_prompt(r, 0);
    });
  }

  Result<Page<Prompt>> list_prompts(std::string_view user_id, const PageRequest& page) override {
    auto after = store::detail::message_cursor_of(page);
    if (!after) return after.error();
    const int limit = clamp_limit(page.limit);
    return run<Page<Prompt>>("list_prompts", Tx::none, [&](Connection& c) -> Result<Page<Prompt>> {
      const Rows r = c.query_with("SELECT " AAS_PROMPT_COLUMNS " FROM prompts"
                                  " WHERE (owner_user_id = $1 OR owner_user_id IS NULL)"
                                  " AND ($2::text IS NULL OR id > $2) ORDER BY id LIMIT $3",
                                  user_id, *after, limit + 1);
      std::vector<Prompt> items;
      for (int i = 0; i < r.size(); ++i) items.push_back(read_prompt(r, i));
      return store::detail::prompt_page(std::move(items), limit);
    });
  }

  Result<Prompt> update_prompt(const std::optional<std::string>& owner, std::string_view id,
                               const PromptPatch& patch) override {
    return run<Prompt>("update_prompt", Tx::none, [&](Connection& c) -> Result<Prompt> {
      const Rows r = c.query_with(
          "UPDATE prompts SET name = coalesce($3, name), content = coalesce($4, content),"
          " updated_at = GREATEST(updated_at, $5)"
          " WHERE id = $1 AND owner_user_id IS NOT DISTINCT FROM $2::text RETURNING " AAS_PROMPT_COLUMNS,
          id, owner, patch.name, patch.content, to_unix_ms(clock_.now()));
      if (r.empty()) return store::detail::prompt_not_found();
      return read_prompt(r, 0);
    });
  }

  Result<void> delete_prompt(const std::optional<std::string>& owner, std::string_view id) override {
    return run<void>("delete_prompt", Tx::none, [&](Connection& c) -> Result<void> {
      if (c.query_with("DELETE FROM prompts WHERE id = $1 AND owner_user_id IS NOT DISTINCT FROM $2::text",
                       id, owner)
              .affected() == 0)
        return store::detail::prompt_not_found();
      return {};
    });
  }

  Result<void> record_usage(const UsageRecord& r) override {
    RecordUsage plan{clock_, r};
    return writer_.write<void>("record_usage", plan);
  }
  void record_usage_then(UsageRecord r, Then<void> done) override {
    writer_.write_then<void>("record_usage", RecordUsage{clock_, std::move(r)}, std::move(done));
  }

  // A pipelined record_usage.
  struct RecordUsage {
    const Clock& clock;
    UsageRecord r;
    void send(Pipeline& p, DailyUsage& usage) { insert_usage(p, usage, r, r.message_id, to_unix_ms(clock.now())); }
    Result<void> receive(const Pipeline&) { return {}; }
    Result<void> run(Connection& c) {
      insert_usage(c, r, r.message_id, to_unix_ms(clock.now()));
      return {};
    }
  };

  Result<UsageReport> usage_report(const UsageQuery& q) override {
    return run<UsageReport>("usage_report", Tx::read, [&](Connection& c) -> Result<UsageReport> {
      const auto totals_alone = [&]() {
        const store::detail::UsageSource src = store::detail::usage_totals_source(q, '$');
        Params values;
        for (const std::string& v : src.values) values.add(v);
        return read_usage_totals(c.query(store::detail::usage_totals_sql(src), values), 0, 0);
      };
      UsageReport out;
      if (q.group == UsageGroup::none) {
        out.totals = totals_alone();
        return out;
      }
      // One scan: the page of groups with the totals over all of them (window sums); only an
      // empty page needs the totals asked for apart.
      const store::detail::UsageSource src = store::detail::usage_source(q, '$', utc_day(clock_.now()));
      Params paged;
      for (const std::string& v : src.values) paged.add(v);
      paged.add(q.limit + 1).add(q.offset);
      const Rows r = c.query(store::detail::usage_page_sql(q, src), paged);
      for (int i = 0; i < r.size(); ++i) out.rows.push_back({r.text(i, 0), read_usage_totals(r, i, 1)});
      if (r.size() > 0)
        out.totals = read_usage_totals(r, 0, 10);
      else
        out.totals = totals_alone();
      if (static_cast<int>(out.rows.size()) > q.limit) {
        out.rows.pop_back();
        out.more = true;
      }
      return out;
    });
  }

  Result<std::int64_t> spent_micros(std::string_view user_id, std::string_view from_day) override {
    return run<std::int64_t>("spent_micros", Tx::none, [&](Connection& c) -> Result<std::int64_t> {
      return c
          .query_with("SELECT coalesce(sum(cost_micros), 0) FROM usage_daily"
                      " WHERE user_id = $1 AND day >= $2",
                      user_id, from_day)
          .int64(0, 0);
    });
  }

  Result<std::optional<LimitOverride>> get_limit_override(std::string_view user_id) override {
    return run<std::optional<LimitOverride>>(
        "get_limit_override", Tx::none, [&](Connection& c) -> Result<std::optional<LimitOverride>> {
          const Rows r = c.query_with(
              "SELECT " AAS_LIMIT_COLUMNS " FROM limit_overrides WHERE user_id = $1", user_id);
          if (r.empty()) return std::optional<LimitOverride>();
          return std::optional<LimitOverride>(read_limit_override(r, 0));
        });
  }

  Result<LimitOverride> put_limit_override(const LimitOverride& o) override {
    return run<LimitOverride>("put_limit_override", Tx::none, [&](Connection& c) -> Result<LimitOverride> {
      return read_limit_override(
          c.query_with(AAS_LIMIT_UPSERT("($1, $2, $3, $4, $5, $6, $7)"), o.user_id,
                       o.requests_per_minute, o.tokens_per_minute, o.concurrent_streams,
                       o.daily_budget_micros, o.monthly_budget_micros, to_unix_ms(clock_.now())),
          0);
    });
  }

  Result<void> delete_limit_override(std::string_view user_id) override {
    return run<void>("delete_limit_override", Tx::none, [&](Connection& c) -> Result<void> {
      if (c.query_with("DELETE FROM limit_overrides WHERE user_id = $1", user_id).affected() == 0)
        return store::detail::limit_override_not_found();
      return {};
    });
  }

 private:
  // The ledger row and its share of the daily rollup, inside the caller's write transaction.
  static void insert_usage(Connection& c, const UsageRecord& r, const std::optional<std::string>& message_id,
                           std::int64_t now) {
    insert_ledger_row(c, r, message_id, now);
    DailyUsage share;
    share.add(utc_day(from_unix_ms(now)), r);
    share.send(c);
  }
  // The same in a batch: the ledger row now, its share of the rollup with the batch's others at its end.
  static void insert_usage(Pipeline& p, DailyUsage& usage, const UsageRecord& r,
                           const std::optional<std::string>& message_id, std::int64_t now) {
    insert_ledger_row(p, r, message_id, now);
    usage.add(utc_day(from_unix_ms(now)), r);
  }
  // `c`: a Connection, or a Pipeline (the statement reads no result).
  template <class C>
  static void insert_ledger_row(C& c, const UsageRecord& r, const std::optional<std::string>& message_id,
                                std::int64_t now) {
    c.query_with("INSERT INTO usage_ledger (" AAS_USAGE_LEDGER_COLUMNS ") VALUES ($1, $2, $3, $4,"
                 " $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
                 new_uuid_v7(), r.user_id, r.conversation_id, message_id, r.kind, r.model,
                 r.deployment, r.provider, r.input_tokens, r.output_tokens, r.cached_input_tokens,
                 r.cache_write_tokens, r.reasoning_tokens, r.cost_micros, r.latency_ms, r.ttft_ms,
                 r.status, store::detail::estimated_count(r), r.request_id, now);
  }

  static bool prompt_visible(Connection& c, std::string_view user_id, std::string_view prompt_id) {
    return !c.query_with("SELECT 1 FROM prompts WHERE id = $1 AND (owner_user_id = $2 OR owner_user_id IS NULL)",
                         prompt_id, user_id)
                .empty();
  }

  static bool owns(Connection& c, std::string_view user_id, std::string_view conversation_id) {
    return !c.query_with("SELECT 1 FROM conversations WHERE id = $1 AND user_id = $2",
                         conversation_id, user_id)
                .empty();
  }

  // The highest applied migration, 0 on a database never migrated.
  static int applied_version(Connection& c) {
    if (c.query("SELECT to_regclass('schema_migrations') IS NOT NULL").text(0, 0) != "t") return 0;
    return static_cast<int>(
        c.query("SELECT coalesce(max(version), 0) FROM schema_migrations").int64(0, 0));
  }

  // The other writes run one transaction each on the pool (they read before they write, so they
  // could not be pipelined, and they are not on a turn's path); the hot ones go through writer_.
  template <class T, class F>
  Result<T> run(std::string_view op, Tx kind, F&& f) {
    return detail::run_unit<T>(pool_, op, kind, std::forward<F>(f));
  }

  const Clock& clock_;
  Pool pool_;
  detail::Writer writer_{pool_, kWriters};
};

}  // namespace

bool is_postgres_url(std::string_view url) noexcept {
  return url.starts_with("postgresql://") || url.starts_with("postgres://");
}

std::string redact_url(std::string_view url) {
  std::string out(url);
  // user:password@host
  if (const auto scheme = out.find("://"); scheme != std::string::npos) {
    const auto authority = scheme + 3;
    const auto end = out.find_first_of("/?", authority);
    const auto at = out.rfind('@', end == std::string::npos ? out.size() : end);
    if (at != std::string::npos && at > authority) {
      const auto colon = out.find(':', authority);
      if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  // ?password=... or &password=...
  for (std::size_t pos = 0; (pos = out.find("password=", pos)) != std::string::npos;) {
    if (pos > 0 && out[pos - 1] != '?' && out[pos - 1] != '&') {
      pos += 9;
      continue;
    }
    const auto value = pos + 9;
    const auto end = out.find('&', value);
    out.replace(value, (end == std::string::npos ? out.size() : end) - value, "***");
    pos = value + 3;
  }
  return out;
}

std::unique_ptr<Store> open_postgres_store(const std::string& url, const Clock& clock) {
  try {
    return std::make_unique<PostgresStore>(url, clock);
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot connect to PostgreSQL at '" + redact_url(url) + "': " + e.what());
  }
}

}  // namespace aas::store::postgres
