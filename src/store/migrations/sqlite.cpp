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

// Organising and finding conversations: pinned, archived, tags (",a,b," text, see
// store/detail/common.hpp), and full-text search over titles and message contents with FTS5
// indexes that keep no copy of the text (external content), kept in step by triggers.
// The indexes map to the tables' rowids: VACUUM may renumber the rowids of tables without an
// INTEGER PRIMARY KEY, so after a VACUUM run `INSERT INTO messages_fts(messages_fts)
// VALUES ('rebuild')` (and the same for conversations_fts); the service itself never vacuums.
// unicode61 without diacritic folding and without stemming: what PostgreSQL's 'simple'
// configuration does too, so both stores find the same conversations.
constexpr std::string_view k0003_organise = R"sql(
ALTER TABLE conversations ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN archived INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN tags TEXT NOT NULL DEFAULT '';

CREATE VIRTUAL TABLE messages_fts USING fts5(
  content, content = 'messages', content_rowid = 'rowid', tokenize = 'unicode61 remove_diacritics 0');
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
  INSERT INTO messages_fts (rowid, content) VALUES (new.rowid, new.content);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
  INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
  INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
  INSERT INTO messages_fts (rowid, content) VALUES (new.rowid, new.content);
END;
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');

CREATE VIRTUAL TABLE conversations_fts USING fts5(
  title, content = 'conversations', content_rowid = 'rowid', tokenize = 'unicode61 remove_diacritics 0');
CREATE TRIGGER conversations_fts_insert AFTER INSERT ON conversations BEGIN
  INSERT INTO conversations_fts (rowid, title) VALUES (new.rowid, new.title);
END;
CREATE TRIGGER conversations_fts_delete AFTER DELETE ON conversations BEGIN
  INSERT INTO conversations_fts (conversations_fts, rowid, title) VALUES ('delete', old.rowid, old.title);
END;
CREATE TRIGGER conversations_fts_update AFTER UPDATE OF title ON conversations BEGIN
  INSERT INTO conversations_fts (conversations_fts, rowid, title) VALUES ('delete', old.rowid, old.title);
  INSERT INTO conversations_fts (rowid, title) VALUES (new.rowid, new.title);
END;
INSERT INTO conversations_fts (conversations_fts) VALUES ('rebuild');
)sql";

// The system-prompt library: each user's own prompts and global ones (no owner); a
// conversation may use one (prompt_id, cleared when the prompt is deleted).
constexpr std::string_view k0004_prompts = R"sql(
CREATE TABLE prompts (
  id            TEXT PRIMARY KEY,
  owner_user_id TEXT,
  name          TEXT NOT NULL,
  content       TEXT NOT NULL,
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL
);
CREATE INDEX prompts_owner ON prompts (owner_user_id, id);
ALTER TABLE conversations ADD COLUMN prompt_id TEXT REFERENCES prompts (id) ON DELETE SET NULL;
)sql";


// Summaries of earlier turns (used by the context builder in their place) and whether the title
// was made by the service (a generated title may replace it; a user's title is final).
constexpr std::string_view k0005_summaries = R"sql(
ALTER TABLE conversations ADD COLUMN title_auto INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN summary TEXT;
ALTER TABLE conversations ADD COLUMN summary_through TEXT;
)sql";


// Message versions: the branch a message is on (parent_id) and whether it is on the active one.
constexpr std::string_view k0006_versions = R"sql(
ALTER TABLE messages ADD COLUMN parent_id TEXT;
ALTER TABLE messages ADD COLUMN active INTEGER NOT NULL DEFAULT 1;
CREATE INDEX messages_parent ON messages (conversation_id, parent_id);
-- Existing conversations are one branch: each message follows the one before it.
UPDATE messages SET parent_id = (
  SELECT m2.id FROM messages m2
  WHERE m2.conversation_id = messages.conversation_id AND m2.id < messages.id
  ORDER BY m2.id DESC LIMIT 1);
)sql";


