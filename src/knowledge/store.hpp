#pragma once
// The knowledge store port: knowledge bases, documents with their sources, ingestion jobs, chunks
// and the BM25 term index. Its own port beside store::Store (a capability of its own); adapters in
// store/sqlite/knowledge_store.cpp and store/postgres/knowledge_store.cpp share the database (and
// the numbered migrations) of the main store. One conformance suite
// (tests/unit/store/knowledge_conformance.cpp) holds both to the same behaviour.
//
// Ownership is part of every query: another user's base or document is not_found.
#include "core/error.hpp"
#include "knowledge/types.hpp"

#include <bit>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aas::knowledge {

class KnowledgeStore {
 public:
  virtual ~KnowledgeStore() = default;

  virtual Result<KnowledgeBase> create_base(const NewKnowledgeBase& b) = 0;
  virtual Result<KnowledgeBase> get_base(std::string_view user_id, std::string_view id) = 0;
  // Newest first (id desc); the cursor is the last id of a page.
  virtual Result<Page<KnowledgeBase>> list_bases(std::string_view user_id, const PageRequest& page) = 0;
  virtual Result<KnowledgeBase> update_base(std::string_view user_id, std::string_view id,
                                            const KnowledgeBasePatch& patch) = 0;
  // The base, its documents, jobs, chunks and terms.
  virtual Result<void> delete_base(std::string_view user_id, std::string_view id) = 0;
  // How many of `ids` are bases of the user's (each counted once): a chat checks its ids with it.
  virtual Result<std::int64_t> count_own_bases(std::string_view user_id, const std::vector<std::string>& ids) = 0;

  // Adds a document and its queued job in one transaction. The same bytes (content hash) in the
  // same base: that document back, existing = true, nothing written. Over a quota of the user's
  // (over all bases): rate_limited (documents) or payload_too_large (bytes), naming the quota.
  virtual Result<AddedDocument> add_document(const NewDocument& d, const Quota& quota) = 0;
  virtual Result<Document> get_document(std::string_view user_id, std::string_view kb_id,
                                        std::string_view id) = 0;
  // Oldest first (id asc); the cursor is the last id of a page.
  virtual Result<Page<Document>> list_documents(std::string_view user_id, std::string_view kb_id,
                                                const PageRequest& page) = 0;
  // The document with its chunks and terms; a job running on it stops at its next step.
  virtual Result<void> delete_document(std::string_view user_id, std::string_view kb_id,
                                       std::string_view id) = 0;
  // Cancels the document's job unless it has finished (then conflict). Returns the document.
  virtual Result<Document> cancel_job(std::string_view user_id, std::string_view kb_id,
                                      std::string_view document_id) = 0;

  // --- the ingestion workers' side ---

  // Takes the oldest jobs that are queued, or left mid-way by a worker whose lease ran out (a
  // process that died), as `limits` allow (types.hpp: ClaimLimits): each moves to `parsing`,
  // leased until now + lease_ms, attempts + 1, and comes with what its worker reads first.
  // Several processes may claim at once; each job goes to one. Empty: nothing to do.
  virtual Result<std::vector<ClaimedJob>> claim_jobs(const ClaimLimits& limits) = 0;
  // One job, as claim_jobs takes it.
  Result<std::optional<Job>> claim_job(std::int64_t lease_ms) {
    auto claimed = claim_jobs({1, 0, lease_ms});
    if (!claimed) return claimed.error();
    if (claimed->empty()) return std::optional<Job>();
    return std::optional<Job>(std::move(claimed->front().job));
  }
  // The document's source bytes.
  virtual Result<std::string> document_source(std::string_view document_id) = 0;
  // Moves a running job to `stage` with its counts and renews its lease. false: the job is no
  // longer running (cancelled, its document deleted): the worker drops it.
  virtual Result<bool> advance_job(std::string_view job_id, Stage stage, std::int64_t chunks_done,
                                   std::int64_t chunks_total, std::int64_t lease_ms) = 0;
  // Replaces each job's document's chunks with its `chunks` and marks the job indexed, all in one
  // transaction (so search sees all of a document or none of it, and a batch of small documents
  // costs one commit). Per job, false as for advance_job (that job is left alone).
  virtual Result<std::vector<bool>> finish_jobs(const std::vector<FinishedJob>& jobs) = 0;
  // One job.
  Result<bool> finish_job(std::string_view job_id, std::vector<NewChunk> chunks) {
    std::vector<FinishedJob> one;
    one.push_back({std::string(job_id), std::move(chunks)});
    auto done = finish_jobs(one);
    if (!done) return done.error();
    return done->front();
  }
  // Marks a running job failed with a message for the user. false as for advance_job.
  virtual Result<bool> fail_job(std::string_view job_id, std::string_view error) = 0;

  // --- lexical search (ranked in process: knowledge/lexical_index.hpp) ---

