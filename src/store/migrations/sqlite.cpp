#include "store/migrations/sqlite.hpp"

#include <array>

namespace aas::store::migrations {

namespace {

// Times are integer Unix milliseconds (sortable, dialect-free); JSON is kept as text.
// Ids are UUIDv7 text, so ORDER BY id is creation order.
constexpr std::string_view k0001_initial = R"sql(
CREATE TABLE conversations (
  id            TEXT PRIMARY KEY,
  user_id       TEXT NOT NULL,
  title         TEXT,
  system_prompt TEXT,
  model         TEXT,
  metadata      TEXT NOT NULL DEFAULT '{}',
  message_count INTEGER NOT NULL DEFAULT 0,
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL
);
-- Serves "my conversations, newest activity first" and its keyset cursor.
CREATE INDEX conversations_user_updated
  ON conversations (user_id, updated_at DESC, id DESC);

CREATE TABLE messages (
  id              TEXT PRIMARY KEY,
  conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  role            TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
  content         TEXT NOT NULL,
  status          TEXT NOT NULL DEFAULT 'complete'
                    CHECK (status IN ('complete', 'streaming', 'interrupted', 'error')),
  model           TEXT,
  input_tokens    INTEGER,
  output_tokens   INTEGER,
  cost_micros     INTEGER,
  latency_ms      INTEGER,
  metadata        TEXT NOT NULL DEFAULT '{}',
  created_at      INTEGER NOT NULL
);
-- Serves reading a conversation in order and its keyset cursor; also the cascade's lookup.
CREATE INDEX messages_conversation_id ON messages (conversation_id, id);
-- Answers in flight, found at start-up without a scan (a handful of rows at most).
CREATE INDEX messages_streaming ON messages (id) WHERE status = 'streaming';

-- Knowledge bases for retrieval (the plan's schema; not used by the API yet).
CREATE TABLE knowledge_bases (
  id          TEXT PRIMARY KEY,
  user_id     TEXT NOT NULL,
  name        TEXT NOT NULL,
  description TEXT,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
);
CREATE INDEX knowledge_bases_user ON knowledge_bases (user_id);

CREATE TABLE documents (
  id                TEXT PRIMARY KEY,
  knowledge_base_id TEXT NOT NULL REFERENCES knowledge_bases (id) ON DELETE CASCADE,
  title             TEXT,
  content           TEXT NOT NULL,
  vector_id         TEXT,
  metadata          TEXT NOT NULL DEFAULT '{}',
  created_at        INTEGER NOT NULL
);
CREATE INDEX documents_knowledge_base ON documents (knowledge_base_id);
)sql";

// Accounting: the ledger (one row per model call), its daily rollup per (day, user, model),
// which the usage API and budgets read so they stay fast on a large ledger, and admin-set
// per-user limits.
constexpr std::string_view k0002_usage = R"sql(
CREATE TABLE usage_ledger (
  id                  TEXT PRIMARY KEY,
  user_id             TEXT NOT NULL,
  conversation_id     TEXT,
  message_id          TEXT,
  kind                TEXT NOT NULL CHECK (kind IN ('chat', 'gateway', 'summary', 'title')),
  model               TEXT NOT NULL,
  deployment          TEXT NOT NULL,
  provider            TEXT NOT NULL,
  input_tokens        INTEGER NOT NULL,
  output_tokens       INTEGER NOT NULL,
  cached_input_tokens INTEGER NOT NULL,
  cache_write_tokens  INTEGER NOT NULL,
  reasoning_tokens    INTEGER NOT NULL,
  cost_micros         INTEGER,
  latency_ms          INTEGER NOT NULL,
  ttft_ms             INTEGER,
  status              TEXT NOT NULL CHECK (status IN ('complete', 'interrupted', 'error')),
  estimated           INTEGER NOT NULL,
  request_id          TEXT NOT NULL,
  created_at          INTEGER NOT NULL
);
-- A user's calls over time; the ledger is otherwise read by time range only.
CREATE INDEX usage_ledger_user_time ON usage_ledger (user_id, created_at);
CREATE INDEX usage_ledger_time ON usage_ledger (created_at);

CREATE TABLE usage_daily (
  day                 TEXT NOT NULL,
  user_id             TEXT NOT NULL,
  model               TEXT NOT NULL,
  requests            INTEGER NOT NULL,
  input_tokens        INTEGER NOT NULL,
  output_tokens       INTEGER NOT NULL,
  cached_input_tokens INTEGER NOT NULL,
  cache_write_tokens  INTEGER NOT NULL,
  reasoning_tokens    INTEGER NOT NULL,
  cost_micros         INTEGER NOT NULL,
  unpriced_requests   INTEGER NOT NULL,
  estimated_requests  INTEGER NOT NULL,
  PRIMARY KEY (day, user_id, model)
);
-- "My usage" and budgets: one user's days.
CREATE INDEX usage_daily_user_day ON usage_daily (user_id, day);

CREATE TABLE limit_overrides (
  user_id               TEXT PRIMARY KEY,
  requests_per_minute   INTEGER,
  tokens_per_minute     INTEGER,
  concurrent_streams    INTEGER,
  daily_budget_micros   INTEGER,
  monthly_budget_micros INTEGER,
  updated_at            INTEGER NOT NULL
);
)sql";

constexpr std::array<Migration, 2> kMigrations{{
    {1, "initial", k0001_initial},
    {2, "usage", k0002_usage},
}};

static_assert(numbered_1_to_n(kMigrations), "migrations are numbered 1..N, in order, without gaps");

}  // namespace

std::span<const Migration> sqlite_migrations() noexcept { return kMigrations; }

}  // namespace aas::store::migrations