// Structured messages: tool results (role 'tool'), content parts (images beside text), an
// answer's tool calls and the call a tool result answers, as JSON text (store/detail/structured);
// ledger rows of embedding calls. SQLite cannot change a CHECK constraint in place, so both
// tables are rebuilt (SQLite's documented procedure), messages keeping their rowids: the FTS
// index refers to them.
constexpr std::string_view k0007_structured = R"sql(
CREATE TABLE messages_new (
  id              TEXT PRIMARY KEY,
  conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  role            TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
  content         TEXT NOT NULL,
  status          TEXT NOT NULL DEFAULT 'complete'
                    CHECK (status IN ('complete', 'streaming', 'interrupted', 'error')),
  model           TEXT,
  input_tokens    INTEGER,
  output_tokens   INTEGER,
  cost_micros     INTEGER,
  latency_ms      INTEGER,
  metadata        TEXT NOT NULL DEFAULT '{}',
  created_at      INTEGER NOT NULL,
  parent_id       TEXT,
  active          INTEGER NOT NULL DEFAULT 1,
  parts           TEXT,
  tool_calls      TEXT,
  tool_call_id    TEXT
);
INSERT INTO messages_new (rowid, id, conversation_id, role, content, status, model, input_tokens,
                          output_tokens, cost_micros, latency_ms, metadata, created_at, parent_id, active)
  SELECT rowid, id, conversation_id, role, content, status, model, input_tokens, output_tokens,
         cost_micros, latency_ms, metadata, created_at, parent_id, active FROM messages;
DROP TABLE messages;
ALTER TABLE messages_new RENAME TO messages;
CREATE INDEX messages_conversation_id ON messages (conversation_id, id);
CREATE INDEX messages_streaming ON messages (id) WHERE status = 'streaming';
CREATE INDEX messages_parent ON messages (conversation_id, parent_id);
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
  INSERT INTO messages_fts (rowid, content) VALUES (new.rowid, new.content);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
  INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
  INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
  INSERT INTO messages_fts (rowid, content) VALUES (new.rowid, new.content);
END;

CREATE TABLE usage_ledger_new (
  id                  TEXT PRIMARY KEY,
  user_id             TEXT NOT NULL,
  conversation_id     TEXT,
  message_id          TEXT,
  kind                TEXT NOT NULL CHECK (kind IN ('chat', 'gateway', 'summary', 'title', 'embedding')),
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
INSERT INTO usage_ledger_new SELECT * FROM usage_ledger;
DROP TABLE usage_ledger;
ALTER TABLE usage_ledger_new RENAME TO usage_ledger;
CREATE INDEX usage_ledger_user_time ON usage_ledger (user_id, created_at);
CREATE INDEX usage_ledger_time ON usage_ledger (created_at);
)sql";

// The same two tables, their CHECK constraints spelled as OR-ed equalities instead of IN lists.
// SQLite evaluates an IN list of more than two constants by building a temporary b-tree, on every
// row written: for the ledger row and the message of each call that was a page-cache allocation
// (~87 KB), a b-tree opened and closed, ~10 % of the CPU of a gateway call
// (bench/gateway/cost.sh). The OR form is checked by plain comparisons; what it allows is the same.
constexpr std::string_view k0008_plain_checks = R"sql(
CREATE TABLE messages_new (
  id              TEXT PRIMARY KEY,
  conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  role            TEXT NOT NULL
                    CHECK (role = 'system' OR role = 'user' OR role = 'assistant' OR role = 'tool'),
  content         TEXT NOT NULL,
  status          TEXT NOT NULL DEFAULT 'complete'
                    CHECK (status = 'complete' OR status = 'streaming' OR status = 'interrupted'
                           OR status = 'error'),
  model           TEXT,
  input_tokens    INTEGER,
  output_tokens   INTEGER,
  cost_micros     INTEGER,
  latency_ms      INTEGER,
  metadata        TEXT NOT NULL DEFAULT '{}',
  created_at      INTEGER NOT NULL,
  parent_id       TEXT,
  active          INTEGER NOT NULL DEFAULT 1,
  parts           TEXT,
  tool_calls      TEXT,
  tool_call_id    TEXT
);
INSERT INTO messages_new (rowid, id, conversation_id, role, content, status, model, input_tokens,
                          output_tokens, cost_micros, latency_ms, metadata, created_at, parent_id, active,
                          parts, tool_calls, tool_call_id)
  SELECT rowid, id, conversation_id, role, content, status, model, input_tokens, output_tokens,
         cost_micros, latency_ms, metadata, created_at, parent_id, active, parts, tool_calls,
         tool_call_id FROM messages;
