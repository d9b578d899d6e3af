#include "store/sqlite/knowledge_store.hpp"

#include "core/ids.hpp"
#include "store/detail/knowledge_common.hpp"
#include "store/detail/pool.hpp"
#include "store/migrations/sqlite.hpp"
#include "store/sqlite/database.hpp"
#include "store/sqlite/db.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <stdexcept>

namespace aas::store::sqlite {

namespace {

using detail::Connection;
using detail::DbError;
using detail::Statement;
using detail::Transaction;
using detail::db_error;
using knowledge::AddedDocument;
using knowledge::Document;
using knowledge::Job;
using knowledge::KnowledgeBase;
using knowledge::Passage;
using knowledge::Stage;
using store::detail::document_not_found;
using store::detail::knowledge_base_not_found;

constexpr std::size_t kMaxReaders = 4;

// No memory map (SQLite's default): search ranks in process (knowledge/lexical_index.hpp) and
// reads only the top passages by key, so the map saves little (0.14 ms of CPU per SciFact search),
// while every read transaction that followed a write unmapped the whole map (SQLite does so
// whenever the WAL moved), a TLB shootdown across cores each time: 8.7 % of the service's CPU
// during SciFact's ingestion, 27 % less ingestion CPU without it (docs/benchmarks.md). A larger autocheckpoint turns the WAL's fsyncs during a bulk
// ingestion from one per ~4 MB into one per ~64 MB.
constexpr const char* kPragmas = "PRAGMA cache_size=-16384; PRAGMA wal_autocheckpoint=16384;";

KnowledgeBase read_base(const Statement& st) {
  KnowledgeBase b;
  b.id = st.text(0);
  b.user_id = st.text(1);
  b.name = st.text(2);
  b.description = st.optional_text(3);
  b.embedding_model = st.optional_text(4);
  b.embedding_dim = st.optional_int64(5);
  b.document_count = st.int64(6);
  b.chunk_count = st.int64(7);
  b.term_count = st.int64(8);
  b.bytes = st.int64(9);
  b.created_at = from_unix_ms(st.int64(10));
  b.updated_at = from_unix_ms(st.int64(11));
  b.next_embedding_model = st.optional_text(12);
  return b;
}

Job read_job(const Statement& st, int c) {
  Job j;
  j.id = st.text(c);
  j.kind = st.text(c + 1);
  j.stage = knowledge::stage_from_string(st.text(c + 2)).value_or(Stage::failed);
  j.chunks_total = st.int64(c + 3);
  j.chunks_done = st.int64(c + 4);
  j.error = st.optional_text(c + 5);
  j.attempts = st.int64(c + 6);
  j.created_at = from_unix_ms(st.int64(c + 7));
  j.updated_at = from_unix_ms(st.int64(c + 8));
  return j;
}

Document read_document(const Statement& st) {
  Document d;
  d.id = st.text(0);
  d.knowledge_base_id = st.text(1);
  d.user_id = st.text(2);
  d.title = st.text(3);
  d.media_type = st.text(4);
  d.content_hash = st.text(5);
  d.bytes = st.int64(6);
  d.chunk_count = st.int64(7);
  d.created_at = from_unix_ms(st.int64(8));
  d.updated_at = from_unix_ms(st.int64(9));
  d.job = read_job(st, 10);
  d.job.document_id = d.id;
  d.job.knowledge_base_id = d.knowledge_base_id;
  d.job.user_id = d.user_id;
  return d;
}

// A full job row (AAS_KB_JOB_COLUMNS).
Job read_job_row(const Statement& st) {
  Job j;
  j.id = st.text(0);
  j.document_id = st.text(1);
  j.knowledge_base_id = st.text(2);
  j.user_id = st.text(3);
  j.kind = st.text(4);
  j.stage = knowledge::stage_from_string(st.text(5)).value_or(Stage::failed);
  j.chunks_total = st.int64(6);
  j.chunks_done = st.int64(7);
  j.error = st.optional_text(8);
  j.attempts = st.int64(9);
  j.created_at = from_unix_ms(st.int64(10));
  j.updated_at = from_unix_ms(st.int64(11));
  return j;
}

// A chunk as a passage (columns: id, document, base, title, text, start, end, page, headings).
Passage read_passage(const Statement& st) {
  Passage p;
  p.chunk_id = st.text(0);
  p.document_id = st.text(1);
  p.knowledge_base_id = st.text(2);
  p.title = st.text(3);
  p.text = st.text(4);
  p.start = st.int64(5);
  p.end = st.int64(6);
  p.page = st.optional_int64(7);
  p.heading_path = store::detail::heading_path_from_json(st.text(8));
  return p;
}

std::string json_list(const std::vector<std::string>& v) {
  boost::json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return boost::json::serialize(a);
}

class SqliteKnowledgeStore final : public knowledge::KnowledgeStore {
 public:
  SqliteKnowledgeStore(const std::string& path, const Clock& clock)
      : clock_(clock),
        db_(path, kMaxReaders, kPragmas) {
    if (db_.in_memory())
      (void)db_.write_locked<void>("migrate", [](Connection& c) -> Result<void> {
        for (const auto& m : migrations::sqlite_migrations()) c.exec(std::string(m.sql));
        return {};
      });
  }

