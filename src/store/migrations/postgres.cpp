#include "store/migrations/postgres.hpp"

#include <array>

namespace aas::store::migrations {

namespace {

// The same tables, columns, constraints and indexes as sqlite.cpp, in PostgreSQL's dialect:
// - integers are BIGINT (times are Unix milliseconds, counters can pass 2^31);
// - text that is compared or sorted (ids, user ids, model names, days) is COLLATE "C", so it
//   orders byte by byte exactly as in SQLite and as std::string does: UUIDv7 order is creation
//   order, cursors compare the same way, and the indexes serve the range scans whatever the
//   database's default collation is;
// - JSON metadata stays TEXT (not jsonb), so it reads back byte for byte as it was written.
constexpr std::string_view k0001_initial = R"sql(
CREATE TABLE conversations (
  id            TEXT COLLATE "C" PRIMARY KEY,
  user_id       TEXT COLLATE "C" NOT NULL,
  title         TEXT,
  system_prompt TEXT,
  model         TEXT,
  metadata      TEXT NOT NULL DEFAULT '{}',
  message_count BIGINT NOT NULL DEFAULT 0,
  created_at    BIGINT NOT NULL,
  updated_at    BIGINT NOT NULL
);
-- Serves "my conversations, newest activity first" and its keyset cursor.
CREATE INDEX conversations_user_updated
  ON conversations (user_id, updated_at DESC, id DESC);

CREATE TABLE messages (
  id              TEXT COLLATE "C" PRIMARY KEY,
  conversation_id TEXT COLLATE "C" NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  role            TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
  content         TEXT NOT NULL,
  status          TEXT NOT NULL DEFAULT 'complete'
                    CHECK (status IN ('complete', 'streaming', 'interrupted', 'error')),
  model           TEXT,
  input_tokens    BIGINT,
  output_tokens   BIGINT,
  cost_micros     BIGINT,
  latency_ms      BIGINT,
  metadata        TEXT NOT NULL DEFAULT '{}',
  created_at      BIGINT NOT NULL
);
-- Serves reading a conversation in order and its keyset cursor; also the cascade's lookup.
CREATE INDEX messages_conversation_id ON messages (conversation_id, id);
-- Answers in flight, found at start-up without a scan (a handful of rows at most).
CREATE INDEX messages_streaming ON messages (id) WHERE status = 'streaming';

-- Knowledge bases for retrieval (the plan's schema; not used by the API yet).
CREATE TABLE knowledge_bases (
  id          TEXT COLLATE "C" PRIMARY KEY,
  user_id     TEXT COLLATE "C" NOT NULL,
  name        TEXT NOT NULL,
  description TEXT,
  created_at  BIGINT NOT NULL,
  updated_at  BIGINT NOT NULL
);
CREATE INDEX knowledge_bases_user ON knowledge_bases (user_id);

CREATE TABLE documents (
  id                TEXT COLLATE "C" PRIMARY KEY,
  knowledge_base_id TEXT COLLATE "C" NOT NULL REFERENCES knowledge_bases (id) ON DELETE CASCADE,
  title             TEXT,
  content           TEXT NOT NULL,
  vector_id         TEXT,
  metadata          TEXT NOT NULL DEFAULT '{}',
  created_at        BIGINT NOT NULL
);
CREATE INDEX documents_knowledge_base ON documents (knowledge_base_id);
)sql";

// Accounting: the ledger (one row per model call), its daily rollup per (day, user, model),
// which the usage API and budgets read so they stay fast on a large ledger, and admin-set
// per-user limits.
constexpr std::string_view k0002_usage = R"sql(
CREATE TABLE usage_ledger (
  id                  TEXT COLLATE "C" PRIMARY KEY,
  user_id             TEXT COLLATE "C" NOT NULL,
  conversation_id     TEXT COLLATE "C",
  message_id          TEXT COLLATE "C",
  kind                TEXT NOT NULL CHECK (kind IN ('chat', 'gateway', 'summary', 'title')),
  model               TEXT COLLATE "C" NOT NULL,
  deployment          TEXT NOT NULL,
  provider            TEXT NOT NULL,
  input_tokens        BIGINT NOT NULL,
  output_tokens       BIGINT NOT NULL,
  cached_input_tokens BIGINT NOT NULL,
  cache_write_tokens  BIGINT NOT NULL,
  reasoning_tokens    BIGINT NOT NULL,
  cost_micros         BIGINT,
  latency_ms          BIGINT NOT NULL,
  ttft_ms             BIGINT,
  status              TEXT NOT NULL CHECK (status IN ('complete', 'interrupted', 'error')),
  estimated           BIGINT NOT NULL,
  request_id          TEXT NOT NULL,
  created_at          BIGINT NOT NULL
);
-- A user's calls over time; the ledger is otherwise read by time range only.
CREATE INDEX usage_ledger_user_time ON usage_ledger (user_id, created_at);
CREATE INDEX usage_ledger_time ON usage_ledger (created_at);

CREATE TABLE usage_daily (
  day                 TEXT COLLATE "C" NOT NULL,
  user_id             TEXT COLLATE "C" NOT NULL,
  model               TEXT COLLATE "C" NOT NULL,
  requests            BIGINT NOT NULL,
  input_tokens        BIGINT NOT NULL,
  output_tokens       BIGINT NOT NULL,
  cached_input_tokens BIGINT NOT NULL,
  cache_write_tokens  BIGINT NOT NULL,
  reasoning_tokens    BIGINT NOT NULL,
  cost_micros         BIGINT NOT NULL,
  unpriced_requests   BIGINT NOT NULL,
  estimated_requests  BIGINT NOT NULL,
  PRIMARY KEY (day, user_id, model)
);
-- "My usage" and budgets: one user's days.
CREATE INDEX usage_daily_user_day ON usage_daily (user_id, day);

CREATE TABLE limit_overrides (
  user_id               TEXT COLLATE "C" PRIMARY KEY,
  requests_per_minute   BIGINT,
  tokens_per_minute     BIGINT,
  concurrent_streams    BIGINT,
  daily_budget_micros   BIGINT,
  monthly_budget_micros BIGINT,
  updated_at            BIGINT NOT NULL
);
)sql";

// Organising and finding conversations: pinned, archived, tags (",a,b," text, see
// store/detail/common.hpp), and full-text search with generated tsvector columns under GIN
// indexes. The 'simple' configuration (lower-cased words, no stemming, no accent folding)
// matches SQLite's unicode61 tokenizer as configured there, so both stores find the same.
constexpr std::string_view k0003_organise = R"sql(
ALTER TABLE conversations
  ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0,
  ADD COLUMN archived INTEGER NOT NULL DEFAULT 0,
  ADD COLUMN tags TEXT COLLATE "C" NOT NULL DEFAULT '',
  ADD COLUMN title_search tsvector GENERATED ALWAYS AS (to_tsvector('simple', coalesce(title, ''))) STORED;
CREATE INDEX conversations_title_search ON conversations USING GIN (title_search);

ALTER TABLE messages
  ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('simple', content)) STORED;