DROP TABLE messages;
ALTER TABLE messages_new RENAME TO messages;
CREATE INDEX messages_conversation_id ON messages (conversation_id, id);
CREATE INDEX messages_streaming ON messages (id) WHERE status = 'streaming';
CREATE INDEX messages_parent ON messages (conversation_id, parent_id);
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
  INSERT INTO messages_fts (rowid, content) VALUES (new.rowid, new.content);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
  INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
  INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
  INSERT INTO messages_fts (rowid, content) VALUES (new.rowid, new.content);
END;

CREATE TABLE usage_ledger_new (
  id                  TEXT PRIMARY KEY,
  user_id             TEXT NOT NULL,
  conversation_id     TEXT,
  message_id          TEXT,
  kind                TEXT NOT NULL
                        CHECK (kind = 'chat' OR kind = 'gateway' OR kind = 'summary' OR kind = 'title'
                               OR kind = 'embedding'),
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
  status              TEXT NOT NULL
                        CHECK (status = 'complete' OR status = 'interrupted' OR status = 'error'),
  estimated           INTEGER NOT NULL,
  request_id          TEXT NOT NULL,
  created_at          INTEGER NOT NULL
);
INSERT INTO usage_ledger_new SELECT * FROM usage_ledger;
DROP TABLE usage_ledger;
ALTER TABLE usage_ledger_new RENAME TO usage_ledger;
CREATE INDEX usage_ledger_user_time ON usage_ledger (user_id, created_at);
CREATE INDEX usage_ledger_time ON usage_ledger (created_at);
)sql";

