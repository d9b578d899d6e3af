#include "store/postgres/knowledge_store.hpp"

#include "core/ids.hpp"
#include "store/detail/knowledge_common.hpp"
#include "store/postgres/postgres_store.hpp"
#include "store/postgres/unit.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>

namespace aas::store::postgres {

namespace {

using detail::Connection;
using detail::Pool;
using detail::Rows;
using detail::Tx;
using knowledge::AddedDocument;
using knowledge::Document;
using knowledge::Job;
using knowledge::KnowledgeBase;
using knowledge::Passage;
using knowledge::Stage;
using store::detail::document_not_found;
using store::detail::knowledge_base_not_found;

constexpr std::size_t kPoolSize = 4;
// pg_advisory_xact_lock(kQuotaLockClass, hashtext(user)): one user's documents are added one at a
// time, so two uploads at once cannot both pass the quota.
constexpr int kQuotaLockClass = 0x6b62;  // "kb"

KnowledgeBase read_base(const Rows& r, int i) {
  KnowledgeBase b;
  b.id = r.text(i, 0);
  b.user_id = r.text(i, 1);
  b.name = r.text(i, 2);
  b.description = r.optional_text(i, 3);
  b.embedding_model = r.optional_text(i, 4);
  b.embedding_dim = r.optional_int64(i, 5);
  b.document_count = r.int64(i, 6);
  b.chunk_count = r.int64(i, 7);
  b.term_count = r.int64(i, 8);
  b.bytes = r.int64(i, 9);
  b.created_at = from_unix_ms(r.int64(i, 10));
  b.updated_at = from_unix_ms(r.int64(i, 11));
  b.next_embedding_model = r.optional_text(i, 12);
  return b;
}

Document read_document(const Rows& r, int i) {
  Document d;
  d.id = r.text(i, 0);
  d.knowledge_base_id = r.text(i, 1);
  d.user_id = r.text(i, 2);
  d.title = r.text(i, 3);
  d.media_type = r.text(i, 4);
  d.content_hash = r.text(i, 5);
  d.bytes = r.int64(i, 6);
  d.chunk_count = r.int64(i, 7);
  d.created_at = from_unix_ms(r.int64(i, 8));
  d.updated_at = from_unix_ms(r.int64(i, 9));
  Job& j = d.job;
  j.id = r.text(i, 10);
  j.kind = r.text(i, 11);
  j.stage = knowledge::stage_from_string(r.text(i, 12)).value_or(Stage::failed);
  j.chunks_total = r.int64(i, 13);
  j.chunks_done = r.int64(i, 14);
  j.error = r.optional_text(i, 15);
  j.attempts = r.int64(i, 16);
  j.created_at = from_unix_ms(r.int64(i, 17));
  j.updated_at = from_unix_ms(r.int64(i, 18));
  j.document_id = d.id;
  j.knowledge_base_id = d.knowledge_base_id;
  j.user_id = d.user_id;
  return d;
}

Job read_job_row(const Rows& r, int i) {
  Job j;
  j.id = r.text(i, 0);
  j.document_id = r.text(i, 1);
  j.knowledge_base_id = r.text(i, 2);
  j.user_id = r.text(i, 3);
  j.kind = r.text(i, 4);
  j.stage = knowledge::stage_from_string(r.text(i, 5)).value_or(Stage::failed);
  j.chunks_total = r.int64(i, 6);
  j.chunks_done = r.int64(i, 7);
  j.error = r.optional_text(i, 8);
  j.attempts = r.int64(i, 9);
  j.created_at = from_unix_ms(r.int64(i, 10));
  j.updated_at = from_unix_ms(r.int64(i, 11));
  return j;
}

// A text[] literal: {"a","b"} with quotes and backslashes escaped.
std::string text_array(const std::vector<std::string>& v) {
  std::string out = "{";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char ch : v[i]) {
      if (ch == '"' || ch == '\\') out += '\\';
      out += ch;
    }
    out += '"';
  }
  return out + "}";
}

// A bigint[] literal: {1,NULL,3}.
std::string int_array(const std::vector<std::optional<std::int64_t>>& v) {
  std::string out = "{";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    out += v[i] ? std::to_string(*v[i]) : "NULL";
  }
  return out + "}";
}

// The columns of chunk rows to insert, each an array (finish_jobs: one INSERT … unnest).
struct ChunkColumns {
  std::vector<std::string> id, document, base, text, headings, terms;
  std::vector<std::optional<std::int64_t>> ordinal, start, end, page, length;
  void add(const std::string& doc, const std::string& kb, std::int64_t n, const knowledge::NewChunk& ch) {
    id.push_back(new_uuid_v7());
    document.push_back(doc);
    base.push_back(kb);
    ordinal.push_back(n);
    text.push_back(ch.text);
    start.push_back(ch.start);
    end.push_back(ch.end);
    page.push_back(ch.page);
    headings.push_back(store::detail::heading_path_json(ch.heading_path));
    length.push_back(ch.length);
    terms.push_back(knowledge::encode_terms(ch.terms));
  }
};

// bytea travels as hex text (decode($n, 'hex') / encode(col, 'hex')): the parameters are text.
std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

std::string from_hex(std::string_view hex) {
  const auto nibble = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out += static_cast<char>((nibble(hex[i]) << 4) | nibble(hex[i + 1]));
  return out;
}

// A chunk as a passage (columns: id, document, base, title, text, start, end, page, headings).
Passage read_passage(const Rows& r, int i) {
  Passage p;
  p.chunk_id = r.text(i, 0);
  p.document_id = r.text(i, 1);
  p.knowledge_base_id = r.text(i, 2);
  p.title = r.text(i, 3);
  p.text = r.text(i, 4);
  p.start = r.int64(i, 5);
  p.end = r.int64(i, 6);
  p.page = r.optional_int64(i, 7);
  p.heading_path = store::detail::heading_path_from_json(r.text(i, 8));
  return p;
}