CREATE INDEX messages_search ON messages USING GIN (search);
)sql";

// The system-prompt library (see sqlite.cpp).
constexpr std::string_view k0004_prompts = R"sql(
CREATE TABLE prompts (
  id            TEXT COLLATE "C" PRIMARY KEY,
  owner_user_id TEXT COLLATE "C",
  name          TEXT NOT NULL,
  content       TEXT NOT NULL,
  created_at    BIGINT NOT NULL,
  updated_at    BIGINT NOT NULL
);
CREATE INDEX prompts_owner ON prompts (owner_user_id, id);
ALTER TABLE conversations ADD COLUMN prompt_id TEXT COLLATE "C" REFERENCES prompts (id) ON DELETE SET NULL;
)sql";


// Summaries of earlier turns (used by the context builder in their place) and whether the title
// was made by the service (a generated title may replace it; a user's title is final).
constexpr std::string_view k0005_summaries = R"sql(
ALTER TABLE conversations ADD COLUMN title_auto INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN summary TEXT;
ALTER TABLE conversations ADD COLUMN summary_through TEXT COLLATE "C";
)sql";


// Message versions: the branch a message is on (parent_id) and whether it is on the active one.
constexpr std::string_view k0006_versions = R"sql(
ALTER TABLE messages ADD COLUMN parent_id TEXT COLLATE "C";
ALTER TABLE messages ADD COLUMN active INTEGER NOT NULL DEFAULT 1;
CREATE INDEX messages_parent ON messages (conversation_id, parent_id);
-- Existing conversations are one branch: each message follows the one before it.
UPDATE messages SET parent_id = (
  SELECT m2.id FROM messages m2
  WHERE m2.conversation_id = messages.conversation_id AND m2.id < messages.id
  ORDER BY m2.id DESC LIMIT 1);
)sql";