// Knowledge bases (issue 12): the plan's two unused tables replaced by bases with their
// statistics, documents (their source kept, so a job can start over), ingestion jobs (stage,
// counts, error, a lease that a restarted process takes over when it runs out), chunks, and the
// BM25 term index (per base, term and chunk: frequency and chunk length). A conversation keeps
// the bases it answers from (",id,id," like tags).
constexpr std::string_view k0009_knowledge = R"sql(
DROP TABLE documents;
DROP TABLE knowledge_bases;
CREATE TABLE knowledge_bases (
  id              TEXT PRIMARY KEY,
  user_id         TEXT NOT NULL,
  name            TEXT NOT NULL,
  description     TEXT,
  embedding_model TEXT,
  embedding_dim   INTEGER,
  document_count  INTEGER NOT NULL DEFAULT 0,
  chunk_count     INTEGER NOT NULL DEFAULT 0,
  term_count      INTEGER NOT NULL DEFAULT 0,
  bytes           INTEGER NOT NULL DEFAULT 0,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
CREATE INDEX knowledge_bases_user ON knowledge_bases (user_id, id);

CREATE TABLE kb_documents (
  id                TEXT PRIMARY KEY,
  knowledge_base_id TEXT NOT NULL REFERENCES knowledge_bases (id) ON DELETE CASCADE,
  user_id           TEXT NOT NULL,
  title             TEXT NOT NULL,
  media_type        TEXT NOT NULL,
  content_hash      TEXT NOT NULL,
  bytes             INTEGER NOT NULL,
  job_id            TEXT,
  chunk_count       INTEGER NOT NULL DEFAULT 0,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL,
  UNIQUE (knowledge_base_id, content_hash)
);
CREATE INDEX kb_documents_base ON kb_documents (knowledge_base_id, id);
CREATE INDEX kb_documents_user ON kb_documents (user_id);

CREATE TABLE kb_sources (
  document_id TEXT PRIMARY KEY REFERENCES kb_documents (id) ON DELETE CASCADE,
  content     BLOB NOT NULL
);

CREATE TABLE kb_jobs (
  id                TEXT PRIMARY KEY,
  document_id       TEXT NOT NULL REFERENCES kb_documents (id) ON DELETE CASCADE,
  knowledge_base_id TEXT NOT NULL,
  user_id           TEXT NOT NULL,
  kind              TEXT NOT NULL CHECK (kind = 'ingest' OR kind = 'reindex'),
  stage             TEXT NOT NULL
                      CHECK (stage = 'queued' OR stage = 'parsing' OR stage = 'chunking'
                             OR stage = 'embedding' OR stage = 'indexed' OR stage = 'failed'
                             OR stage = 'cancelled'),
  chunks_total      INTEGER NOT NULL DEFAULT 0,
  chunks_done       INTEGER NOT NULL DEFAULT 0,
  error             TEXT,
  attempts          INTEGER NOT NULL DEFAULT 0,
  lease_until       INTEGER NOT NULL DEFAULT 0,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL
);
CREATE INDEX kb_jobs_document ON kb_jobs (document_id);
-- The workers' queue: only unfinished jobs, oldest first.
CREATE INDEX kb_jobs_pending ON kb_jobs (id)
  WHERE stage = 'queued' OR stage = 'parsing' OR stage = 'chunking' OR stage = 'embedding';

CREATE TABLE kb_chunks (
  id                TEXT PRIMARY KEY,
  document_id       TEXT NOT NULL REFERENCES kb_documents (id) ON DELETE CASCADE,
  knowledge_base_id TEXT NOT NULL,
  ordinal           INTEGER NOT NULL,
  text              TEXT NOT NULL,
  start_offset      INTEGER NOT NULL,
  end_offset        INTEGER NOT NULL,
  page              INTEGER,
  heading_path      TEXT NOT NULL DEFAULT '[]',
  term_count        INTEGER NOT NULL,
  embedding         BLOB
);
CREATE INDEX kb_chunks_document ON kb_chunks (document_id, ordinal);

-- BM25's postings: for each (base, term) the chunks holding it, with the term's frequency in the
-- chunk and the chunk's length, so ranking reads this index range and nothing else.
CREATE TABLE kb_terms (
  knowledge_base_id TEXT NOT NULL,
  term              TEXT NOT NULL,
  chunk_id          TEXT NOT NULL,
  document_id       TEXT NOT NULL,
  tf                INTEGER NOT NULL,
  len               INTEGER NOT NULL,
  PRIMARY KEY (knowledge_base_id, term, chunk_id)
) WITHOUT ROWID;
CREATE INDEX kb_terms_document ON kb_terms (document_id);

ALTER TABLE conversations ADD COLUMN knowledge_base_ids TEXT NOT NULL DEFAULT '';
)sql";

// Service keys (src/keys) and webhook deliveries (src/webhooks): each capability's own tables,
// read and written through its own store port. A key is kept as the SHA-256 of the whole key and
// a short visible prefix, never in clear. A delivery is one event for one endpoint: queued here so
// it survives a restart, claimed by pushing next_attempt_at past a lease (the replica that claimed
// it owns it until then), retried with backoff until delivered or out of attempts.
constexpr std::string_view k0010_keys_webhooks = R"sql(
CREATE TABLE service_keys (
  id                TEXT PRIMARY KEY,
  name              TEXT NOT NULL,
  prefix            TEXT NOT NULL,
  secret_hash       TEXT NOT NULL UNIQUE,
  allowed_models    TEXT NOT NULL DEFAULT '[]',
  may_act_for_users INTEGER NOT NULL DEFAULT 0,
  created_at        INTEGER NOT NULL,
  rotated_at        INTEGER,
  revoked_at        INTEGER
);