class PostgresKnowledgeStore final : public knowledge::KnowledgeStore {
 public:
  PostgresKnowledgeStore(const std::string& url, const Clock& clock)
      : clock_(clock),
        pool_(kPoolSize, [url] { return std::make_unique<Connection>(url); },
              [](const Connection& c) { return c.reusable(); }) {
    auto first = detail::acquire(pool_);
  }

  Result<KnowledgeBase> create_base(const knowledge::NewKnowledgeBase& n) override {
    return run<KnowledgeBase>("create_base", Tx::none, [&](Connection& c) -> Result<KnowledgeBase> {
      auto r = c.query_with("INSERT INTO knowledge_bases (id, user_id, name, description, embedding_model,"
                            " created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING " AAS_KB_COLUMNS,
                            new_uuid_v7(), n.user_id, n.name, n.description, n.embedding_model, now_ms());
      return read_base(r, 0);
    });
  }

  Result<KnowledgeBase> get_base(std::string_view user_id, std::string_view id) override {
    return run<KnowledgeBase>("get_base", Tx::none, [&](Connection& c) { return base_of(c, user_id, id); });
  }

  Result<knowledge::Page<KnowledgeBase>> list_bases(std::string_view user_id,
                                                    const knowledge::PageRequest& page) override {
    auto cursor = store::detail::message_cursor_of(page);
    if (!cursor) return cursor.error();
    const int limit = store::detail::clamp_limit(page.limit);
    return run<knowledge::Page<KnowledgeBase>>(
        "list_bases", Tx::none, [&](Connection& c) -> Result<knowledge::Page<KnowledgeBase>> {
          auto r = c.query_with("SELECT " AAS_KB_COLUMNS " FROM knowledge_bases WHERE user_id = $1"
                                " AND ($2::text IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
                                user_id, *cursor, limit + 1);
          std::vector<KnowledgeBase> items;
          for (int i = 0; i < r.size(); ++i) items.push_back(read_base(r, i));
          return store::detail::id_page(std::move(items), limit);
        });
  }

  Result<KnowledgeBase> update_base(std::string_view user_id, std::string_view id,
                                    const knowledge::KnowledgeBasePatch& p) override {
    return run<KnowledgeBase>("update_base", Tx::none, [&](Connection& c) -> Result<KnowledgeBase> {
      auto r = c.query_with(
          "UPDATE knowledge_bases SET name = coalesce($3, name),"
          " description = CASE WHEN $5 THEN NULL ELSE coalesce($4, description) END, updated_at = $6"
          " WHERE id = $1 AND user_id = $2 RETURNING " AAS_KB_COLUMNS,
          id, user_id, p.name, p.description, p.clear_description, now_ms());
      if (r.empty()) return knowledge_base_not_found();
      return read_base(r, 0);
    });
  }

  Result<void> delete_base(std::string_view user_id, std::string_view id) override {
    return run<void>("delete_base", Tx::write, [&](Connection& c) -> Result<void> {
      if (c.query_with("SELECT 1 FROM knowledge_bases WHERE id = $1 AND user_id = $2 FOR UPDATE", id, user_id).empty())
        return knowledge_base_not_found();
      c.query_with("DELETE FROM knowledge_bases WHERE id = $1", id);
      return {};
    });
  }

  Result<std::int64_t> count_own_bases(std::string_view user_id, const std::vector<std::string>& ids) override {
    return run<std::int64_t>("count_own_bases", Tx::none, [&](Connection& c) -> Result<std::int64_t> {
      auto r = c.query_with("SELECT count(*) FROM knowledge_bases WHERE user_id = $1 AND id = ANY($2::text[])",
                            user_id, text_array(ids));
      return r.int64(0, 0);
    });
  }

  // The user's uploads are serialised by an advisory lock (the quota), so what runs under it is
  // kept to two statements: every check in one read, every write in one statement (its CTEs), and
  // the answer built here rather than read back. Nine round trips under the lock made a bulk
  // upload wait on the lock (docs/benchmarks.md, session 10).
  Result<AddedDocument> add_document(const knowledge::NewDocument& n, const knowledge::Quota& quota) override {
    return run<AddedDocument>("add_document", Tx::write, [&](Connection& c) -> Result<AddedDocument> {
      c.query_with("SELECT pg_advisory_xact_lock($1, hashtext($2))", kQuotaLockClass, n.user_id);
      auto check = c.query_with(
          "SELECT EXISTS (SELECT 1 FROM knowledge_bases WHERE id = $1 AND user_id = $2),"
          " (SELECT id FROM kb_documents WHERE knowledge_base_id = $1 AND content_hash = $3),"
          " coalesce(sum(document_count), 0)::bigint, coalesce(sum(bytes), 0)::bigint"
          " FROM knowledge_bases WHERE user_id = $2",
          n.knowledge_base_id, n.user_id, n.content_hash);
      if (check.text(0, 0) != "t") return knowledge_base_not_found();
      if (auto existing = check.optional_text(0, 1)) {
        auto d = document_of(c, n.user_id, n.knowledge_base_id, *existing);
        if (!d) return d.error();
        return AddedDocument{std::move(*d), true};
      }
      const auto bytes = static_cast<std::int64_t>(n.content.size());
      if (auto q = store::detail::check_quota(quota, check.int64(0, 2), check.int64(0, 3), bytes); !q) return q.error();
      Document d = store::detail::new_document(n, now_ms());
      c.query_with("WITH doc AS (INSERT INTO kb_documents (id, knowledge_base_id, user_id, title, media_type,"
                   " content_hash, bytes, job_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)),"
                   " src AS (INSERT INTO kb_sources (document_id, content) VALUES ($1, decode($10, 'hex'))),"
                   " job AS (INSERT INTO kb_jobs (id, document_id, knowledge_base_id, user_id, kind, stage, created_at,"
                   " updated_at) VALUES ($8, $1, $2, $3, 'ingest', 'queued', $9, $9))"
                   " UPDATE knowledge_bases SET document_count = document_count + 1, bytes = bytes + $7,"
                   " updated_at = $9 WHERE id = $2",
                   d.id, d.knowledge_base_id, d.user_id, d.title, d.media_type, d.content_hash, bytes, d.job.id,
                   to_unix_ms(d.created_at), to_hex(n.content));
      return AddedDocument{std::move(d), false};
    });
  }