  Result<KnowledgeBase> create_base(const knowledge::NewKnowledgeBase& n) override {
    return write<KnowledgeBase>("create_base", [&](Connection& c) -> Result<KnowledgeBase> {
      const auto now = now_ms();
      auto st = c.prepare("INSERT INTO knowledge_bases (id, user_id, name, description, embedding_model,"
                          " created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) RETURNING " AAS_KB_COLUMNS);
      st.bind_all(new_uuid_v7(), n.user_id, n.name, n.description, n.embedding_model, now);
      st.step();
      return read_base(st);
    });
  }

  Result<KnowledgeBase> get_base(std::string_view user_id, std::string_view id) override {
    return read<KnowledgeBase>("get_base", [&](Connection& c) { return base_of(c, user_id, id); });
  }

  Result<knowledge::Page<KnowledgeBase>> list_bases(std::string_view user_id,
                                                    const knowledge::PageRequest& page) override {
    auto cursor = store::detail::message_cursor_of(page);
    if (!cursor) return cursor.error();
    const int limit = store::detail::clamp_limit(page.limit);
    return read<knowledge::Page<KnowledgeBase>>("list_bases", [&](Connection& c) -> Result<knowledge::Page<KnowledgeBase>> {
      auto st = c.prepare("SELECT " AAS_KB_COLUMNS " FROM knowledge_bases WHERE user_id = ?1"
                          " AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3");
      st.bind_all(user_id, *cursor, limit + 1);
      std::vector<KnowledgeBase> items;
      while (st.step()) items.push_back(read_base(st));
      return store::detail::id_page(std::move(items), limit);
    });
  }

  Result<KnowledgeBase> update_base(std::string_view user_id, std::string_view id,
                                    const knowledge::KnowledgeBasePatch& p) override {
    return write<KnowledgeBase>("update_base", [&](Connection& c) -> Result<KnowledgeBase> {
      auto st = c.prepare(
          "UPDATE knowledge_bases SET name = coalesce(?3, name),"
          " description = CASE WHEN ?5 THEN NULL ELSE coalesce(?4, description) END, updated_at = ?6"
          " WHERE id = ?1 AND user_id = ?2 RETURNING " AAS_KB_COLUMNS);
      st.bind_all(id, user_id, p.name, p.description, p.clear_description, now_ms());
      if (!st.step()) return knowledge_base_not_found();
      return read_base(st);
    });
  }

  Result<void> delete_base(std::string_view user_id, std::string_view id) override {
    return write<void>("delete_base", [&](Connection& c) -> Result<void> {
      if (auto b = base_of(c, user_id, id); !b) return b.error();
      c.prepare("DELETE FROM knowledge_bases WHERE id = ?1").bind_all(id).run();
      return {};
    });
  }

  Result<std::int64_t> count_own_bases(std::string_view user_id, const std::vector<std::string>& ids) override {
    return read<std::int64_t>("count_own_bases", [&](Connection& c) -> Result<std::int64_t> {
      auto st = c.prepare("SELECT count(*) FROM knowledge_bases WHERE user_id = ?1"
                          " AND id IN (SELECT value FROM json_each(?2))");
      st.bind_all(user_id, json_list(ids));
      st.step();
      return st.int64(0);
    });
  }

  // Every check in one read (ownership, the same bytes, the quota from the bases' running totals:
  // a scan of every document of the user's made each upload O(documents)), and the answer built
  // rather than read back: the writer's lock is held for less.
  Result<AddedDocument> add_document(const knowledge::NewDocument& n, const knowledge::Quota& quota) override {
    return write<AddedDocument>("add_document", [&](Connection& c) -> Result<AddedDocument> {
      std::optional<std::string> existing;
      std::int64_t documents = 0, bytes_used = 0;
      {
        auto st = c.prepare("SELECT EXISTS (SELECT 1 FROM knowledge_bases WHERE id = ?1 AND user_id = ?2),"
                            " (SELECT id FROM kb_documents WHERE knowledge_base_id = ?1 AND content_hash = ?3),"
                            " coalesce(sum(document_count), 0), coalesce(sum(bytes), 0)"
                            " FROM knowledge_bases WHERE user_id = ?2");
        st.bind_all(n.knowledge_base_id, n.user_id, n.content_hash).step();
        if (st.int64(0) == 0) return knowledge_base_not_found();
        existing = st.optional_text(1);
        documents = st.int64(2);
        bytes_used = st.int64(3);
      }
      if (existing) {
        auto d = document_of(c, n.user_id, n.knowledge_base_id, *existing);
        if (!d) return d.error();
        return AddedDocument{std::move(*d), true};
      }
      const auto bytes = static_cast<std::int64_t>(n.content.size());
      if (auto q = store::detail::check_quota(quota, documents, bytes_used, bytes); !q) return q.error();
      Document d = store::detail::new_document(n, now_ms());
      const auto now = to_unix_ms(d.created_at);
      c.prepare("INSERT INTO kb_documents (id, knowledge_base_id, user_id, title, media_type, content_hash,"
                " bytes, job_id, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)")
          .bind_all(d.id, d.knowledge_base_id, d.user_id, d.title, d.media_type, d.content_hash, bytes, d.job.id, now)
          .run();
      c.prepare("INSERT INTO kb_sources (document_id, content) VALUES (?1, ?2)")
          .bind(1, d.id)
          .bind_blob(2, n.content)
          .run();
      c.prepare("INSERT INTO kb_jobs (id, document_id, knowledge_base_id, user_id, kind, stage, created_at,"
                " updated_at) VALUES (?1, ?2, ?3, ?4, 'ingest', 'queued', ?5, ?5)")
          .bind_all(d.job.id, d.id, d.knowledge_base_id, d.user_id, now)
          .run();
      c.prepare("UPDATE knowledge_bases SET document_count = document_count + 1, bytes = bytes + ?2,"
                " updated_at = ?3 WHERE id = ?1")
          .bind_all(d.knowledge_base_id, bytes, now)
          .run();
      return AddedDocument{std::move(d), false};
    });
  }