CREATE TABLE webhook_deliveries (
  id              TEXT PRIMARY KEY,
  endpoint        TEXT NOT NULL,
  event_id        TEXT NOT NULL,
  event_type      TEXT NOT NULL,
  payload         TEXT NOT NULL,
  status          TEXT NOT NULL CHECK (status = 'pending' OR status = 'delivered' OR status = 'failed'),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  last_status     INTEGER,
  last_error      TEXT,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
-- The dispatcher's scan: pending deliveries that are due.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
)sql";

// Embeddings (issue 12): vectors per chunk and vector space, float32 little-endian. A base's
// active space is vector_space (its embedding_model's vectors); a model change embeds into
// vector_space + 1 (next_model) while searches keep reading the active one, and the switch is one
// UPDATE when every chunk has its new vector. An ingestion job stages its vectors by chunk ordinal
// (so a restart re-embeds only what is missing) and its finish moves them in with the chunks.
// vectors_version changes whenever a base's searchable vectors do: the in-process index of each
// replica compares it before a search.
constexpr std::string_view k0011_embeddings = R"sql(
ALTER TABLE knowledge_bases ADD COLUMN vector_space INTEGER NOT NULL DEFAULT 1;
ALTER TABLE knowledge_bases ADD COLUMN vectors_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE knowledge_bases ADD COLUMN next_model TEXT;
ALTER TABLE knowledge_bases ADD COLUMN next_dim INTEGER;
CREATE TABLE kb_vectors (
  chunk_id          TEXT NOT NULL REFERENCES kb_chunks (id) ON DELETE CASCADE,
  space             INTEGER NOT NULL,
  knowledge_base_id TEXT NOT NULL,
  embedding         BLOB NOT NULL,
  PRIMARY KEY (chunk_id, space)
);
CREATE INDEX kb_vectors_base ON kb_vectors (knowledge_base_id, space);
CREATE INDEX kb_chunks_base ON kb_chunks (knowledge_base_id);
CREATE TABLE kb_staged_vectors (
  job_id    TEXT NOT NULL REFERENCES kb_jobs (id) ON DELETE CASCADE,
  ordinal   INTEGER NOT NULL,
  space     INTEGER NOT NULL,
  text_hash TEXT NOT NULL,
  embedding BLOB NOT NULL,
  PRIMARY KEY (job_id, ordinal)
);
CREATE TRIGGER kb_documents_vectors AFTER DELETE ON kb_documents BEGIN
  UPDATE knowledge_bases SET vectors_version = vectors_version + 1 WHERE id = OLD.knowledge_base_id;
END;
)sql";

// Per-tenant webhook endpoints (src/webhooks/endpoint_store.hpp), managed by admins: each receives
// the events of one tenant (the principal the events name). The secret signs its deliveries, so it
// is kept as it is. A delivery names the endpoint it is for (NULL: a WEBHOOK_URLS endpoint), so it
// is signed with that endpoint's current secret, and given up when the endpoint is deleted.
constexpr std::string_view k0012_webhook_endpoints = R"sql(
CREATE TABLE webhook_endpoints (
  id         TEXT PRIMARY KEY,
  url        TEXT NOT NULL,
  secret     TEXT NOT NULL,
  tenant     TEXT NOT NULL,
  events     TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  rotated_at INTEGER
);
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant);

ALTER TABLE webhook_deliveries ADD COLUMN endpoint_id TEXT;
)sql";