  Result<Document> get_document(std::string_view user_id, std::string_view kb_id, std::string_view id) override {
    return run<Document>("get_document", Tx::none,
                         [&](Connection& c) { return document_of(c, user_id, kb_id, id); });
  }

  Result<knowledge::Page<Document>> list_documents(std::string_view user_id, std::string_view kb_id,
                                                   const knowledge::PageRequest& page) override {
    auto cursor = store::detail::message_cursor_of(page);
    if (!cursor) return cursor.error();
    const int limit = store::detail::clamp_limit(page.limit);
    return run<knowledge::Page<Document>>(
        "list_documents", Tx::read, [&](Connection& c) -> Result<knowledge::Page<Document>> {
          if (auto b = base_of(c, user_id, kb_id); !b) return b.error();
          auto r = c.query_with(AAS_KB_DOCUMENT_SELECT " WHERE d.knowledge_base_id = $1 AND d.user_id = $2"
                                " AND ($3::text IS NULL OR d.id > $3) ORDER BY d.id LIMIT $4",
                                kb_id, user_id, *cursor, limit + 1);
          std::vector<Document> items;
          for (int i = 0; i < r.size(); ++i) items.push_back(read_document(r, i));
          return store::detail::id_page(std::move(items), limit);
        });
  }

  Result<void> delete_document(std::string_view user_id, std::string_view kb_id, std::string_view id) override {
    return run<void>("delete_document", Tx::write, [&](Connection& c) -> Result<void> {
      auto d = document_of(c, user_id, kb_id, id, true);
      if (!d) return d.error();
      remove_chunks(c, d->id, kb_id);
      c.query_with("DELETE FROM kb_documents WHERE id = $1", id);
      c.query_with("UPDATE knowledge_bases SET document_count = document_count - 1, bytes = bytes - $2,"
                   " updated_at = $3 WHERE id = $1",
                   kb_id, d->bytes, now_ms());
      return {};
    });
  }

  Result<Document> cancel_job(std::string_view user_id, std::string_view kb_id, std::string_view document_id) override {
    return run<Document>("cancel_job", Tx::write, [&](Connection& c) -> Result<Document> {
      auto d = document_of(c, user_id, kb_id, document_id, true);
      if (!d) return d.error();
      if (d->job.stage == Stage::cancelled) return d;
      if (knowledge::is_terminal(d->job.stage))
        return make_error(errc::conflict, "the document's ingestion has already finished (" +
                                              std::string(knowledge::to_string(d->job.stage)) + ")");
      c.query_with("UPDATE kb_jobs SET stage = 'cancelled', lease_until = 0, updated_at = $2 WHERE id = $1",
                   d->job.id, now_ms());
      return document_of(c, user_id, kb_id, document_id);
    });
  }

