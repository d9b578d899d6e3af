#!/usr/bin/env bash
# Writes a synthetic knowledge base of N chunks straight into a migrated SQLite store file, with
# SQL (sqlite3 CLI), not through HTTP: one user ("bench-1m"), one base, N/1000 documents of 1,000
# chunks each (their jobs indexed), and for every chunk TERMS draws from a vocabulary of VOCAB words
# with a Zipf-like law (rank log-uniform over 1..VOCAB, so a word's frequency falls as 1/rank, as
# in text), counted into the chunk's term counts (kb_chunks.terms) exactly as the ingestion worker
# writes them. The chunk text is a short label: the ranking reads the term counts, never the text.
# (The draws are MATERIALIZED: a flattened subquery would call random() once for the GROUP BY and
# again for the row.)
#
#   bash bench/retrieval/lexical-1m/generate.sh DB_FILE [N] [TERMS] [VOCAB]
set -euo pipefail
db="$1"; n="${2:-1000000}"; terms="${3:-24}"; vocab="${4:-50000}"
kb='01900000-0000-7000-8000-00000000b001'
sqlite3 "$db" >/dev/null <<SQL
PRAGMA synchronous=OFF;
PRAGMA temp_store=FILE;
PRAGMA cache_size=-262144;
BEGIN;
INSERT INTO knowledge_bases (id, user_id, name, document_count, chunk_count, term_count, bytes, created_at, updated_at)
  VALUES ('$kb', 'bench-1m', 'synthetic $n', $n / 1000, $n, $n * $terms, 0, 0, 0);
WITH RECURSIVE d(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM d WHERE i + 1 < $n / 1000)
INSERT INTO kb_documents (id, knowledge_base_id, user_id, title, media_type, content_hash, bytes, job_id, chunk_count, created_at, updated_at)
  SELECT printf('01900000-0001-7000-8000-%012x', i), '$kb', 'bench-1m', 'document ' || i, 'text/plain', 'h' || i, 0,
         printf('01900000-0002-7000-8000-%012x', i), 1000, 0, 0 FROM d;
INSERT INTO kb_jobs (id, document_id, knowledge_base_id, user_id, kind, stage, chunks_total, chunks_done, attempts, created_at, updated_at)
  SELECT job_id, id, '$kb', 'bench-1m', 'ingest', 'indexed', 1000, 1000, 1, 0, 0 FROM kb_documents WHERE knowledge_base_id = '$kb';
-- Each chunk's term counts in its row ("term:tf …", as finish_job writes them).
WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i + 1 < $n * $terms),
  draws AS MATERIALIZED (SELECT i / $terms AS chunk, CAST(exp((abs(random()) % 1000000) / 1000000.0 * ln($vocab)) AS INTEGER) AS rank FROM c),
  counted AS (SELECT chunk, rank, count(*) AS tf FROM draws GROUP BY chunk, rank),
  encoded AS (SELECT chunk, group_concat('w' || rank || ':' || tf, ' ') AS terms FROM counted GROUP BY chunk)
INSERT INTO kb_chunks (id, document_id, knowledge_base_id, ordinal, text, start_offset, end_offset, page, heading_path, term_count, terms)
  SELECT printf('01900000-0003-7000-8000-%012x', chunk), printf('01900000-0001-7000-8000-%012x', chunk / 1000), '$kb', chunk % 1000,
         'synthetic chunk ' || chunk, 0, 0, NULL, '[]', $terms, terms FROM encoded ORDER BY chunk;
COMMIT;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