// Usage rollups above the daily one (issue 16: every report <= 100 ms on a 1M-row ledger), back-filled
// from usage_daily here and kept by triggers on usage_daily: whatever adds to a daily row (this
// release, or an older replica still running during a rollout) adds the same to these rows, in the
// same transaction. Readers: store/detail/usage_rollup.hpp.
// - usage_monthly_user (month 'YYYY-MM', user): whole months of a ranking by user, so a 90-day
//   "top users" report reads a few months of users and a few days instead of every user-day;
// - usage_daily_model (day, model, bucket): reports not about one user (totals, by day, by model)
//   read days x models rows. `bucket` spreads one (day, model)'s writes over 16 rows on PostgreSQL
//   (a hash of the user), so concurrent transactions of one model do not all queue on one row
//   lock; readers sum the buckets. SQLite has one writer: always bucket 0.
constexpr std::string_view k0013_usage_rollups = R"sql(
CREATE TABLE usage_monthly_user (
  month               TEXT NOT NULL,
  user_id             TEXT NOT NULL,
  requests            INTEGER NOT NULL,
  input_tokens        INTEGER NOT NULL,
  output_tokens       INTEGER NOT NULL,
  cached_input_tokens INTEGER NOT NULL,
  cache_write_tokens  INTEGER NOT NULL,
  reasoning_tokens    INTEGER NOT NULL,
  cost_micros         INTEGER NOT NULL,
  unpriced_requests   INTEGER NOT NULL,
  estimated_requests  INTEGER NOT NULL,
  PRIMARY KEY (month, user_id)
) WITHOUT ROWID;
INSERT INTO usage_monthly_user SELECT substr(day, 1, 7), user_id,
  sum(requests), sum(input_tokens), sum(output_tokens), sum(cached_input_tokens),
  sum(cache_write_tokens), sum(reasoning_tokens), sum(cost_micros), sum(unpriced_requests),
  sum(estimated_requests)
FROM usage_daily GROUP BY substr(day, 1, 7), user_id;

CREATE TABLE usage_daily_model (
  day                 TEXT NOT NULL,
  model               TEXT NOT NULL,
  bucket              INTEGER NOT NULL,
  requests            INTEGER NOT NULL,
  input_tokens        INTEGER NOT NULL,
  output_tokens       INTEGER NOT NULL,
  cached_input_tokens INTEGER NOT NULL,
  cache_write_tokens  INTEGER NOT NULL,
  reasoning_tokens    INTEGER NOT NULL,
  cost_micros         INTEGER NOT NULL,
  unpriced_requests   INTEGER NOT NULL,
  estimated_requests  INTEGER NOT NULL,
  PRIMARY KEY (day, model, bucket)
) WITHOUT ROWID;
INSERT INTO usage_daily_model SELECT day, model, 0,
  sum(requests), sum(input_tokens), sum(output_tokens), sum(cached_input_tokens),
  sum(cache_write_tokens), sum(reasoning_tokens), sum(cost_micros), sum(unpriced_requests),
  sum(estimated_requests)
FROM usage_daily GROUP BY day, model;

