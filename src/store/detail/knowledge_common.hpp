#pragma once
// Private to the Store adapters: what both knowledge store adapters do the same way (errors,
// column lists, pages, JSON of heading paths, quota messages, BM25's idf per query term).
#include "core/error.hpp"
#include "knowledge/bm25.hpp"
#include "knowledge/types.hpp"
#include "core/ids.hpp"
#include "store/detail/common.hpp"
#include "store/detail/text.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <optional>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aas::store::detail {

inline Error knowledge_base_not_found() { return make_error(errc::not_found, "knowledge base not found"); }
inline Error document_not_found() { return make_error(errc::not_found, "document not found"); }

inline std::string heading_path_json(const std::vector<std::string>& path) {
  boost::json::array a;
  for (const std::string& h : path) a.emplace_back(h);
  return boost::json::serialize(a);
}

inline std::vector<std::string> heading_path_from_json(std::string_view text) {
  std::vector<std::string> out;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec || !v.is_array()) return out;
  for (const auto& h : v.as_array())
    if (h.is_string()) out.emplace_back(h.as_string());
  return out;
}

// Quotas count every document of the user's, in every base, before the new one is added: too
// many documents is rate_limited (429), too many bytes payload_too_large (413).
inline Result<void> check_quota(const knowledge::Quota& q, std::int64_t documents, std::int64_t bytes,
                                std::int64_t new_bytes) {
  if (q.max_documents > 0 && documents + 1 > q.max_documents)
    return make_error(errc::rate_limited, "document quota reached: at most " + std::to_string(q.max_documents) +
                                              " documents per user; delete some to add more");
  if (q.max_bytes > 0 && bytes + new_bytes > q.max_bytes)
    return make_error(errc::payload_too_large, "storage quota reached: at most " + std::to_string(q.max_bytes) +
                                              " bytes of documents per user (" + std::to_string(bytes) +
                                              " used); delete some to add more");
  return {};
}

// A document as add_document writes it (with its queued ingestion job): the answer is built from
// what was written rather than read back. The title as stored (without NUL bytes).
inline knowledge::Document new_document(const knowledge::NewDocument& n, std::int64_t now_ms) {
  knowledge::Document d;
  d.id = new_uuid_v7();
  d.knowledge_base_id = n.knowledge_base_id;
  d.user_id = n.user_id;
  d.title = nul_free(n.title);
  d.media_type = n.media_type;
  d.content_hash = n.content_hash;
  d.bytes = static_cast<std::int64_t>(n.content.size());
  d.created_at = d.updated_at = from_unix_ms(now_ms);
  d.job.id = new_uuid_v7();
  d.job.document_id = d.id;
  d.job.knowledge_base_id = d.knowledge_base_id;
  d.job.user_id = d.user_id;
  d.job.created_at = d.job.updated_at = d.created_at;
  return d;
}

template <class T>
Page<T> id_page(std::vector<T> items, int limit) {
  Page<T> out{std::move(items), std::nullopt};
  if (out.items.size() > static_cast<std::size_t>(limit)) {
    out.items.pop_back();
    out.next_cursor = encode_message_cursor(out.items.back().id);  // the "last id" cursor
  }
  return out;
}

// Where a base's new vectors go (KnowledgeStore::embedding_target) from its columns
// embedding_model, next_model and vector_space.
inline std::optional<knowledge::VectorSpace> vector_target(std::optional<std::string> model,
                                                           std::optional<std::string> next, std::int64_t space) {
  if (next) return knowledge::VectorSpace{std::move(*next), space + 1};
  if (model) return knowledge::VectorSpace{std::move(*model), space};
  return std::nullopt;
}

// A claimable job as claim_jobs reads it (oldest first), and which of them one claim takes
// (knowledge::ClaimLimits): the first alone unless it is light, else the light ones among the
// first max_jobs.
struct ClaimCandidate {
  std::string id;
  bool light = false;
};

inline std::vector<std::string> pick_claims(const std::vector<ClaimCandidate>& oldest_first,
                                            const knowledge::ClaimLimits& limits) {
  std::vector<std::string> out;
  for (const ClaimCandidate& c : oldest_first) {
    if (out.size() >= std::max<std::size_t>(limits.max_jobs, 1)) break;
    if (out.empty()) {
      out.push_back(c.id);
      if (!c.light) break;
    } else if (c.light) {
      out.push_back(c.id);
    }
  }
  return out;
}

inline bool light_job(std::string_view kind, std::int64_t bytes, bool has_model, const knowledge::ClaimLimits& limits) {
  return kind == "ingest" && !has_model && bytes <= limits.light_bytes;
}

// A base's share of a finish_jobs batch: its jobs and their documents, in order, and the chunks
// and terms they add (logged as one move of the base's lexical_version per document).
struct BaseChanges {
  std::vector<std::string> jobs;
  std::vector<std::string> documents;
  std::int64_t chunks = 0;
  std::int64_t terms = 0;
  void add(std::string job, std::string document, std::int64_t n, std::int64_t t) {
    jobs.push_back(std::move(job));
    documents.push_back(std::move(document));
    chunks += n;
    terms += t;
  }
};

// The query's terms with their idf over the bases searched (terms no chunk holds are dropped:
// they add nothing to any score).
struct WeightedTerms {
  std::vector<std::string> terms;
  std::vector<double> idf;
};

inline WeightedTerms weigh_terms(std::int64_t chunks, const std::vector<std::pair<std::string, std::int64_t>>& df) {
  WeightedTerms w;
  for (const auto& [term, n] : df) {
    if (n <= 0) continue;
    w.terms.push_back(term);
    w.idf.push_back(knowledge::bm25::idf(chunks, n));
  }
  return w;
}

}  // namespace aas::store::detail

#define AAS_KB_COLUMNS                                                                              \
  "id, user_id, name, description, embedding_model, embedding_dim, document_count, chunk_count," \
  " term_count, bytes, created_at, updated_at, next_model"

// A document with its latest job (every document has one).
#define AAS_KB_DOCUMENT_SELECT                                                                       \
  "SELECT d.id, d.knowledge_base_id, d.user_id, d.title, d.media_type, d.content_hash, d.bytes,"   \
  " d.chunk_count, d.created_at, d.updated_at, j.id, j.kind, j.stage, j.chunks_total, j.chunks_done," \
  " j.error, j.attempts, j.created_at, j.updated_at FROM kb_documents d JOIN kb_jobs j ON j.id = d.job_id"

#define AAS_KB_JOB_COLUMNS                                                                        \
  "id, document_id, knowledge_base_id, user_id, kind, stage, chunks_total, chunks_done, error," \
  " attempts, created_at, updated_at"

// The stages a worker is in the middle of.
#define AAS_KB_RUNNING "(stage = 'parsing' OR stage = 'chunking' OR stage = 'embedding')"
#define AAS_KB_UNFINISHED "(stage = 'queued' OR stage = 'parsing' OR stage = 'chunking' OR stage = 'embedding')"

// What a model change's switch and the in-process indexes need to know of a vector dimension:
// the first vector of a space sets it, any other must match.
#define AAS_KB_DIM_MISMATCH "the embedding model returned vectors of another dimension than the base holds"

