#!/usr/bin/env bash
# generate.sh's synthetic knowledge base, written into a migrated PostgreSQL store with psql: the
# same user, base and document ids, the same Zipf-like law of TERMS draws over VOCAB words per
# chunk, counted into kb_chunks.terms as the ingestion worker writes them.
#
#   bash bench/retrieval/lexical-1m/generate-postgres.sh DATABASE_URL [N] [TERMS] [VOCAB]
set -euo pipefail
url="$1"; n="${2:-1000000}"; terms="${3:-24}"; vocab="${4:-50000}"
kb='01900000-0000-7000-8000-00000000b001'
psql "$url" -v ON_ERROR_STOP=1 -q <<SQL
SET synchronous_commit = off;
BEGIN;
INSERT INTO knowledge_bases (id, user_id, name, document_count, chunk_count, term_count, bytes, created_at, updated_at)
  VALUES ('$kb', 'bench-1m', 'synthetic $n', $n / 1000, $n, $n::bigint * $terms, 0, 0, 0);
INSERT INTO kb_documents (id, knowledge_base_id, user_id, title, media_type, content_hash, bytes, job_id, chunk_count, created_at, updated_at)
  SELECT '01900000-0001-7000-8000-' || lpad(to_hex(i), 12, '0'), '$kb', 'bench-1m', 'document ' || i, 'text/plain', 'h' || i, 0,
         '01900000-0002-7000-8000-' || lpad(to_hex(i), 12, '0'), 1000, 0, 0 FROM generate_series(0, $n / 1000 - 1) i;
INSERT INTO kb_jobs (id, document_id, knowledge_base_id, user_id, kind, stage, chunks_total, chunks_done, attempts, created_at, updated_at)
  SELECT job_id, id, '$kb', 'bench-1m', 'ingest', 'indexed', 1000, 1000, 1, 0, 0 FROM kb_documents WHERE knowledge_base_id = '$kb';
-- Each chunk's draws counted into "term:tf …" (the lateral subquery refers to the chunk, so it is
-- drawn again for every chunk).
INSERT INTO kb_chunks (id, document_id, knowledge_base_id, ordinal, text, start_offset, end_offset, page, heading_path, term_count, terms)
  SELECT '01900000-0003-7000-8000-' || lpad(to_hex(c), 12, '0'), '01900000-0001-7000-8000-' || lpad(to_hex(c / 1000), 12, '0'),
         '$kb', c % 1000, 'synthetic chunk ' || c, 0, 0, NULL, '[]', $terms, t.terms
  FROM generate_series(0, $n - 1) c
  CROSS JOIN LATERAL (
    SELECT string_agg('w' || rank || ':' || tf, ' ') AS terms
    FROM (SELECT rank, count(*) AS tf
          FROM (SELECT floor(exp(random() * ln($vocab)))::int AS rank FROM generate_series(1, $terms) WHERE c >= 0) draws
          GROUP BY rank) counted) t;
COMMIT;
VACUUM ANALYZE kb_chunks;
SQL