CREATE TRIGGER usage_daily_rollups_insert AFTER INSERT ON usage_daily BEGIN
  INSERT INTO usage_monthly_user (month, user_id, requests, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, cost_micros, unpriced_requests, estimated_requests)
  VALUES (substr(new.day, 1, 7), new.user_id,
          new.requests, new.input_tokens, new.output_tokens, new.cached_input_tokens,
          new.cache_write_tokens, new.reasoning_tokens, new.cost_micros, new.unpriced_requests,
          new.estimated_requests)
  ON CONFLICT (month, user_id) DO UPDATE SET
    requests = usage_monthly_user.requests + excluded.requests,
    input_tokens = usage_monthly_user.input_tokens + excluded.input_tokens,
    output_tokens = usage_monthly_user.output_tokens + excluded.output_tokens,
    cached_input_tokens = usage_monthly_user.cached_input_tokens + excluded.cached_input_tokens,
    cache_write_tokens = usage_monthly_user.cache_write_tokens + excluded.cache_write_tokens,
    reasoning_tokens = usage_monthly_user.reasoning_tokens + excluded.reasoning_tokens,
    cost_micros = usage_monthly_user.cost_micros + excluded.cost_micros,
    unpriced_requests = usage_monthly_user.unpriced_requests + excluded.unpriced_requests,
    estimated_requests = usage_monthly_user.estimated_requests + excluded.estimated_requests;
  INSERT INTO usage_daily_model (day, model, bucket, requests, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, cost_micros, unpriced_requests, estimated_requests)
  VALUES (new.day, new.model, 0,
          new.requests, new.input_tokens, new.output_tokens, new.cached_input_tokens,
          new.cache_write_tokens, new.reasoning_tokens, new.cost_micros, new.unpriced_requests,
          new.estimated_requests)
  ON CONFLICT (day, model, bucket) DO UPDATE SET
    requests = usage_daily_model.requests + excluded.requests,
    input_tokens = usage_daily_model.input_tokens + excluded.input_tokens,
    output_tokens = usage_daily_model.output_tokens + excluded.output_tokens,
    cached_input_tokens = usage_daily_model.cached_input_tokens + excluded.cached_input_tokens,
    cache_write_tokens = usage_daily_model.cache_write_tokens + excluded.cache_write_tokens,
    reasoning_tokens = usage_daily_model.reasoning_tokens + excluded.reasoning_tokens,
    cost_micros = usage_daily_model.cost_micros + excluded.cost_micros,
    unpriced_requests = usage_daily_model.unpriced_requests + excluded.unpriced_requests,
    estimated_requests = usage_daily_model.estimated_requests + excluded.estimated_requests;
END;
CREATE TRIGGER usage_daily_rollups_update AFTER UPDATE ON usage_daily BEGIN
  INSERT INTO usage_monthly_user (month, user_id, requests, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, cost_micros, unpriced_requests, estimated_requests)
  VALUES (substr(new.day, 1, 7), new.user_id,
          new.requests - old.requests, new.input_tokens - old.input_tokens,
          new.output_tokens - old.output_tokens,
          new.cached_input_tokens - old.cached_input_tokens,
          new.cache_write_tokens - old.cache_write_tokens,
          new.reasoning_tokens - old.reasoning_tokens, new.cost_micros - old.cost_micros,
          new.unpriced_requests - old.unpriced_requests,
          new.estimated_requests - old.estimated_requests)
  ON CONFLICT (month, user_id) DO UPDATE SET
    requests = usage_monthly_user.requests + excluded.requests,
    input_tokens = usage_monthly_user.input_tokens + excluded.input_tokens,
    output_tokens = usage_monthly_user.output_tokens + excluded.output_tokens,
    cached_input_tokens = usage_monthly_user.cached_input_tokens + excluded.cached_input_tokens,
    cache_write_tokens = usage_monthly_user.cache_write_tokens + excluded.cache_write_tokens,
    reasoning_tokens = usage_monthly_user.reasoning_tokens + excluded.reasoning_tokens,
    cost_micros = usage_monthly_user.cost_micros + excluded.cost_micros,
    unpriced_requests = usage_monthly_user.unpriced_requests + excluded.unpriced_requests,
    estimated_requests = usage_monthly_user.estimated_requests + excluded.estimated_requests;
  INSERT INTO usage_daily_model (day, model, bucket, requests, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, cost_micros, unpriced_requests, estimated_requests)
  VALUES (new.day, new.model, 0,
          new.requests - old.requests, new.input_tokens - old.input_tokens,
          new.output_tokens - old.output_tokens,
          new.cached_input_tokens - old.cached_input_tokens,
          new.cache_write_tokens - old.cache_write_tokens,
          new.reasoning_tokens - old.reasoning_tokens, new.cost_micros - old.cost_micros,
          new.unpriced_requests - old.unpriced_requests,
          new.estimated_requests - old.estimated_requests)
  ON CONFLICT (day, model, bucket) DO UPDATE SET
    requests = usage_daily_model.requests + excluded.requests,
    input_tokens = usage_daily_model.input_tokens + excluded.input_tokens,
    output_tokens = usage_daily_model.output_tokens + excluded.output_tokens,
    cached_input_tokens = usage_daily_model.cached_input_tokens + excluded.cached_input_tokens,
    cache_write_tokens = usage_daily_model.cache_write_tokens + excluded.cache_write_tokens,
    reasoning_tokens = usage_daily_model.reasoning_tokens + excluded.reasoning_tokens,
    cost_micros = usage_daily_model.cost_micros + excluded.cost_micros,
    unpriced_requests = usage_daily_model.unpriced_requests + excluded.unpriced_requests,
    estimated_requests = usage_daily_model.estimated_requests + excluded.estimated_requests;