  Result<Document> get_document(std::string_view user_id, std::string_view kb_id, std::string_view id) override {
    return read<Document>("get_document", [&](Connection& c) { return document_of(c, user_id, kb_id, id); });
  }

  Result<knowledge::Page<Document>> list_documents(std::string_view user_id, std::string_view kb_id,
                                                   const knowledge::PageRequest& page) override {
    auto cursor = store::detail::message_cursor_of(page);
    if (!cursor) return cursor.error();
    const int limit = store::detail::clamp_limit(page.limit);
    return read<knowledge::Page<Document>>("list_documents", [&](Connection& c) -> Result<knowledge::Page<Document>> {
      if (auto b = base_of(c, user_id, kb_id); !b) return b.error();
      auto st = c.prepare(AAS_KB_DOCUMENT_SELECT " WHERE d.knowledge_base_id = ?1 AND d.user_id = ?2"
                          " AND (?3 IS NULL OR d.id > ?3) ORDER BY d.id LIMIT ?4");
      st.bind_all(kb_id, user_id, *cursor, limit + 1);
      std::vector<Document> items;
      while (st.step()) items.push_back(read_document(st));
      return store::detail::id_page(std::move(items), limit);
    });
  }

  Result<void> delete_document(std::string_view user_id, std::string_view kb_id, std::string_view id) override {
    return write<void>("delete_document", [&](Connection& c) -> Result<void> {
      auto d = document_of(c, user_id, kb_id, id);
      if (!d) return d.error();
      remove_chunks(c, d->id, kb_id);
      c.prepare("DELETE FROM kb_documents WHERE id = ?1").bind_all(id).run();
      c.prepare("UPDATE knowledge_bases SET document_count = document_count - 1, bytes = bytes - ?2,"
                " updated_at = ?3 WHERE id = ?1")
          .bind_all(kb_id, d->bytes, now_ms())
          .run();
      return {};
    });
  }

  Result<Document> cancel_job(std::string_view user_id, std::string_view kb_id, std::string_view document_id) override {
    return write<Document>("cancel_job", [&](Connection& c) -> Result<Document> {
      auto d = document_of(c, user_id, kb_id, document_id);
      if (!d) return d.error();
      if (d->job.stage == Stage::cancelled) return d;
      if (knowledge::is_terminal(d->job.stage))
        return make_error(errc::conflict, "the document's ingestion has already finished (" +
                                              std::string(knowledge::to_string(d->job.stage)) + ")");
      c.prepare("UPDATE kb_jobs SET stage = 'cancelled', lease_until = 0, updated_at = ?2 WHERE id = ?1")
          .bind_all(d->job.id, now_ms())
          .run();
      return document_of(c, user_id, kb_id, document_id);
    });
  }

  Result<std::vector<knowledge::ClaimedJob>> claim_jobs(const knowledge::ClaimLimits& limits) override {
    using Out = std::vector<knowledge::ClaimedJob>;
    return write<Out>("claim_jobs", [&](Connection& c) -> Result<Out> {
      const auto now = now_ms();
      std::vector<store::detail::ClaimCandidate> candidates;
      {
        auto st = c.prepare("SELECT j.id, j.kind, d.bytes, b.embedding_model IS NOT NULL OR b.next_model IS NOT NULL"
                            " FROM kb_jobs j JOIN kb_documents d ON d.id = j.document_id"
                            " JOIN knowledge_bases b ON b.id = j.knowledge_base_id WHERE " AAS_KB_UNFINISHED
                            " AND (stage = 'queued' OR lease_until < ?1) ORDER BY j.id LIMIT ?2");
        st.bind_all(now, static_cast<std::int64_t>(std::max<std::size_t>(limits.max_jobs, 1)));
        while (st.step())
          candidates.push_back({st.text(0), store::detail::light_job(st.text(1), st.int64(2), st.int64(3) != 0, limits)});
      }
      Out out;
      for (const std::string& id : store::detail::pick_claims(candidates, limits)) {
        knowledge::ClaimedJob claimed;
        {
          auto st = c.prepare("UPDATE kb_jobs SET stage = 'parsing', attempts = attempts + 1, chunks_done = 0,"
                              " lease_until = ?2, updated_at = ?3 WHERE id = ?1 RETURNING " AAS_KB_JOB_COLUMNS);
          st.bind_all(id, now + limits.lease_ms, now).step();
          claimed.job = read_job_row(st);
        }
        // What the worker reads first, read here: one transaction for the batch instead of three
        // reads per job.
        auto st = c.prepare("SELECT d.title, s.content, b.embedding_model, b.next_model, b.vector_space"
                            " FROM kb_documents d JOIN knowledge_bases b ON b.id = d.knowledge_base_id"
                            " LEFT JOIN kb_sources s ON s.document_id = d.id AND ?2 = 'ingest' WHERE d.id = ?1");
        if (st.bind_all(claimed.job.document_id, claimed.job.kind).step()) {
          claimed.title = st.text(0);
          claimed.source = st.blob(1);
          claimed.target = store::detail::vector_target(st.optional_text(2), st.optional_text(3), st.int64(4));
        }
        out.push_back(std::move(claimed));
      }
      return out;
    });
  }

