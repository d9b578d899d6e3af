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

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
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

  // Takes the oldest job that is queued, or left mid-way by a worker whose lease ran out (a
  // process that died): it moves to `parsing`, leased until now + lease_ms, attempts + 1.
  // Several processes may claim at once; each job goes to one. nullopt: nothing to do.
  virtual Result<std::optional<Job>> claim_job(std::int64_t lease_ms) = 0;
  // The document's source bytes.
  virtual Result<std::string> document_source(std::string_view document_id) = 0;
  // Moves a running job to `stage` with its counts and renews its lease. false: the job is no
  // longer running (cancelled, its document deleted): the worker drops it.
  virtual Result<bool> advance_job(std::string_view job_id, Stage stage, std::int64_t chunks_done,
                                   std::int64_t chunks_total, std::int64_t lease_ms) = 0;
  // Replaces the document's chunks and terms with `chunks` and marks the job indexed, in one
  // transaction (so search sees all of a document or none of it). false as for advance_job.
  virtual Result<bool> finish_job(std::string_view job_id, const std::vector<NewChunk>& chunks) = 0;
  // Marks a running job failed with a message for the user. false as for advance_job.
  virtual Result<bool> fail_job(std::string_view job_id, std::string_view error) = 0;

  // --- search ---

  // The user's bases among `kb_ids` ranked by BM25 (k1 1.2, b 0.75; statistics over those bases
  // only) for the analyzed query terms; the top `k`. Bases not the user's take no part.
  virtual Result<std::vector<Passage>> lexical_search(std::string_view user_id,
                                                      const std::vector<std::string>& kb_ids,
                                                      const std::vector<std::string>& terms, int k) = 0;
};

}  // namespace aas::knowledge