// Structured messages: tool results (role 'tool'), content parts, an answer's tool calls and the
// call a tool result answers, as JSON text (store/detail/structured); ledger rows of embedding
// calls. (Column CHECK constraints carry PostgreSQL's default names, <table>_<column>_check.)
constexpr std::string_view k0007_structured = R"sql(
ALTER TABLE messages DROP CONSTRAINT messages_role_check;
ALTER TABLE messages ADD CONSTRAINT messages_role_check CHECK (role IN ('system', 'user', 'assistant', 'tool'));
ALTER TABLE messages ADD COLUMN parts TEXT;
ALTER TABLE messages ADD COLUMN tool_calls TEXT;
ALTER TABLE messages ADD COLUMN tool_call_id TEXT;
ALTER TABLE usage_ledger DROP CONSTRAINT usage_ledger_kind_check;
ALTER TABLE usage_ledger ADD CONSTRAINT usage_ledger_kind_check
  CHECK (kind IN ('chat', 'gateway', 'summary', 'title', 'embedding'));
)sql";

// SQLite's migration 8 respells its CHECK constraints (an IN list there costs a temporary b-tree
// per row written); PostgreSQL checks an IN list in place, so there is nothing to change. The
// version exists so that schema_version means the same on both.
constexpr std::string_view k0008_plain_checks = R"sql(
SELECT 1;
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
  id              TEXT COLLATE "C" PRIMARY KEY,
  user_id         TEXT COLLATE "C" NOT NULL,
  name            TEXT NOT NULL,
  description     TEXT,
  embedding_model TEXT,
  embedding_dim   BIGINT,
  document_count  BIGINT NOT NULL DEFAULT 0,
  chunk_count     BIGINT NOT NULL DEFAULT 0,
  term_count      BIGINT NOT NULL DEFAULT 0,
  bytes           BIGINT NOT NULL DEFAULT 0,
  created_at      BIGINT NOT NULL,
  updated_at      BIGINT NOT NULL
);
CREATE INDEX knowledge_bases_user ON knowledge_bases (user_id, id);

CREATE TABLE kb_documents (
  id                TEXT COLLATE "C" PRIMARY KEY,
  knowledge_base_id TEXT COLLATE "C" NOT NULL REFERENCES knowledge_bases (id) ON DELETE CASCADE,
  user_id           TEXT COLLATE "C" NOT NULL,
  title             TEXT NOT NULL,
  media_type        TEXT NOT NULL,
  content_hash      TEXT COLLATE "C" NOT NULL,
  bytes             BIGINT NOT NULL,
  job_id            TEXT COLLATE "C",
  chunk_count       BIGINT NOT NULL DEFAULT 0,
  created_at        BIGINT NOT NULL,
  updated_at        BIGINT NOT NULL,
  UNIQUE (knowledge_base_id, content_hash)
);
CREATE INDEX kb_documents_base ON kb_documents (knowledge_base_id, id);
CREATE INDEX kb_documents_user ON kb_documents (user_id);

CREATE TABLE kb_sources (
  document_id TEXT COLLATE "C" PRIMARY KEY REFERENCES kb_documents (id) ON DELETE CASCADE,
  content     BYTEA NOT NULL
);