  Result<std::string> document_source(std::string_view document_id) override {
    return read<std::string>("document_source", [&](Connection& c) -> Result<std::string> {
      auto st = c.prepare("SELECT content FROM kb_sources WHERE document_id = ?1");
      if (!st.bind_all(document_id).step()) return document_not_found();
      return st.blob(0);
    });
  }

  Result<bool> advance_job(std::string_view job_id, Stage stage, std::int64_t done, std::int64_t total,
                           std::int64_t lease_ms) override {
    return write<bool>("advance_job", [&](Connection& c) -> Result<bool> {
      const auto now = now_ms();
      c.prepare("UPDATE kb_jobs SET stage = ?2, chunks_done = ?3, chunks_total = ?4, lease_until = ?5,"
                " updated_at = ?6 WHERE id = ?1 AND " AAS_KB_RUNNING)
          .bind_all(job_id, knowledge::to_string(stage), done, total, now + lease_ms, now)
          .run();
      return c.changes() > 0;
    });
  }

  Result<std::vector<bool>> finish_jobs(const std::vector<knowledge::FinishedJob>& jobs) override {
    return write<std::vector<bool>>("finish_jobs", [&](Connection& c) -> Result<std::vector<bool>> {
      const auto now = now_ms();
      std::vector<bool> out;
      // Each base's share of the batch: its documents (in order) and their chunk and term counts,
      // logged as one move of its lexical_version per document, in one statement each.
      std::map<std::string, store::detail::BaseChanges, std::less<>> bases;
      for (const knowledge::FinishedJob& job : jobs) {
        std::string doc_id, kb_id;
        {
          auto st = c.prepare("SELECT document_id, knowledge_base_id FROM kb_jobs WHERE id = ?1 AND " AAS_KB_RUNNING);
          if (!st.bind_all(job.job_id).step()) {
            out.push_back(false);
            continue;
          }
          doc_id = st.text(0);
          kb_id = st.text(1);
        }
        remove_chunks(c, doc_id, kb_id);
        std::int64_t terms = 0;
        std::int64_t ordinal = 0;
        for (const knowledge::NewChunk& ch : job.chunks) {
          // A chunk and its term counts in one row (the lexical index is built from them).
          c.prepare("INSERT INTO kb_chunks (id, document_id, knowledge_base_id, ordinal, text, start_offset,"
                    " end_offset, page, heading_path, term_count, terms)"
                    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)")
              .bind_all(new_uuid_v7(), doc_id, kb_id, ordinal++, ch.text, ch.start, ch.end, ch.page,
                        store::detail::heading_path_json(ch.heading_path), ch.length, knowledge::encode_terms(ch.terms))
              .run();
          terms += ch.length;
        }
        const auto n = static_cast<std::int64_t>(job.chunks.size());
        c.prepare("UPDATE kb_documents SET chunk_count = ?2, updated_at = ?3 WHERE id = ?1")
            .bind_all(doc_id, n, now)
            .run();
        c.prepare("UPDATE kb_jobs SET stage = 'indexed', chunks_done = ?2, chunks_total = ?2, error = NULL,"
                  " lease_until = 0, updated_at = ?3 WHERE id = ?1")
            .bind_all(job.job_id, n, now)
            .run();
        bases[kb_id].add(job.job_id, doc_id, n, terms);
        out.push_back(true);
      }
      for (const auto& [kb_id, changes] : bases) {
        bool vectors = false;
        log_changes(c, kb_id, changes, now, vectors);
        // Embeddings (issue 12): an ingestion job's staged vectors join its chunks.
        if (vectors)
          for (std::size_t i = 0; i < changes.documents.size(); ++i)
            promote_staged_vectors(c, changes.jobs[i], changes.documents[i], kb_id);
      }
      return out;
    });
  }

  Result<bool> fail_job(std::string_view job_id, std::string_view error) override {
    return write<bool>("fail_job", [&](Connection& c) -> Result<bool> {
      c.prepare("UPDATE kb_jobs SET stage = 'failed', error = ?2, lease_until = 0, updated_at = ?3"
                " WHERE id = ?1 AND " AAS_KB_RUNNING)
          .bind_all(job_id, error, now_ms())
          .run();
      return c.changes() > 0;
    });
  }

  Result<std::vector<knowledge::LexicalBase>> lexical_bases(std::string_view user_id,
                                                           const std::vector<std::string>& kb_ids) override {
    using Out = std::vector<knowledge::LexicalBase>;
    return read<Out>("lexical_bases", [&](Connection& c) -> Result<Out> {
      auto st = c.prepare("SELECT id, lexical_version FROM knowledge_bases WHERE user_id = ?1"
                          " AND id IN (SELECT value FROM json_each(?2)) ORDER BY id");
      st.bind_all(user_id, json_list(kb_ids));
      Out out;
      while (st.step()) out.push_back({st.text(0), st.int64(1)});
      return out;
    });
  }