  // The user's bases among `kb_ids` with their lexical_version (it moves whenever the base's
  // chunks do). Bases not the user's are left out.
  virtual Result<std::vector<LexicalBase>> lexical_bases(std::string_view user_id,
                                                         const std::vector<std::string>& kb_ids) = 0;
  // Every chunk of the base (id order) with its length and encoded term counts, and the
  // lexical_version they are, read in one snapshot.
  virtual Result<LexicalRows> load_lexical(std::string_view kb_id) = 0;
  // What changed after lexical_version `since` (types.hpp: LexicalChanges). Every move of the
  // version is logged (kb_changes, the newest ~4,096 per base kept).
  virtual Result<LexicalChanges> lexical_changes(std::string_view kb_id, std::int64_t since) = 0;

  // --- vectors (float32; the database is their record, in-process indexes a cache) ---

  // Where the base's new vectors go: the next space during a model change, else the active one;
  // nullopt for a base without an embedding model.
  virtual Result<std::optional<VectorSpace>> embedding_target(std::string_view kb_id) = 0;
  // The (ordinal, text hash) of the vectors a job has staged in `space`.
  virtual Result<std::vector<std::pair<std::int64_t, std::string>>> staged_vectors(std::string_view job_id,
                                                                                   std::int64_t space) = 0;
  // Stages vectors of a running ingestion job (its finish_job moves them in with its chunks);
  // records the space's dimension with the first. false: the job no longer runs. invalid_request:
  // a dimension other than the space's.
  virtual Result<bool> stage_vectors(std::string_view job_id, std::int64_t space,
                                     const std::vector<StagedVector>& vectors) = 0;
  // A model change (or a re-embedding with the same model): the base's next space is `model`'s,
  // and every document with chunks gets a queued reindex job. conflict while a job of the base is
  // unfinished. A base without chunks switches at once.
  virtual Result<KnowledgeBase> start_reindex(std::string_view user_id, std::string_view kb_id,
                                              const std::string& model) = 0;
  // The document's chunks without a vector in `space`.
  virtual Result<std::vector<ChunkToEmbed>> chunks_to_embed(std::string_view document_id, std::int64_t space) = 0;
  // Stores vectors of a running reindex job's chunks. false / invalid_request as stage_vectors.
  virtual Result<bool> store_vectors(std::string_view job_id, std::int64_t space,
                                     const std::vector<ChunkVector>& vectors) = 0;
  // Marks a reindex job indexed; when every chunk of the base has its vector in the next space,
  // the base switches to it (and the old vectors go), in the same transaction.
  virtual Result<bool> finish_reindex(std::string_view job_id) = 0;
  // The user's bases among `kb_ids` that have an embedding model.
  virtual Result<std::vector<BaseVectors>> vector_bases(std::string_view user_id,
                                                        const std::vector<std::string>& kb_ids) = 0;
  // Every vector of a base's space (an in-process index is built from them).
  virtual Result<std::vector<ChunkVector>> load_vectors(std::string_view kb_id, std::int64_t space) = 0;
  // The vectors in `space` of the documents changed after lexical_version `since` (as
  // lexical_changes: a vector is stored with its chunk, in the same transaction).
  virtual Result<VectorChanges> vector_changes(std::string_view kb_id, std::int64_t space, std::int64_t since) = 0;
  // The passages of these chunks (any order; chunks since deleted are left out).
  virtual Result<std::vector<Passage>> passages(const std::vector<std::string>& chunk_ids) = 0;
};

// Vectors as stored: float32, little-endian (what x86 and ARM hold in memory, so a copy).
static_assert(std::endian::native == std::endian::little, "vectors are stored as little-endian float32");
inline std::string vector_bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}
inline std::vector<float> vector_from_bytes(std::string_view bytes) {
  std::vector<float> v(bytes.size() / sizeof(float));
  if (!v.empty()) std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
  return v;
}

// A chunk's term counts as stored (kb_chunks.terms): "term:tf term:tf …". Analyzed terms never hold
// a space or a colon (knowledge/analyzer.hpp: letters, digits and non-ASCII bytes).
inline std::string encode_terms(const std::vector<std::pair<std::string, std::int64_t>>& terms) {
  std::string out;
  for (const auto& [term, tf] : terms) {
    if (!out.empty()) out += ' ';
    out += term;
    out += ':';
    out += std::to_string(tf);
  }
  return out;
}
// Calls f(term, tf) for each term of an encoded list; malformed pieces are skipped.
template <class F>
void for_each_encoded_term(std::string_view encoded, F&& f) {
  std::size_t i = 0;
  while (i < encoded.size()) {
    std::size_t end = encoded.find(' ', i);
    if (end == std::string_view::npos) end = encoded.size();
    const std::string_view piece = encoded.substr(i, end - i);
    if (const auto colon = piece.rfind(':'); colon != std::string_view::npos && colon > 0) {
      std::int64_t tf = 0;
      for (char ch : piece.substr(colon + 1)) {
        if (ch < '0' || ch > '9') {
          tf = 0;
          break;
        }
        tf = tf * 10 + (ch - '0');
      }
      if (tf > 0) f(piece.substr(0, colon), tf);
    }
    i = end + 1;
  }
}

}  // namespace aas::knowledge