CREATE TABLE kb_jobs (
  id                TEXT COLLATE "C" PRIMARY KEY,
  document_id       TEXT COLLATE "C" NOT NULL REFERENCES kb_documents (id) ON DELETE CASCADE,
  knowledge_base_id TEXT COLLATE "C" NOT NULL,
  user_id           TEXT COLLATE "C" NOT NULL,
  kind              TEXT NOT NULL CHECK (kind = 'ingest' OR kind = 'reindex'),
  stage             TEXT NOT NULL
                      CHECK (stage = 'queued' OR stage = 'parsing' OR stage = 'chunking'
                             OR stage = 'embedding' OR stage = 'indexed' OR stage = 'failed'
                             OR stage = 'cancelled'),
  chunks_total      BIGINT NOT NULL DEFAULT 0,
  chunks_done       BIGINT NOT NULL DEFAULT 0,
  error             TEXT,
  attempts          BIGINT NOT NULL DEFAULT 0,
  lease_until       BIGINT NOT NULL DEFAULT 0,
  created_at        BIGINT NOT NULL,
  updated_at        BIGINT NOT NULL
);
CREATE INDEX kb_jobs_document ON kb_jobs (document_id);
-- The workers' queue: only unfinished jobs, oldest first.
CREATE INDEX kb_jobs_pending ON kb_jobs (id)
  WHERE stage = 'queued' OR stage = 'parsing' OR stage = 'chunking' OR stage = 'embedding';

CREATE TABLE kb_chunks (
  id                TEXT COLLATE "C" PRIMARY KEY,
  document_id       TEXT COLLATE "C" NOT NULL REFERENCES kb_documents (id) ON DELETE CASCADE,
  knowledge_base_id TEXT COLLATE "C" NOT NULL,
  ordinal           BIGINT NOT NULL,
  text              TEXT NOT NULL,
  start_offset      BIGINT NOT NULL,
  end_offset        BIGINT NOT NULL,
  page              BIGINT,
  heading_path      TEXT NOT NULL DEFAULT '[]',
  term_count        BIGINT NOT NULL,
  embedding         BYTEA
);
CREATE INDEX kb_chunks_document ON kb_chunks (document_id, ordinal);

-- BM25's postings: for each (base, term) the chunks holding it, with the term's frequency in the
-- chunk and the chunk's length, so ranking reads this index range and nothing else.
CREATE TABLE kb_terms (
  knowledge_base_id TEXT COLLATE "C" NOT NULL,
  term              TEXT COLLATE "C" NOT NULL,
  chunk_id          TEXT COLLATE "C" NOT NULL,
  document_id       TEXT COLLATE "C" NOT NULL,
  tf                BIGINT NOT NULL,
  len               BIGINT NOT NULL,
  PRIMARY KEY (knowledge_base_id, term, chunk_id)
);
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
  id                TEXT COLLATE "C" PRIMARY KEY,
  name              TEXT NOT NULL,
  prefix            TEXT NOT NULL,
  secret_hash       TEXT COLLATE "C" NOT NULL UNIQUE,
  allowed_models    TEXT NOT NULL DEFAULT '[]',
  may_act_for_users BOOLEAN NOT NULL DEFAULT FALSE,
  created_at        BIGINT NOT NULL,
  rotated_at        BIGINT,
  revoked_at        BIGINT
);

CREATE TABLE webhook_deliveries (
  id              TEXT COLLATE "C" PRIMARY KEY,
  endpoint        TEXT NOT NULL,
  event_id        TEXT NOT NULL,
  event_type      TEXT NOT NULL,
  payload         TEXT NOT NULL,
  status          TEXT NOT NULL CHECK (status = 'pending' OR status = 'delivered' OR status = 'failed'),
  attempts        BIGINT NOT NULL DEFAULT 0,
  next_attempt_at BIGINT NOT NULL,
  last_status     BIGINT,
  last_error      TEXT,
  created_at      BIGINT NOT NULL,
  updated_at      BIGINT NOT NULL
);
-- The dispatcher's scan: pending deliveries that are due.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
)sql";