  Result<knowledge::LexicalRows> load_lexical(std::string_view kb_id) override {
    return read<knowledge::LexicalRows>("load_lexical", [&](Connection& c) -> Result<knowledge::LexicalRows> {
      Transaction tx(c, Transaction::Kind::read);  // the version and the rows of one state
      knowledge::LexicalRows out;
      {
        auto st = c.prepare("SELECT lexical_version, chunk_count FROM knowledge_bases WHERE id = ?1");
        if (!st.bind_all(kb_id).step()) return knowledge_base_not_found();
        out.version = st.int64(0);
        out.chunks.reserve(static_cast<std::size_t>(std::max<std::int64_t>(0, st.int64(1))));
      }
      auto st = c.prepare("SELECT id, term_count, terms, document_id FROM kb_chunks WHERE knowledge_base_id = ?1"
                          " ORDER BY id");
      st.bind_all(kb_id);
      while (st.step()) out.chunks.push_back({st.text(0), st.int64(1), st.text(2), st.text(3)});
      return out;
    });
  }

  Result<knowledge::LexicalChanges> lexical_changes(std::string_view kb_id, std::int64_t since) override {
    using Out = knowledge::LexicalChanges;
    return read<Out>("lexical_changes", [&](Connection& c) -> Result<Out> {
      Transaction tx(c, Transaction::Kind::read);  // the log and the chunks of one state
      Out out;
      if (auto r = changed_documents(c, kb_id, since, out.version, out.complete, out.documents); !r) return r.error();
      if (!out.complete || out.documents.empty()) return out;
      auto st = c.prepare("SELECT id, term_count, terms, document_id FROM kb_chunks"
                          " WHERE document_id IN (SELECT value FROM json_each(?1)) ORDER BY id");
      st.bind_all(json_list(out.documents));
      while (st.step()) out.chunks.push_back({st.text(0), st.int64(1), st.text(2), st.text(3)});
      return out;
    });
  }

  // --- vectors ---

  Result<std::optional<knowledge::VectorSpace>> embedding_target(std::string_view kb_id) override {
    return read<std::optional<knowledge::VectorSpace>>(
        "embedding_target", [&](Connection& c) -> Result<std::optional<knowledge::VectorSpace>> {
          auto st = c.prepare("SELECT embedding_model, next_model, vector_space FROM knowledge_bases WHERE id = ?1");
          if (!st.bind_all(kb_id).step()) return knowledge_base_not_found();
          return store::detail::vector_target(st.optional_text(0), st.optional_text(1), st.int64(2));
        });
  }

  Result<std::vector<std::pair<std::int64_t, std::string>>> staged_vectors(std::string_view job_id,
                                                                           std::int64_t space) override {
    using Out = std::vector<std::pair<std::int64_t, std::string>>;
    return read<Out>("staged_vectors", [&](Connection& c) -> Result<Out> {
      auto st = c.prepare("SELECT ordinal, text_hash FROM kb_staged_vectors WHERE job_id = ?1 AND space = ?2");
      st.bind_all(job_id, space);
      Out out;
      while (st.step()) out.emplace_back(st.int64(0), st.text(1));
      return out;
    });
  }

  Result<bool> stage_vectors(std::string_view job_id, std::int64_t space,
                             const std::vector<knowledge::StagedVector>& vectors) override {
    return write<bool>("stage_vectors", [&](Connection& c) -> Result<bool> {
      auto kb = running_job_base(c, job_id);
      if (!kb) return false;
      if (!vectors.empty())
        if (auto r = note_dimension(c, *kb, space, vectors.front().vector.size()); !r) return r.error();
      for (const knowledge::StagedVector& v : vectors)
        c.prepare("INSERT OR REPLACE INTO kb_staged_vectors (job_id, ordinal, space, text_hash, embedding)"
                  " VALUES (?1, ?2, ?3, ?4, ?5)")
            .bind_all(job_id, v.ordinal, space, v.text_hash)
            .bind_blob(5, knowledge::vector_bytes(v.vector))
            .run();
      return true;
    });
  }

  Result<KnowledgeBase> start_reindex(std::string_view user_id, std::string_view kb_id,
                                      const std::string& model) override {
    return write<KnowledgeBase>("start_reindex", [&](Connection& c) -> Result<KnowledgeBase> {
      if (auto b = base_of(c, user_id, kb_id); !b) return b.error();
      {
        auto st = c.prepare("SELECT count(*) FROM kb_jobs WHERE knowledge_base_id = ?1 AND " AAS_KB_UNFINISHED);
        st.bind_all(kb_id).step();
        if (st.int64(0) > 0)
          return make_error(errc::conflict,
                            "documents of this knowledge base are still being ingested or reindexed; wait for "
                            "them to finish (or cancel them) and reindex again");
      }
      const auto now = now_ms();
      // Leftovers of an earlier model change that never completed (a cancelled reindex job).
      c.prepare("DELETE FROM kb_vectors WHERE knowledge_base_id = ?1 AND space > (SELECT vector_space FROM"
                " knowledge_bases WHERE id = ?1)")
          .bind_all(kb_id)
          .run();
      c.prepare("UPDATE knowledge_bases SET next_model = ?2, next_dim = NULL, updated_at = ?3 WHERE id = ?1")
          .bind_all(kb_id, model, now)
          .run();
      std::vector<std::string> docs;
      {
        auto st = c.prepare("SELECT id FROM kb_documents WHERE knowledge_base_id = ?1 AND chunk_count > 0");
        st.bind_all(kb_id);
        while (st.step()) docs.push_back(st.text(0));
      }
      for (const std::string& doc : docs) {
        const std::string job = new_uuid_v7();
        c.prepare("INSERT INTO kb_jobs (id, document_id, knowledge_base_id, user_id, kind, stage, created_at,"
                  " updated_at) VALUES (?1, ?2, ?3, ?4, 'reindex', 'queued', ?5, ?5)")
            .bind_all(job, doc, kb_id, user_id, now)
            .run();
        c.prepare("UPDATE kb_documents SET job_id = ?2 WHERE id = ?1").bind_all(doc, job).run();
      }
      maybe_switch(c, kb_id);
      return base_of(c, user_id, kb_id);
    });
  }

