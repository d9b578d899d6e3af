#pragma once
// The records of knowledge bases: the bases, their documents, the ingestion jobs that turn a
// document into chunks, and the chunks search ranks. Plain structs; the KnowledgeStore port
// (knowledge/store.hpp) reads and writes them, the API turns them into JSON.
#include "core/clock.hpp"
#include "domain/records.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aas::knowledge {

using domain::Page;
using domain::PageRequest;

struct KnowledgeBase {
  std::string id;
  std::string user_id;
  std::string name;
  std::optional<std::string> description;
  // The model whose vectors the base holds, and their dimension (known once the first vector is
  // stored). None: lexical search only.
  std::optional<std::string> embedding_model;
  std::optional<std::int64_t> embedding_dim;
  // A model change under way: the model every chunk is being re-embedded with. Searches keep to
  // embedding_model's vectors until all are done, then switch at once.
  std::optional<std::string> next_embedding_model;
  std::int64_t document_count = 0;
  std::int64_t chunk_count = 0;
  std::int64_t term_count = 0;  // the indexed terms of all chunks: BM25's average length
  std::int64_t bytes = 0;       // of the documents' sources
  TimePoint created_at{};
  TimePoint updated_at{};
};

struct NewKnowledgeBase {
  std::string user_id;
  std::string name;
  std::optional<std::string> description;
  std::optional<std::string> embedding_model;
};

struct KnowledgeBasePatch {
  std::optional<std::string> name;
  std::optional<std::string> description;
  bool clear_description = false;
  // A new embedding model: a reindex job (KnowledgeService::update_base), not a column update.
  std::optional<std::string> embedding_model;
};

// The stages of an ingestion job. queued -> parsing -> chunking -> embedding -> indexed, or
// failed / cancelled from any stage before indexed.
enum class Stage { queued, parsing, chunking, embedding, indexed, failed, cancelled };
// Inline: the store adapters (a module below this one) read and write them too.
inline constexpr std::string_view kStageNames[] = {"queued",  "parsing", "chunking", "embedding",
                                                   "indexed", "failed",  "cancelled"};
inline std::string_view to_string(Stage s) noexcept { return kStageNames[static_cast<int>(s)]; }
inline std::optional<Stage> stage_from_string(std::string_view s) noexcept {
  for (int i = 0; i < 7; ++i)
    if (kStageNames[i] == s) return static_cast<Stage>(i);
  return std::nullopt;
}
inline bool is_terminal(Stage s) noexcept {
  return s == Stage::indexed || s == Stage::failed || s == Stage::cancelled;
}

struct Job {
  std::string id;
  std::string document_id;
  std::string knowledge_base_id;
  std::string user_id;
  std::string kind = "ingest";  // ingest | reindex
  Stage stage = Stage::queued;
  std::int64_t chunks_total = 0;
  std::int64_t chunks_done = 0;
  std::optional<std::string> error;  // why it failed, for the user
  std::int64_t attempts = 0;         // how many times a worker took it (a restart resumes it)
  TimePoint created_at{};
  TimePoint updated_at{};
};

struct Document {
  std::string id;
  std::string knowledge_base_id;
  std::string user_id;
  std::string title;
  std::string media_type;
  std::string content_hash;  // SHA-256 of the source bytes, hex
  std::int64_t bytes = 0;
  std::int64_t chunk_count = 0;
  TimePoint created_at{};
  TimePoint updated_at{};
  Job job;  // its latest ingestion job: status, progress, error
};

struct NewDocument {
  std::string knowledge_base_id;
  std::string user_id;
  std::string title;
  std::string media_type;
  std::string content;  // the source bytes, kept so a job can start over (restart, reindex)
  std::string content_hash;
};

// Per-user quotas, checked in the transaction that adds a document.
struct Quota {
  std::int64_t max_documents = 0;  // 0: unlimited
  std::int64_t max_bytes = 0;
};

struct AddedDocument {
  Document document;
  bool existing = false;  // the same bytes were in the base already: that document, no new job
};

// A chunk as ingestion writes it: its text, where it sits in the document, and its terms (the
// analyzer's output: term -> frequency) for BM25.
struct NewChunk {
  std::string text;
  std::int64_t start = 0;  // character offsets into the document's extracted text
  std::int64_t end = 0;
  std::optional<std::int64_t> page;
  std::vector<std::string> heading_path;
  std::vector<std::pair<std::string, std::int64_t>> terms;
  std::int64_t length = 0;  // total term occurrences
};

// A ranked chunk with what a citation needs.
struct Passage {
  std::string chunk_id;
  std::string document_id;
  std::string knowledge_base_id;
  std::string title;
  std::string text;
  std::int64_t start = 0;
  std::int64_t end = 0;
  std::optional<std::int64_t> page;
  std::vector<std::string> heading_path;
  double score = 0;
};