// Embeddings (issue 12): as in the SQLite migration 11 (bytea: float32 little-endian).
constexpr std::string_view k0011_embeddings = R"sql(
ALTER TABLE knowledge_bases ADD COLUMN vector_space BIGINT NOT NULL DEFAULT 1;
ALTER TABLE knowledge_bases ADD COLUMN vectors_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE knowledge_bases ADD COLUMN next_model TEXT;
ALTER TABLE knowledge_bases ADD COLUMN next_dim BIGINT;
CREATE TABLE kb_vectors (
  chunk_id          TEXT NOT NULL REFERENCES kb_chunks (id) ON DELETE CASCADE,
  space             BIGINT NOT NULL,
  knowledge_base_id TEXT NOT NULL,
  embedding         BYTEA NOT NULL,
  PRIMARY KEY (chunk_id, space)
);
CREATE INDEX kb_vectors_base ON kb_vectors (knowledge_base_id, space);
CREATE INDEX kb_chunks_base ON kb_chunks (knowledge_base_id);
CREATE TABLE kb_staged_vectors (
  job_id    TEXT NOT NULL REFERENCES kb_jobs (id) ON DELETE CASCADE,
  ordinal   BIGINT NOT NULL,
  space     BIGINT NOT NULL,
  text_hash TEXT NOT NULL,
  embedding BYTEA NOT NULL,
  PRIMARY KEY (job_id, ordinal)
);
CREATE FUNCTION kb_documents_vectors() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE knowledge_bases SET vectors_version = vectors_version + 1 WHERE id = OLD.knowledge_base_id;
  RETURN OLD;
END $$;
CREATE TRIGGER kb_documents_vectors AFTER DELETE ON kb_documents
  FOR EACH ROW EXECUTE FUNCTION kb_documents_vectors();
)sql";

// Per-tenant webhook endpoints (src/webhooks/endpoint_store.hpp), managed by admins: each receives
// the events of one tenant (the principal the events name). The secret signs its deliveries, so it
// is kept as it is. A delivery names the endpoint it is for (NULL: a WEBHOOK_URLS endpoint), so it
// is signed with that endpoint's current secret, and given up when the endpoint is deleted.
constexpr std::string_view k0012_webhook_endpoints = R"sql(
CREATE TABLE webhook_endpoints (
  id         TEXT COLLATE "C" PRIMARY KEY,
  url        TEXT NOT NULL,
  secret     TEXT NOT NULL,
  tenant     TEXT NOT NULL,
  events     TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  rotated_at BIGINT
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
  month               TEXT COLLATE "C" NOT NULL,
  user_id             TEXT COLLATE "C" NOT NULL,
  requests            BIGINT NOT NULL,
  input_tokens        BIGINT NOT NULL,
  output_tokens       BIGINT NOT NULL,
  cached_input_tokens BIGINT NOT NULL,
  cache_write_tokens  BIGINT NOT NULL,
  reasoning_tokens    BIGINT NOT NULL,
  cost_micros         BIGINT NOT NULL,
  unpriced_requests   BIGINT NOT NULL,
  estimated_requests  BIGINT NOT NULL,
  PRIMARY KEY (month, user_id)
);
INSERT INTO usage_monthly_user SELECT substr(day, 1, 7), user_id,
  sum(requests), sum(input_tokens), sum(output_tokens), sum(cached_input_tokens),
  sum(cache_write_tokens), sum(reasoning_tokens), sum(cost_micros), sum(unpriced_requests),
  sum(estimated_requests)
FROM usage_daily GROUP BY substr(day, 1, 7), user_id;

CREATE TABLE usage_daily_model (
  day                 TEXT COLLATE "C" NOT NULL,
  model               TEXT COLLATE "C" NOT NULL,
  bucket              BIGINT NOT NULL,
  requests            BIGINT NOT NULL,
  input_tokens        BIGINT NOT NULL,
  output_tokens       BIGINT NOT NULL,
  cached_input_tokens BIGINT NOT NULL,
  cache_write_tokens  BIGINT NOT NULL,
  reasoning_tokens    BIGINT NOT NULL,
  cost_micros         BIGINT NOT NULL,
  unpriced_requests   BIGINT NOT NULL,
  estimated_requests  BIGINT NOT NULL,
  PRIMARY KEY (day, model, bucket)
);
INSERT INTO usage_daily_model SELECT day, model, 0,
  sum(requests), sum(input_tokens), sum(output_tokens), sum(cached_input_tokens),
  sum(cache_write_tokens), sum(reasoning_tokens), sum(cost_micros), sum(unpriced_requests),
  sum(estimated_requests)