  Result<std::vector<knowledge::ChunkToEmbed>> chunks_to_embed(std::string_view document_id,
                                                               std::int64_t space) override {
    using Out = std::vector<knowledge::ChunkToEmbed>;
    return read<Out>("chunks_to_embed", [&](Connection& c) -> Result<Out> {
      auto st = c.prepare(
          "SELECT c.id, d.title, c.heading_path, c.text FROM kb_chunks c JOIN kb_documents d ON d.id = c.document_id"
          " WHERE c.document_id = ?1 AND NOT EXISTS (SELECT 1 FROM kb_vectors v WHERE v.chunk_id = c.id"
          " AND v.space = ?2) ORDER BY c.ordinal");
      st.bind_all(document_id, space);
      Out out;
      while (st.step())
        out.push_back({st.text(0), st.text(1), store::detail::heading_path_from_json(st.text(2)), st.text(3)});
      return out;
    });
  }

  Result<bool> store_vectors(std::string_view job_id, std::int64_t space,
                             const std::vector<knowledge::ChunkVector>& vectors) override {
    return write<bool>("store_vectors", [&](Connection& c) -> Result<bool> {
      auto kb = running_job_base(c, job_id);
      if (!kb) return false;
      if (!vectors.empty())
        if (auto r = note_dimension(c, *kb, space, vectors.front().vector.size()); !r) return r.error();
      for (const knowledge::ChunkVector& v : vectors)
        c.prepare("INSERT OR REPLACE INTO kb_vectors (chunk_id, space, knowledge_base_id, embedding)"
                  " SELECT id, ?2, knowledge_base_id, ?3 FROM kb_chunks WHERE id = ?1")
            .bind_all(v.chunk_id, space)
            .bind_blob(3, knowledge::vector_bytes(v.vector))
            .run();
      return true;
    });
  }

  Result<bool> finish_reindex(std::string_view job_id) override {
    return write<bool>("finish_reindex", [&](Connection& c) -> Result<bool> {
      auto kb = running_job_base(c, job_id);
      if (!kb) return false;
      c.prepare("UPDATE kb_jobs SET stage = 'indexed', chunks_done = chunks_total, error = NULL, lease_until = 0,"
                " updated_at = ?2 WHERE id = ?1")
          .bind_all(job_id, now_ms())
          .run();
      maybe_switch(c, *kb);
      return true;
    });
  }

  Result<std::vector<knowledge::BaseVectors>> vector_bases(std::string_view user_id,
                                                           const std::vector<std::string>& kb_ids) override {
    using Out = std::vector<knowledge::BaseVectors>;
    return read<Out>("vector_bases", [&](Connection& c) -> Result<Out> {
      auto st = c.prepare("SELECT id, embedding_model, vector_space, vectors_version, lexical_version FROM knowledge_bases"
                          " WHERE user_id = ?1 AND id IN (SELECT value FROM json_each(?2))"
                          " AND embedding_model IS NOT NULL ORDER BY id");
      st.bind_all(user_id, json_list(kb_ids));
      Out out;
      while (st.step()) out.push_back({st.text(0), st.text(1), st.int64(2), st.int64(3), st.int64(4)});
      return out;
    });
  }

  Result<std::vector<knowledge::ChunkVector>> load_vectors(std::string_view kb_id, std::int64_t space) override {
    using Out = std::vector<knowledge::ChunkVector>;
    return read<Out>("load_vectors", [&](Connection& c) -> Result<Out> {
      auto st = c.prepare("SELECT v.chunk_id, v.embedding, c.document_id FROM kb_vectors v"
                          " JOIN kb_chunks c ON c.id = v.chunk_id WHERE v.knowledge_base_id = ?1 AND v.space = ?2");
      st.bind_all(kb_id, space);
      Out out;
      while (st.step()) out.push_back({st.text(0), knowledge::vector_from_bytes(st.blob(1)), st.text(2)});
      return out;
    });
  }