// --- lexical search ---

// A base as lexical search needs to know it: a version that moves whenever its chunks do (the
// in-process index is rebuilt when it no longer matches).
struct LexicalBase {
  std::string knowledge_base_id;
  std::int64_t version = 0;
};

// A stored chunk as the lexical index is built from it.
struct LexicalChunk {
  std::string chunk_id;
  std::int64_t length = 0;  // total term occurrences
  std::string terms;        // encoded (knowledge/store.hpp: encode_terms)
  std::string document_id;  // so a change of the document can take its chunks out of the index
};

struct LexicalRows {
  std::int64_t version = 0;
  std::vector<LexicalChunk> chunks;  // by chunk id
};

// How many of a base's newest changes the log (kb_changes) keeps: an in-process index further
// behind than that loads the base whole.
inline constexpr std::int64_t kKeptChanges = 4096;

// What changed in a base's chunks after a lexical_version (the change log, kb_changes): the
// documents whose chunks changed (indexed again, or deleted) and the chunks those documents hold
// now, read in one snapshot. Applying it to an index of any version in [since, version] gives the
// index of `version`: a changed document's chunks are replaced whole, so a change applied twice
// is applied once.
struct LexicalChanges {
  std::int64_t version = 0;
  // false: the log no longer reaches back to `since` (pruned, or written by an older replica
  // during a rolling upgrade): the caller loads the whole base instead.
  bool complete = false;
  std::vector<std::string> documents;
  std::vector<LexicalChunk> chunks;  // of those documents, by chunk id
};

// --- vectors ---

// Where an ingestion or reindex job puts its vectors: the model to embed with and the space
// (a base's active space, or the next one during a model change).
struct VectorSpace {
  std::string model;
  std::int64_t space = 0;
};

// A job as a worker claims it, with what its worker reads first (in the claim's transaction
// rather than a read each): an ingestion job's document title and source bytes, and where the
// base's vectors go (nullopt: the base has no embedding model).
struct ClaimedJob {
  Job job;
  std::string title;   // ingest jobs only
  std::string source;  // ingest jobs only
  std::optional<VectorSpace> target;
};

// What claim_jobs takes at once. A job is light when it is an ingestion into a base without an
// embedding model and its document is at most light_bytes: it is parsed, chunked and finished in
// well under a second. A claim is either one job that is not light (a reindex, an embedding, a
// large document: it may take long, and other jobs' leases would run out behind it) or up to
// max_jobs light ones, finished together in one transaction.
struct ClaimLimits {
  std::size_t max_jobs = 32;
  std::int64_t light_bytes = 64 << 10;
  std::int64_t lease_ms = 30000;
};

// An ingestion job's chunks, for finish_jobs.
struct FinishedJob {
  std::string job_id;
  std::vector<NewChunk> chunks;
};

// A base's searchable vectors as a search needs to know them: which space, and a version that
// changes whenever they do (the in-process index is rebuilt when it no longer matches).
struct BaseVectors {
  std::string knowledge_base_id;
  std::string model;
  std::int64_t space = 0;
  std::int64_t version = 0;          // vectors_version
  std::int64_t lexical_version = 0;  // moves with every change of the base's chunks (and so vectors)
};

// A vector an ingestion job computed for its chunk number `ordinal` (the chunk's text hash, so a
// resumed job keeps only vectors of the chunks it still has).
struct StagedVector {
  std::int64_t ordinal = 0;
  std::string text_hash;
  std::vector<float> vector;
};

// A stored chunk to embed (a reindex): what its vector is computed from.
struct ChunkToEmbed {
  std::string chunk_id;
  std::string title;
  std::vector<std::string> heading_path;
  std::string text;
};

struct ChunkVector {
  std::string chunk_id;
  std::vector<float> vector;
  std::string document_id;  // filled when read for an in-process index (load_vectors, vector_changes)
};

// The vectors of the documents changed after a lexical_version (as LexicalChanges), in one space.
struct VectorChanges {
  std::int64_t version = 0;  // the base's lexical_version
  bool complete = false;
  std::vector<std::string> documents;
  std::vector<ChunkVector> vectors;
};

enum class SearchMode { lexical, vector, hybrid };
inline constexpr std::string_view kSearchModeNames[] = {"lexical", "vector", "hybrid"};
inline std::string_view to_string(SearchMode m) noexcept { return kSearchModeNames[static_cast<int>(m)]; }
inline std::optional<SearchMode> search_mode_from_string(std::string_view s) noexcept {
  for (int i = 0; i < 3; ++i)
    if (kSearchModeNames[i] == s) return static_cast<SearchMode>(i);
  return std::nullopt;
}

}  // namespace aas::knowledge