FROM usage_daily GROUP BY day, model;

CREATE FUNCTION usage_daily_rollups() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  d usage_daily%ROWTYPE := new;
BEGIN
  IF TG_OP = 'UPDATE' THEN
    d.requests := new.requests - old.requests;
    d.input_tokens := new.input_tokens - old.input_tokens;
    d.output_tokens := new.output_tokens - old.output_tokens;
    d.cached_input_tokens := new.cached_input_tokens - old.cached_input_tokens;
    d.cache_write_tokens := new.cache_write_tokens - old.cache_write_tokens;
    d.reasoning_tokens := new.reasoning_tokens - old.reasoning_tokens;
    d.cost_micros := new.cost_micros - old.cost_micros;
    d.unpriced_requests := new.unpriced_requests - old.unpriced_requests;
    d.estimated_requests := new.estimated_requests - old.estimated_requests;
  END IF;
  INSERT INTO usage_monthly_user (month, user_id, requests, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, cost_micros, unpriced_requests, estimated_requests)
  VALUES (substr(d.day, 1, 7), d.user_id,
          d.requests, d.input_tokens, d.output_tokens, d.cached_input_tokens,
          d.cache_write_tokens, d.reasoning_tokens, d.cost_micros, d.unpriced_requests,
          d.estimated_requests)
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
  VALUES (d.day, d.model, hashtext(d.user_id) & 15,
          d.requests, d.input_tokens, d.output_tokens, d.cached_input_tokens,
          d.cache_write_tokens, d.reasoning_tokens, d.cost_micros, d.unpriced_requests,
          d.estimated_requests)
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
  RETURN NULL;
END $$;
CREATE TRIGGER usage_daily_rollups AFTER INSERT OR UPDATE ON usage_daily
  FOR EACH ROW EXECUTE FUNCTION usage_daily_rollups();
)sql";

// Lexical search reads (term, chunk, tf, len) of each query term's postings: with tf and len in
// the primary key's index (INCLUDE), that is an index-only scan once the table is vacuumed, instead
// of a heap fetch per posting.
constexpr std::string_view k0014_lexical_postings = R"sql(
ALTER TABLE kb_terms DROP CONSTRAINT kb_terms_pkey,
  ADD CONSTRAINT kb_terms_pkey PRIMARY KEY (knowledge_base_id, term, chunk_id) INCLUDE (tf, len);
)sql";

// Lexical search from an in-process index (knowledge/lexical_index.hpp), a cache of each chunk's
// term counts: one row per chunk (kb_chunks.terms, "term:tf term:tf …") instead of a row per
// (term, chunk) in kb_terms (~100 index insertions per chunk at ingestion). lexical_version moves
// with every change of a base's chunks, so each replica knows when its copy is stale.
constexpr std::string_view k0015_lexical_index = R"sql(
ALTER TABLE kb_chunks ADD COLUMN terms TEXT NOT NULL DEFAULT '';
ALTER TABLE knowledge_bases ADD COLUMN lexical_version BIGINT NOT NULL DEFAULT 0;
UPDATE kb_chunks SET terms = t.terms
  FROM (SELECT chunk_id, string_agg(term || ':' || tf, ' ') AS terms FROM kb_terms GROUP BY chunk_id) AS t
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
  knowledge_base_id TEXT COLLATE "C" NOT NULL REFERENCES knowledge_bases (id) ON DELETE CASCADE,
  version BIGINT NOT NULL,
  document_id TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (knowledge_base_id, version)
);
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

std::span<const Migration> postgres_migrations() noexcept { return kMigrations; }

}  // namespace aas::store::migrations