  Result<knowledge::VectorChanges> vector_changes(std::string_view kb_id, std::int64_t space,
                                                  std::int64_t since) override {
    using Out = knowledge::VectorChanges;
    return read<Out>("vector_changes", [&](Connection& c) -> Result<Out> {
      Transaction tx(c, Transaction::Kind::read);
      Out out;
      if (auto r = changed_documents(c, kb_id, since, out.version, out.complete, out.documents); !r) return r.error();
      if (!out.complete || out.documents.empty()) return out;
      auto st = c.prepare("SELECT v.chunk_id, v.embedding, c.document_id FROM kb_chunks c"
                          " JOIN kb_vectors v ON v.chunk_id = c.id AND v.space = ?2"
                          " WHERE c.document_id IN (SELECT value FROM json_each(?1))");
      st.bind_all(json_list(out.documents), space);
      while (st.step()) out.vectors.push_back({st.text(0), knowledge::vector_from_bytes(st.blob(1)), st.text(2)});
      return out;
    });
  }

  Result<std::vector<Passage>> passages(const std::vector<std::string>& chunk_ids) override {
    return read<std::vector<Passage>>("passages", [&](Connection& c) -> Result<std::vector<Passage>> {
      auto st = c.prepare(
          "SELECT c.id, c.document_id, c.knowledge_base_id, d.title, c.text, c.start_offset, c.end_offset,"
          " c.page, c.heading_path FROM kb_chunks c JOIN kb_documents d ON d.id = c.document_id"
          " WHERE c.id IN (SELECT value FROM json_each(?1))");
      st.bind_all(json_list(chunk_ids));
      std::vector<Passage> out;
      while (st.step()) out.push_back(read_passage(st));
      return out;
    });
  }

 private:
  std::int64_t now_ms() const { return to_unix_ms(clock_.now()); }

  // The base of a job a worker is running; nullopt when it no longer runs.
  std::optional<std::string> running_job_base(Connection& c, std::string_view job_id) {
    auto st = c.prepare("SELECT knowledge_base_id FROM kb_jobs WHERE id = ?1 AND " AAS_KB_RUNNING);
    if (!st.bind_all(job_id).step()) return std::nullopt;
    return st.text(0);
  }

  // The first vector of a space records its dimension; any other must have it.
  Result<void> note_dimension(Connection& c, std::string_view kb_id, std::int64_t space, std::size_t dim) {
    auto st = c.prepare("SELECT vector_space, embedding_dim, next_dim FROM knowledge_bases WHERE id = ?1");
    if (!st.bind_all(kb_id).step()) return knowledge_base_not_found();
    const bool next = space != st.int64(0);
    const auto known = st.optional_int64(next ? 2 : 1);
    const auto n = static_cast<std::int64_t>(dim);
    if (known && *known != n) return make_error(errc::invalid_request, AAS_KB_DIM_MISMATCH);
    if (!known)
      c.prepare(next ? "UPDATE knowledge_bases SET next_dim = ?2 WHERE id = ?1"
                     : "UPDATE knowledge_bases SET embedding_dim = ?2 WHERE id = ?1")
          .bind_all(kb_id, n)
          .run();
    return {};
  }

  // An ingestion job's staged vectors join its chunks (just written by finish_job), in its
  // transaction: a document is searchable by vector as soon as by words.
  void promote_staged_vectors(Connection& c, std::string_view job_id, std::string_view doc_id,
                              std::string_view kb_id) {
    c.prepare("INSERT OR REPLACE INTO kb_vectors (chunk_id, space, knowledge_base_id, embedding)"
              " SELECT c.id, s.space, c.knowledge_base_id, s.embedding FROM kb_staged_vectors s"
              " JOIN kb_chunks c ON c.document_id = ?2 AND c.ordinal = s.ordinal WHERE s.job_id = ?1")
        .bind_all(job_id, doc_id)
        .run();
    const bool any = c.changes() > 0;
    c.prepare("DELETE FROM kb_staged_vectors WHERE job_id = ?1").bind_all(job_id).run();
    if (any)
      c.prepare("UPDATE knowledge_bases SET vectors_version = vectors_version + 1 WHERE id = ?1").bind_all(kb_id).run();
    maybe_switch(c, kb_id);
  }

  // A model change completes when no reindex job of the base is left and every chunk has its
  // vector in the next space: the base then reads that space, and the old vectors go.
  void maybe_switch(Connection& c, std::string_view kb_id) {
    std::int64_t space = 0;
    {
      auto st = c.prepare("SELECT vector_space FROM knowledge_bases WHERE id = ?1 AND next_model IS NOT NULL");
      if (!st.bind_all(kb_id).step()) return;
      space = st.int64(0);
    }
    {
      auto st = c.prepare("SELECT EXISTS (SELECT 1 FROM kb_jobs WHERE knowledge_base_id = ?1 AND kind = 'reindex'"
                          " AND " AAS_KB_UNFINISHED ") OR EXISTS (SELECT 1 FROM kb_chunks c WHERE"
                          " c.knowledge_base_id = ?1 AND NOT EXISTS (SELECT 1 FROM kb_vectors v"
                          " WHERE v.chunk_id = c.id AND v.space = ?2))");
      st.bind_all(kb_id, space + 1).step();
      if (st.int64(0) != 0) return;
    }
    c.prepare("UPDATE knowledge_bases SET embedding_model = next_model, embedding_dim = next_dim,"
              " vector_space = vector_space + 1, next_model = NULL, next_dim = NULL,"
              " vectors_version = vectors_version + 1, updated_at = ?2 WHERE id = ?1")
        .bind_all(kb_id, now_ms())
        .run();
    c.prepare("DELETE FROM kb_vectors WHERE knowledge_base_id = ?1 AND space <= ?2").bind_all(kb_id, space).run();
  }