END;
)sql";

// Lexical search reads (term, chunk, tf, len) of each query term's postings. SQLite's kb_terms is
// already WITHOUT ROWID, so its primary key holds tf and len: nothing to change here; the number
// is kept so both stores list the same migrations (PostgreSQL's adds them to its index).
constexpr std::string_view k0014_lexical_postings = R"sql(
SELECT 1;
)sql";

// Lexical search from an in-process index (knowledge/lexical_index.hpp), a cache of each chunk's
// term counts: one row per chunk (kb_chunks.terms, "term:tf term:tf …") instead of a row per
// (term, chunk) in kb_terms, whose B-tree took ~100 page writes per chunk at ingestion and a
// random read per posting at search. lexical_version moves with every change of a base's chunks,
// so each replica knows when its copy is stale.
constexpr std::string_view k0015_lexical_index = R"sql(
ALTER TABLE kb_chunks ADD COLUMN terms TEXT NOT NULL DEFAULT '';
ALTER TABLE knowledge_bases ADD COLUMN lexical_version INTEGER NOT NULL DEFAULT 0;
UPDATE kb_chunks SET terms = t.terms
  FROM (SELECT chunk_id, group_concat(term || ':' || tf, ' ') AS terms FROM kb_terms GROUP BY chunk_id) AS t
  WHERE kb_chunks.id = t.chunk_id;
DROP TABLE kb_terms;
CREATE INDEX kb_chunks_base_id ON kb_chunks (knowledge_base_id, id);
DROP INDEX kb_chunks_base;
)sql";

// Incremental index updates: every move of a base's lexical_version is logged with the document
// that moved it (indexed again or deleted), so an in-process index (lexical, vector) of an older
// version reads only those documents' chunks instead of the whole base. The store keeps the newest
// knowledge::kKeptChanges per base; an index further behind loads the base whole. Older versions
// have no rows: an index built before this migration loads whole once.
constexpr std::string_view k0016_index_changes = R"sql(
CREATE TABLE kb_changes (
  knowledge_base_id TEXT NOT NULL REFERENCES knowledge_bases (id) ON DELETE CASCADE,
  version INTEGER NOT NULL,
  document_id TEXT NOT NULL,
  PRIMARY KEY (knowledge_base_id, version)
) WITHOUT ROWID;
)sql";

constexpr std::array<Migration, 16> kMigrations{{
    {1, "initial", k0001_initial},
    {2, "usage", k0002_usage},
    {3, "organise", k0003_organise},
    {4, "prompts", k0004_prompts},
    {5, "summaries", k0005_summaries},
    {6, "versions", k0006_versions},
    {7, "structured", k0007_structured},
    {8, "plain checks", k0008_plain_checks},
    {9, "knowledge", k0009_knowledge},
    {10, "keys and webhooks", k0010_keys_webhooks},
    {11, "embeddings", k0011_embeddings},
    {12, "webhook endpoints", k0012_webhook_endpoints},
    {13, "usage rollups", k0013_usage_rollups},
    {14, "lexical postings", k0014_lexical_postings},
    {15, "lexical index", k0015_lexical_index},
    {16, "index changes", k0016_index_changes},
}};

static_assert(strictly_increasing(kMigrations), "migrations are numbered in increasing order, never reused");

}  // namespace

std::span<const Migration> sqlite_migrations() noexcept { return kMigrations; }

}  // namespace aas::store::migrations