  Result<std::vector<knowledge::ClaimedJob>> claim_jobs(const knowledge::ClaimLimits& limits) override {
    using Out = std::vector<knowledge::ClaimedJob>;
    return run<Out>("claim_jobs", Tx::write, [&](Connection& c) -> Result<Out> {
      const auto now = now_ms();
      // SKIP LOCKED: replicas claiming at once each take different jobs (the candidates not taken
      // are unlocked at the commit).
      auto r = c.query_with("SELECT j.id, j.kind, d.bytes, b.embedding_model IS NOT NULL OR b.next_model IS NOT NULL"
                            " FROM kb_jobs j JOIN kb_documents d ON d.id = j.document_id"
                            " JOIN knowledge_bases b ON b.id = j.knowledge_base_id WHERE " AAS_KB_UNFINISHED
                            " AND (stage = 'queued' OR lease_until < $1) ORDER BY j.id LIMIT $2"
                            " FOR UPDATE OF j SKIP LOCKED",
                            now, static_cast<std::int64_t>(std::max<std::size_t>(limits.max_jobs, 1)));
      std::vector<store::detail::ClaimCandidate> candidates;
      for (int i = 0; i < r.size(); ++i)
        candidates.push_back({r.text(i, 0), store::detail::light_job(r.text(i, 1), r.int64(i, 2), r.text(i, 3) == "t", limits)});
      const auto ids = store::detail::pick_claims(candidates, limits);
      Out out;
      if (ids.empty()) return out;
      auto jobs = c.query_with("UPDATE kb_jobs SET stage = 'parsing', attempts = attempts + 1, chunks_done = 0,"
                               " lease_until = $2, updated_at = $1 WHERE id = ANY($3::text[]) RETURNING " AAS_KB_JOB_COLUMNS,
                               now, now + limits.lease_ms, text_array(ids));
      std::vector<std::string> documents, ingest;
      for (int i = 0; i < jobs.size(); ++i) {
        knowledge::ClaimedJob claimed;
        claimed.job = read_job_row(jobs, i);
        documents.push_back(claimed.job.document_id);
        if (claimed.job.kind == "ingest") ingest.push_back(claimed.job.document_id);
        out.push_back(std::move(claimed));
      }
      std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.job.id < b.job.id; });
      // What the workers read first, read here: one query for the batch instead of three per job.
      auto docs = c.query_with("SELECT d.id, d.title, encode(s.content, 'hex'), b.embedding_model, b.next_model,"
                               " b.vector_space FROM kb_documents d JOIN knowledge_bases b ON b.id = d.knowledge_base_id"
                               " LEFT JOIN kb_sources s ON s.document_id = d.id AND d.id = ANY($2::text[])"
                               " WHERE d.id = ANY($1::text[])",
                               text_array(documents), text_array(ingest));
      std::map<std::string, int> row_of;
      for (int i = 0; i < docs.size(); ++i) row_of[docs.text(i, 0)] = i;
      for (knowledge::ClaimedJob& claimed : out) {
        auto it = row_of.find(claimed.job.document_id);
        if (it == row_of.end()) continue;
        const int i = it->second;
        claimed.title = docs.text(i, 1);
        if (auto hex = docs.optional_text(i, 2)) claimed.source = from_hex(*hex);
        claimed.target = store::detail::vector_target(docs.optional_text(i, 3), docs.optional_text(i, 4), docs.int64(i, 5));
      }
      return out;
    });
  }

  Result<std::string> document_source(std::string_view document_id) override {
    return run<std::string>("document_source", Tx::none, [&](Connection& c) -> Result<std::string> {
      auto r = c.query_with("SELECT encode(content, 'hex') FROM kb_sources WHERE document_id = $1", document_id);
      if (r.empty()) return document_not_found();
      return from_hex(r.text(0, 0));
    });
  }

  Result<bool> advance_job(std::string_view job_id, Stage stage, std::int64_t done, std::int64_t total,
                           std::int64_t lease_ms) override {
    return run<bool>("advance_job", Tx::none, [&](Connection& c) -> Result<bool> {
      const auto now = now_ms();
      auto r = c.query_with("UPDATE kb_jobs SET stage = $2, chunks_done = $3, chunks_total = $4, lease_until = $5,"
                            " updated_at = $6 WHERE id = $1 AND " AAS_KB_RUNNING,
                            job_id, knowledge::to_string(stage), done, total, now + lease_ms, now);
      return r.affected() > 0;
    });
  }

  // A batch costs a fixed number of statements (round trips), not a few per document and chunk:
  // the chunks, documents and jobs are written from arrays (unnest).
  Result<std::vector<bool>> finish_jobs(const std::vector<knowledge::FinishedJob>& jobs) override {
    return run<std::vector<bool>>("finish_jobs", Tx::write, [&](Connection& c) -> Result<std::vector<bool>> {
      const auto now = now_ms();
      std::vector<std::string> ids;
      for (const knowledge::FinishedJob& job : jobs) ids.push_back(job.job_id);
      auto running = c.query_with("SELECT id, document_id, knowledge_base_id FROM kb_jobs WHERE id = ANY($1::text[])"
                                  " AND " AAS_KB_RUNNING " ORDER BY id FOR UPDATE",
                                  text_array(ids));
      std::map<std::string, std::pair<std::string, std::string>> of;  // job -> (document, base)
      std::vector<std::string> docs;
      for (int i = 0; i < running.size(); ++i) {
        of[running.text(i, 0)] = {running.text(i, 1), running.text(i, 2)};
        docs.push_back(running.text(i, 1));
      }
      std::vector<bool> out(jobs.size(), false);
      if (of.empty()) return out;
      // Chunks of an earlier run of a document (rare: a job taken over after its finish) go first.
      auto old = c.query_with("SELECT c.document_id, d.knowledge_base_id, count(*), coalesce(sum(c.term_count), 0)::bigint"
                              " FROM kb_chunks c JOIN kb_documents d ON d.id = c.document_id"
                              " WHERE c.document_id = ANY($1::text[]) GROUP BY c.document_id, d.knowledge_base_id",
                              text_array(docs));
      for (int i = 0; i < old.size(); ++i) {
        c.query_with("DELETE FROM kb_chunks WHERE document_id = $1", old.text(i, 0));
        log_change(c, old.text(i, 1), old.text(i, 0), -old.int64(i, 2), -old.int64(i, 3));
      }
      ChunkColumns rows;
      std::vector<std::string> done_jobs, done_docs;
      std::vector<std::optional<std::int64_t>> counts;
      std::map<std::string, store::detail::BaseChanges> bases;
      for (std::size_t j = 0; j < jobs.size(); ++j) {
        auto it = of.find(jobs[j].job_id);
        if (it == of.end()) continue;
        const auto& [doc_id, kb_id] = it->second;
        std::int64_t terms = 0, ordinal = 0;
        for (const knowledge::NewChunk& ch : jobs[j].chunks) {
          rows.add(doc_id, kb_id, ordinal++, ch);
          terms += ch.length;
        }
        const auto n = static_cast<std::int64_t>(jobs[j].chunks.size());
        done_jobs.push_back(jobs[j].job_id);
        done_docs.push_back(doc_id);
        counts.push_back(n);
        bases[kb_id].add(jobs[j].job_id, doc_id, n, terms);
        out[j] = true;
      }
      if (!rows.id.empty())
        c.query_with("INSERT INTO kb_chunks (id, document_id, knowledge_base_id, ordinal, text, start_offset,"
                     " end_offset, page, heading_path, term_count, terms)"
                     " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::bigint[],"
                     " $7::bigint[], $8::bigint[], $9::text[], $10::bigint[], $11::text[])",
                     text_array(rows.id), text_array(rows.document), text_array(rows.base), int_array(rows.ordinal),
                     text_array(rows.text), int_array(rows.start), int_array(rows.end), int_array(rows.page),
                     text_array(rows.headings), int_array(rows.length), text_array(rows.terms));
      c.query_with("UPDATE kb_documents d SET chunk_count = u.n, updated_at = $3"
                   " FROM unnest($1::text[], $2::bigint[]) AS u(id, n) WHERE d.id = u.id",
                   text_array(done_docs), int_array(counts), now);
      c.query_with("UPDATE kb_jobs j SET stage = 'indexed', chunks_done = u.n, chunks_total = u.n, error = NULL,"
                   " lease_until = 0, updated_at = $3 FROM unnest($1::text[], $2::bigint[]) AS u(id, n) WHERE j.id = u.id",
                   text_array(done_jobs), int_array(counts), now);
      for (const auto& [kb_id, changes] : bases) {
        // Embeddings (issue 12): an ingestion job's staged vectors join its chunks.
        if (log_changes(c, kb_id, changes, now))
          for (std::size_t i = 0; i < changes.documents.size(); ++i)
            promote_staged_vectors(c, changes.jobs[i], changes.documents[i], kb_id);
      }
      return out;
    });
  }

  Result<bool> fail_job(std::string_view job_id, std::string_view error) override {
    return run<bool>("fail_job", Tx::none, [&](Connection& c) -> Result<bool> {
      auto r = c.query_with("UPDATE kb_jobs SET stage = 'failed', error = $2, lease_until = 0, updated_at = $3"
                            " WHERE id = $1 AND " AAS_KB_RUNNING,
                            job_id, error, now_ms());
      return r.affected() > 0;
    });
  }

  Result<std::vector<knowledge::LexicalBase>> lexical_bases(std::string_view user_id,
                                                           const std::vector<std::string>& kb_ids) override {
    using Out = std::vector<knowledge::LexicalBase>;
    return run<Out>("lexical_bases", Tx::none, [&](Connection& c) -> Result<Out> {
      auto r = c.query_with("SELECT id, lexical_version FROM knowledge_bases WHERE user_id = $1"
                            " AND id = ANY($2::text[]) ORDER BY id",
                            user_id, text_array(kb_ids));
      Out out;
      for (int i = 0; i < r.size(); ++i) out.push_back({r.text(i, 0), r.int64(i, 1)});
      return out;
    });
  }

  Result<knowledge::LexicalRows> load_lexical(std::string_view kb_id) override {
    return run<knowledge::LexicalRows>("load_lexical", Tx::none, [&](Connection& c) -> Result<knowledge::LexicalRows> {
      // One statement, so the version and the rows are of one snapshot.
      auto r = c.query_with("SELECT b.lexical_version, c.id, c.term_count, c.terms, c.document_id FROM knowledge_bases b"
                            " LEFT JOIN kb_chunks c ON c.knowledge_base_id = b.id WHERE b.id = $1 ORDER BY c.id",
                            kb_id);
      if (r.empty()) return knowledge_base_not_found();
      knowledge::LexicalRows out;
      out.version = r.int64(0, 0);
      out.chunks.reserve(static_cast<std::size_t>(r.size()));
      for (int i = 0; i < r.size(); ++i)
        if (r.optional_text(i, 1)) out.chunks.push_back({r.text(i, 1), r.int64(i, 2), r.text(i, 3), r.text(i, 4)});
      return out;
    });
  }

  Result<knowledge::LexicalChanges> lexical_changes(std::string_view kb_id, std::int64_t since) override {
    using Out = knowledge::LexicalChanges;
    return run<Out>("lexical_changes", Tx::read, [&](Connection& c) -> Result<Out> {
      Out out;
      if (auto r = changed_documents(c, kb_id, since, out.version, out.complete, out.documents); !r) return r.error();
      if (!out.complete || out.documents.empty()) return out;
      auto r = c.query_with("SELECT id, term_count, terms, document_id FROM kb_chunks WHERE document_id = ANY($1::text[])"
                            " ORDER BY id",
                            text_array(out.documents));
      for (int i = 0; i < r.size(); ++i) out.chunks.push_back({r.text(i, 0), r.int64(i, 1), r.text(i, 2), r.text(i, 3)});
      return out;
    });
  }

  // --- vectors ---

  Result<std::optional<knowledge::VectorSpace>> embedding_target(std::string_view kb_id) override {
    return run<std::optional<knowledge::VectorSpace>>(
        "embedding_target", Tx::none, [&](Connection& c) -> Result<std::optional<knowledge::VectorSpace>> {
          auto r = c.query_with("SELECT embedding_model, next_model, vector_space FROM knowledge_bases WHERE id = $1",
                                kb_id);
          if (r.empty()) return knowledge_base_not_found();
          return store::detail::vector_target(r.optional_text(0, 0), r.optional_text(0, 1), r.int64(0, 2));
        });
  }

  Result<std::vector<std::pair<std::int64_t, std::string>>> staged_vectors(std::string_view job_id,
                                                                           std::int64_t space) override {
    using Out = std::vector<std::pair<std::int64_t, std::string>>;
    return run<Out>("staged_vectors", Tx::none, [&](Connection& c) -> Result<Out> {
      auto r = c.query_with("SELECT ordinal, text_hash FROM kb_staged_vectors WHERE job_id = $1 AND space = $2",
                            job_id, space);
      Out out;
      for (int i = 0; i < r.size(); ++i) out.emplace_back(r.int64(i, 0), r.text(i, 1));
      return out;
    });
  }

  Result<bool> stage_vectors(std::string_view job_id, std::int64_t space,
                             const std::vector<knowledge::StagedVector>& vectors) override {
    return run<bool>("stage_vectors", Tx::write, [&](Connection& c) -> Result<bool> {
      auto kb = running_job_base(c, job_id);
      if (!kb) return false;
      if (!vectors.empty())
        if (auto r = note_dimension(c, *kb, space, vectors.front().vector.size()); !r) return r.error();
      for (const knowledge::StagedVector& v : vectors)
        c.query_with("INSERT INTO kb_staged_vectors (job_id, ordinal, space, text_hash, embedding)"
                     " VALUES ($1, $2, $3, $4, decode($5, 'hex')) ON CONFLICT (job_id, ordinal) DO UPDATE"
                     " SET space = excluded.space, text_hash = excluded.text_hash, embedding = excluded.embedding",
                     job_id, v.ordinal, space, v.text_hash, to_hex(knowledge::vector_bytes(v.vector)));
      return true;
    });
  }

  Result<KnowledgeBase> start_reindex(std::string_view user_id, std::string_view kb_id,
                                      const std::string& model) override {
    return run<KnowledgeBase>("start_reindex", Tx::write, [&](Connection& c) -> Result<KnowledgeBase> {
      auto b = c.query_with("SELECT id FROM knowledge_bases WHERE id = $1 AND user_id = $2 FOR UPDATE", kb_id, user_id);
      if (b.empty()) return knowledge_base_not_found();
      auto busy = c.query_with("SELECT count(*) FROM kb_jobs WHERE knowledge_base_id = $1 AND " AAS_KB_UNFINISHED, kb_id);
      if (busy.int64(0, 0) > 0)
        return make_error(errc::conflict,
                          "documents of this knowledge base are still being ingested or reindexed; wait for "
                          "them to finish (or cancel them) and reindex again");
      const auto now = now_ms();
      // Leftovers of an earlier model change that never completed (a cancelled reindex job).
      c.query_with("DELETE FROM kb_vectors WHERE knowledge_base_id = $1 AND space > (SELECT vector_space FROM"
                   " knowledge_bases WHERE id = $1)",
                   kb_id);
      c.query_with("UPDATE knowledge_bases SET next_model = $2, next_dim = NULL, updated_at = $3 WHERE id = $1",
                   kb_id, model, now);
      auto docs = c.query_with("SELECT id FROM kb_documents WHERE knowledge_base_id = $1 AND chunk_count > 0", kb_id);
      for (int i = 0; i < docs.size(); ++i) {
        const std::string job = new_uuid_v7();
        const std::string doc = docs.text(i, 0);
        c.query_with("INSERT INTO kb_jobs (id, document_id, knowledge_base_id, user_id, kind, stage, created_at,"
                     " updated_at) VALUES ($1, $2, $3, $4, 'reindex', 'queued', $5, $5)",
                     job, doc, kb_id, user_id, now);
        c.query_with("UPDATE kb_documents SET job_id = $2 WHERE id = $1", doc, job);
      }
      maybe_switch(c, kb_id);
      return base_of(c, user_id, kb_id);
    });
  }

  Result<std::vector<knowledge::ChunkToEmbed>> chunks_to_embed(std::string_view document_id,
                                                               std::int64_t space) override {
    using Out = std::vector<knowledge::ChunkToEmbed>;
    return run<Out>("chunks_to_embed", Tx::none, [&](Connection& c) -> Result<Out> {
      auto r = c.query_with(
          "SELECT c.id, d.title, c.heading_path, c.text FROM kb_chunks c JOIN kb_documents d ON d.id = c.document_id"
          " WHERE c.document_id = $1 AND NOT EXISTS (SELECT 1 FROM kb_vectors v WHERE v.chunk_id = c.id"
          " AND v.space = $2) ORDER BY c.ordinal",
          document_id, space);
      Out out;
      for (int i = 0; i < r.size(); ++i)
        out.push_back({r.text(i, 0), r.text(i, 1), store::detail::heading_path_from_json(r.text(i, 2)), r.text(i, 3)});
      return out;
    });
  }

  Result<bool> store_vectors(std::string_view job_id, std::int64_t space,
                             const std::vector<knowledge::ChunkVector>& vectors) override {
    return run<bool>("store_vectors", Tx::write, [&](Connection& c) -> Result<bool> {
      auto kb = running_job_base(c, job_id);
      if (!kb) return false;
      if (!vectors.empty())
        if (auto r = note_dimension(c, *kb, space, vectors.front().vector.size()); !r) return r.error();
      for (const knowledge::ChunkVector& v : vectors)
        c.query_with("INSERT INTO kb_vectors (chunk_id, space, knowledge_base_id, embedding)"
                     " SELECT id, $2, knowledge_base_id, decode($3, 'hex') FROM kb_chunks WHERE id = $1"
                     " ON CONFLICT (chunk_id, space) DO UPDATE SET embedding = excluded.embedding",
                     v.chunk_id, space, to_hex(knowledge::vector_bytes(v.vector)));
      return true;
    });
  }

  Result<bool> finish_reindex(std::string_view job_id) override {
    return run<bool>("finish_reindex", Tx::write, [&](Connection& c) -> Result<bool> {
      auto kb = running_job_base(c, job_id);
      if (!kb) return false;
      c.query_with("UPDATE kb_jobs SET stage = 'indexed', chunks_done = chunks_total, error = NULL, lease_until = 0,"
                   " updated_at = $2 WHERE id = $1",
                   job_id, now_ms());
      maybe_switch(c, *kb);
      return true;
    });
  }

  Result<std::vector<knowledge::BaseVectors>> vector_bases(std::string_view user_id,
                                                           const std::vector<std::string>& kb_ids) override {
    using Out = std::vector<knowledge::BaseVectors>;
    return run<Out>("vector_bases", Tx::none, [&](Connection& c) -> Result<Out> {
      auto r = c.query_with("SELECT id, embedding_model, vector_space, vectors_version, lexical_version FROM knowledge_bases"
                            " WHERE user_id = $1 AND id = ANY($2::text[]) AND embedding_model IS NOT NULL ORDER BY id",
                            user_id, text_array(kb_ids));
      Out out;
      for (int i = 0; i < r.size(); ++i)
        out.push_back({r.text(i, 0), r.text(i, 1), r.int64(i, 2), r.int64(i, 3), r.int64(i, 4)});
      return out;
    });
  }

  Result<std::vector<knowledge::ChunkVector>> load_vectors(std::string_view kb_id, std::int64_t space) override {
    using Out = std::vector<knowledge::ChunkVector>;
    return run<Out>("load_vectors", Tx::none, [&](Connection& c) -> Result<Out> {
      auto r = c.query_with("SELECT v.chunk_id, encode(v.embedding, 'hex'), c.document_id FROM kb_vectors v"
                            " JOIN kb_chunks c ON c.id = v.chunk_id WHERE v.knowledge_base_id = $1 AND v.space = $2",
                            kb_id, space);
      Out out;
      out.reserve(static_cast<std::size_t>(r.size()));
      for (int i = 0; i < r.size(); ++i)
        out.push_back({r.text(i, 0), knowledge::vector_from_bytes(from_hex(r.text(i, 1))), r.text(i, 2)});
      return out;
    });
  }

  Result<knowledge::VectorChanges> vector_changes(std::string_view kb_id, std::int64_t space,
                                                  std::int64_t since) override {
    using Out = knowledge::VectorChanges;
    return run<Out>("vector_changes", Tx::read, [&](Connection& c) -> Result<Out> {
      Out out;
      if (auto r = changed_documents(c, kb_id, since, out.version, out.complete, out.documents); !r) return r.error();
      if (!out.complete || out.documents.empty()) return out;
      auto r = c.query_with("SELECT v.chunk_id, encode(v.embedding, 'hex'), c.document_id FROM kb_chunks c"
                            " JOIN kb_vectors v ON v.chunk_id = c.id AND v.space = $2"
                            " WHERE c.document_id = ANY($1::text[])",
                            text_array(out.documents), space);
      for (int i = 0; i < r.size(); ++i)
        out.vectors.push_back({r.text(i, 0), knowledge::vector_from_bytes(from_hex(r.text(i, 1))), r.text(i, 2)});
      return out;
    });
  }

  Result<std::vector<Passage>> passages(const std::vector<std::string>& chunk_ids) override {
    return run<std::vector<Passage>>("passages", Tx::none, [&](Connection& c) -> Result<std::vector<Passage>> {
      auto r = c.query_with(
          "SELECT c.id, c.document_id, c.knowledge_base_id, d.title, c.text, c.start_offset, c.end_offset,"
          " c.page, c.heading_path FROM kb_chunks c JOIN kb_documents d ON d.id = c.document_id"
          " WHERE c.id = ANY($1::text[])",
          text_array(chunk_ids));
      std::vector<Passage> out;
      for (int i = 0; i < r.size(); ++i) out.push_back(read_passage(r, i));
      return out;
    });
  }

 private:
  // The base of a job a worker is running; nullopt when it no longer runs.
  std::optional<std::string> running_job_base(Connection& c, std::string_view job_id) {
    auto r = c.query_with("SELECT knowledge_base_id FROM kb_jobs WHERE id = $1 AND " AAS_KB_RUNNING, job_id);
    if (r.empty()) return std::nullopt;
    return r.text(0, 0);
  }

  // The first vector of a space records its dimension; any other must have it.
  Result<void> note_dimension(Connection& c, std::string_view kb_id, std::int64_t space, std::size_t dim) {
    auto r = c.query_with("SELECT vector_space, embedding_dim, next_dim FROM knowledge_bases WHERE id = $1 FOR UPDATE",
                          kb_id);
    if (r.empty()) return knowledge_base_not_found();
    const bool next = space != r.int64(0, 0);
    const auto known = r.optional_int64(0, next ? 2 : 1);
    const auto n = static_cast<std::int64_t>(dim);
    if (known && *known != n) return make_error(errc::invalid_request, AAS_KB_DIM_MISMATCH);
    if (!known)
      c.query_with(next ? "UPDATE knowledge_bases SET next_dim = $2 WHERE id = $1"
                        : "UPDATE knowledge_bases SET embedding_dim = $2 WHERE id = $1",
                   kb_id, n);
    return {};
  }

  // An ingestion job's staged vectors join its chunks (just written by finish_job), in its
  // transaction: a document is searchable by vector as soon as by words.
  void promote_staged_vectors(Connection& c, std::string_view job_id, std::string_view doc_id,
                              std::string_view kb_id) {
    auto moved = c.query_with("INSERT INTO kb_vectors (chunk_id, space, knowledge_base_id, embedding)"
                              " SELECT c.id, s.space, c.knowledge_base_id, s.embedding FROM kb_staged_vectors s"
                              " JOIN kb_chunks c ON c.document_id = $2 AND c.ordinal = s.ordinal WHERE s.job_id = $1"
                              " ON CONFLICT (chunk_id, space) DO UPDATE SET embedding = excluded.embedding",
                              job_id, doc_id);
    const bool any = moved.affected() > 0;
    c.query_with("DELETE FROM kb_staged_vectors WHERE job_id = $1", job_id);
    if (any) c.query_with("UPDATE knowledge_bases SET vectors_version = vectors_version + 1 WHERE id = $1", kb_id);
    maybe_switch(c, kb_id);
  }

  // A model change completes when no reindex job of the base is left and every chunk has its
  // vector in the next space: the base then reads that space, and the old vectors go.
  void maybe_switch(Connection& c, std::string_view kb_id) {
    auto b = c.query_with("SELECT vector_space FROM knowledge_bases WHERE id = $1 AND next_model IS NOT NULL FOR UPDATE",
                          kb_id);
    if (b.empty()) return;
    const std::int64_t space = b.int64(0, 0);
    auto left = c.query_with("SELECT EXISTS (SELECT 1 FROM kb_jobs WHERE knowledge_base_id = $1 AND kind = 'reindex'"
                             " AND " AAS_KB_UNFINISHED ") OR EXISTS (SELECT 1 FROM kb_chunks c WHERE"
                             " c.knowledge_base_id = $1 AND NOT EXISTS (SELECT 1 FROM kb_vectors v"
                             " WHERE v.chunk_id = c.id AND v.space = $2))",
                             kb_id, space + 1);
    if (left.text(0, 0) != "f") return;
    c.query_with("UPDATE knowledge_bases SET embedding_model = next_model, embedding_dim = next_dim,"
                 " vector_space = vector_space + 1, next_model = NULL, next_dim = NULL,"
                 " vectors_version = vectors_version + 1, updated_at = $2 WHERE id = $1",
                 kb_id, now_ms());
    c.query_with("DELETE FROM kb_vectors WHERE knowledge_base_id = $1 AND space <= $2", kb_id, space);
  }

  std::int64_t now_ms() const { return to_unix_ms(clock_.now()); }

  Result<KnowledgeBase> base_of(Connection& c, std::string_view user_id, std::string_view id) {
    auto r = c.query_with("SELECT " AAS_KB_COLUMNS " FROM knowledge_bases WHERE id = $1 AND user_id = $2", id, user_id);
    if (r.empty()) return knowledge_base_not_found();
    return read_base(r, 0);
  }

  // lock: the document's row is locked for the rest of the transaction (delete, cancel).
  Result<Document> document_of(Connection& c, std::string_view user_id, std::string_view kb_id, std::string_view id,
                               bool lock = false) {
    auto r = lock ? c.query_with(AAS_KB_DOCUMENT_SELECT
                                 " WHERE d.id = $1 AND d.knowledge_base_id = $2 AND d.user_id = $3 FOR UPDATE",
                                 id, kb_id, user_id)
                  : c.query_with(AAS_KB_DOCUMENT_SELECT " WHERE d.id = $1 AND d.knowledge_base_id = $2 AND d.user_id = $3",
                                 id, kb_id, user_id);
    if (r.empty()) {
      if (auto b = base_of(c, user_id, kb_id); !b) return b.error();
      return document_not_found();
    }
    return read_document(r, 0);
  }

  void remove_chunks(Connection& c, std::string_view doc_id, std::string_view kb_id) {
    auto r = c.query_with("SELECT count(*), coalesce(sum(term_count), 0)::bigint FROM kb_chunks WHERE document_id = $1",
                          doc_id);
    const std::int64_t n = r.int64(0, 0), terms = r.int64(0, 1);
    if (n == 0) return;
    c.query_with("DELETE FROM kb_chunks WHERE document_id = $1", doc_id);
    log_change(c, kb_id, doc_id, -n, -terms);
  }

  // Moves the base's lexical_version (with its chunk and term counts) and logs the document that
  // moved it: in-process indexes catch up from the log (lexical_changes) instead of reloading. The
  // row lock the UPDATE takes orders the versions as the commits.
  void log_change(Connection& c, std::string_view kb_id, std::string_view doc_id, std::int64_t chunks,
                  std::int64_t terms) {
    store::detail::BaseChanges one;
    one.add({}, std::string(doc_id), chunks, terms);
    log_changes(c, kb_id, one, std::nullopt);
  }

  // The same for several documents of a base: one move of the version each, in one update of the
  // base (with its updated_at when given). True when the base has (or is moving to) an embedding model.
  bool log_changes(Connection& c, std::string_view kb_id, const store::detail::BaseChanges& changes,
                   std::optional<std::int64_t> updated_at) {
    const auto n = static_cast<std::int64_t>(changes.documents.size());
    auto r = c.query_with("UPDATE knowledge_bases SET chunk_count = chunk_count + $2, term_count = term_count + $3,"
                          " lexical_version = lexical_version + $4, updated_at = coalesce($5, updated_at)"
                          " WHERE id = $1 RETURNING lexical_version, embedding_model IS NOT NULL OR next_model IS NOT NULL",
                          kb_id, changes.chunks, changes.terms, n, updated_at);
    const std::int64_t version = r.int64(0, 0);
    std::vector<std::optional<std::int64_t>> versions;
    for (std::int64_t i = 0; i < n; ++i) versions.push_back(version - n + 1 + i);
    c.query_with("INSERT INTO kb_changes (knowledge_base_id, version, document_id)"
                 " SELECT $1, v, d FROM unnest($2::bigint[], $3::text[]) AS u(v, d)",
                 kb_id, int_array(versions), text_array(changes.documents));
    c.query_with("DELETE FROM kb_changes WHERE knowledge_base_id = $1 AND version <= $2", kb_id,
                 version - knowledge::kKeptChanges);
    return r.text(0, 1) == "t";
  }

  // The documents changed after `since` (each once), when the log holds every change since.
  Result<void> changed_documents(Connection& c, std::string_view kb_id, std::int64_t since, std::int64_t& version,
                                 bool& complete, std::vector<std::string>& documents) {
    auto b = c.query_with("SELECT lexical_version FROM knowledge_bases WHERE id = $1", kb_id);
    if (b.empty()) return knowledge_base_not_found();
    version = b.int64(0, 0);
    if (version <= since) {
      complete = true;
      return {};
    }
    auto r = c.query_with("SELECT version, document_id FROM kb_changes WHERE knowledge_base_id = $1 AND version > $2"
                          " ORDER BY version",
                          kb_id, since);
    std::set<std::string> seen;
    for (int i = 0; i < r.size(); ++i)
      if (auto doc = r.text(i, 1); seen.insert(doc).second) documents.push_back(std::move(doc));
    complete = r.size() == version - since;
    return {};
  }

  template <class T, class F>
  Result<T> run(std::string_view op, Tx kind, F&& f) {
    return detail::run_unit<T>(pool_, op, kind, std::forward<F>(f));
  }

  const Clock& clock_;
  Pool pool_;
};

}  // namespace

std::unique_ptr<knowledge::KnowledgeStore> open_postgres_knowledge_store(const std::string& url, const Clock& clock) {
  try {
    return std::make_unique<PostgresKnowledgeStore>(url, clock);
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot connect to PostgreSQL at '" + redact_url(url) + "': " + e.what());
  }
}

}  // namespace aas::store::postgres