  Result<KnowledgeBase> base_of(Connection& c, std::string_view user_id, std::string_view id) {
    auto st = c.prepare("SELECT " AAS_KB_COLUMNS " FROM knowledge_bases WHERE id = ?1 AND user_id = ?2");
    if (!st.bind_all(id, user_id).step()) return knowledge_base_not_found();
    return read_base(st);
  }

  Result<Document> document_of(Connection& c, std::string_view user_id, std::string_view kb_id, std::string_view id) {
    auto st = c.prepare(AAS_KB_DOCUMENT_SELECT " WHERE d.id = ?1 AND d.knowledge_base_id = ?2 AND d.user_id = ?3");
    if (!st.bind_all(id, kb_id, user_id).step()) {
      if (auto b = base_of(c, user_id, kb_id); !b) return b.error();
      return document_not_found();
    }
    return read_document(st);
  }

  // Takes a document's chunks and postings out of the index and its base's statistics.
  void remove_chunks(Connection& c, std::string_view doc_id, std::string_view kb_id) {
    auto st = c.prepare("SELECT count(*), coalesce(sum(term_count), 0) FROM kb_chunks WHERE document_id = ?1");
    st.bind_all(doc_id).step();
    const std::int64_t n = st.int64(0), terms = st.int64(1);
    if (n == 0) return;
    c.prepare("DELETE FROM kb_chunks WHERE document_id = ?1").bind_all(doc_id).run();
    log_change(c, kb_id, doc_id, -n, -terms);
  }

  // Moves the base's lexical_version (with its chunk and term counts) and logs the document that
  // moved it: in-process indexes catch up from the log (lexical_changes) instead of reloading.
  void log_change(Connection& c, std::string_view kb_id, std::string_view doc_id, std::int64_t chunks,
                  std::int64_t terms) {
    store::detail::BaseChanges one;
    one.add({}, std::string(doc_id), chunks, terms);
    bool vectors = false;
    log_changes(c, kb_id, one, std::nullopt, vectors);
  }

  // The same for several documents of a base: one move of the version each, in one update of the
  // base (with its updated_at when given). `vectors`: the base has (or is moving to) an embedding model.
  void log_changes(Connection& c, std::string_view kb_id, const store::detail::BaseChanges& changes,
                   std::optional<std::int64_t> updated_at, bool& vectors) {
    const auto n = static_cast<std::int64_t>(changes.documents.size());
    std::int64_t version = 0;
    {
      auto st = c.prepare("UPDATE knowledge_bases SET chunk_count = chunk_count + ?2, term_count = term_count + ?3,"
                          " lexical_version = lexical_version + ?4, updated_at = coalesce(?5, updated_at)"
                          " WHERE id = ?1 RETURNING lexical_version,"
                          " embedding_model IS NOT NULL OR next_model IS NOT NULL");
      st.bind_all(kb_id, changes.chunks, changes.terms, n, updated_at).step();
      version = st.int64(0);
      vectors = st.int64(1) != 0;
    }
    for (std::int64_t i = 0; i < n; ++i)
      c.prepare("INSERT INTO kb_changes (knowledge_base_id, version, document_id) VALUES (?1, ?2, ?3)")
          .bind_all(kb_id, version - n + 1 + i, changes.documents[static_cast<std::size_t>(i)])
          .run();
    c.prepare("DELETE FROM kb_changes WHERE knowledge_base_id = ?1 AND version <= ?2")
        .bind_all(kb_id, version - knowledge::kKeptChanges)
        .run();
  }

  // The documents changed after `since` (each once), when the log holds every change since.
  Result<void> changed_documents(Connection& c, std::string_view kb_id, std::int64_t since, std::int64_t& version,
                                 bool& complete, std::vector<std::string>& documents) {
    {
      auto st = c.prepare("SELECT lexical_version FROM knowledge_bases WHERE id = ?1");
      if (!st.bind_all(kb_id).step()) return knowledge_base_not_found();
      version = st.int64(0);
    }
    if (version <= since) {
      complete = true;
      return {};
    }
    auto st = c.prepare("SELECT version, document_id FROM kb_changes WHERE knowledge_base_id = ?1 AND version > ?2"
                        " ORDER BY version");
    st.bind_all(kb_id, since);
    std::int64_t rows = 0;
    std::set<std::string> seen;
    while (st.step()) {
      ++rows;
      if (auto doc = st.text(1); seen.insert(doc).second) documents.push_back(std::move(doc));
    }
    complete = rows == version - since;
    return {};
  }

  template <class T, class F>
  Result<T> read(std::string_view op, F&& f) {
    return db_.read<T>(op, std::forward<F>(f));
  }
  template <class T, class F>
  Result<T> write(std::string_view op, F&& f) {
    return db_.write<T>(op, std::forward<F>(f));
  }

  const Clock& clock_;
  detail::Database db_;
};

}  // namespace

std::unique_ptr<knowledge::KnowledgeStore> open_sqlite_knowledge_store(const std::string& path, const Clock& clock) {
  try {
    if (path != ":memory:") {
      const auto parent = std::filesystem::path(path).parent_path();
      if (!parent.empty()) std::filesystem::create_directories(parent);
    }
    return std::make_unique<SqliteKnowledgeStore>(path, clock);
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot open SQLite database '" + path + "': " + e.what());
  }
}

}  // namespace aas::store::sqlite
