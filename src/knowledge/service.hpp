#pragma once
// Knowledge bases as a service: validation of what users send, the ingestion workers (jobs in
// the database: queued -> parsing -> chunking -> embedding -> indexed / failed / cancelled, with a
// lease a restarted process takes over), and search. Plain C++ types in and out, so HTTP, the
// CLI, the chat's retrieval and the agent's knowledge_search tool call the same functions.
#include "core/error.hpp"
#include "knowledge/chunker.hpp"
#include "knowledge/document.hpp"
#include "knowledge/embedder.hpp"
#include "knowledge/store.hpp"
#include "knowledge/types.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace boost::asio { class thread_pool; }

namespace aas::knowledge {

class LexicalCache;

// Hybrid search's fusion of the lexical and the vector list (each ranked deeper than k):
// convex: each list's scores scaled to [0, 1] (BM25 by the list's best, as its minimum is 0;
//   cosine min-max over the list), summed with the vector list weighted (Bruch et al. 2023, "An
//   Analysis of Fusion Functions for Hybrid Retrieval": it keeps the score gaps rank fusion
//   discards, so a weak vector list reorders only near-ties of BM25's);
// rrf: reciprocal-rank fusion, each list adds weight / (60 + rank) (Cormack et al. 2009).
enum class Fusion { convex, rrf };

template <class T>
using Awaitable = boost::asio::awaitable<Result<T>>;

struct KnowledgeOptions {
  std::size_t max_upload_bytes = 10u << 20;  // MAX_UPLOAD_BYTES: one document's source (413 above)
  Quota quota{1000, 100ll << 20};            // KB_MAX_DOCUMENTS, KB_MAX_BYTES per user (429 above)
  int workers = 2;                           // KB_INGEST_WORKERS: jobs run at once by this process
  // KB_JOB_LEASE_MS: a job whose worker has not reported for this long (its process died) is
  // taken over by another worker; each stage renews it.
  std::chrono::milliseconds lease{30000};
  // How often idle workers look for jobs queued by other processes (jobs queued here wake them).
  std::chrono::milliseconds poll{1000};
  ChunkOptions chunking;  // CHUNK_TOKENS, CHUNK_OVERLAP
  ParseLimits parsing;
  std::optional<std::string> default_embedding_model;  // EMBEDDING_MODEL, for new bases
  int embed_batch = 64;  // KB_EMBED_BATCH: chunks per embeddings call
  // KB_HYBRID_FUSION and KB_HYBRID_VECTOR_WEIGHT: how hybrid search fuses its two lists, and the
  // vector list's weight against the lexical list's 1 (docs/benchmarks.md, SciFact).
  Fusion hybrid_fusion = Fusion::convex;
  double hybrid_vector_weight = 0.05;
  // An embeddings call that fails for a passing reason (upstream down or slow, a rate limit) is
  // tried this many more times, 1 s, 2 s, 4 s … apart, before the document fails.
  int embed_retries = 3;
  std::chrono::milliseconds embed_backoff{1000};
  // A call refused by the user's rate limit waits (its Retry-After) up to this long in all, then
  // the document fails; a budget refusal fails it at once.
  std::chrono::milliseconds embed_max_throttle{std::chrono::minutes(10)};
  // Told when a base's searchable vectors changed here (a document indexed with vectors, a model
  // change completed, a document deleted), off the I/O threads: app/ publishes
  // knowledge.vectors.changed on the event bus so the other replicas drop their copy.
  std::function<void(const std::string& user_id, const std::string& kb_id)> on_vectors_changed;
  // Told of each document indexed (user, knowledge base, document, chunks), from the worker that
  // indexed it (off the I/O threads): the knowledge.document.indexed webhook.
  std::function<void(const std::string&, const std::string&, const std::string&, std::int64_t)> on_indexed;
  std::size_t max_name_chars = 200;
  std::size_t max_description_chars = 2000;
  std::size_t max_title_chars = 500;
  std::size_t max_query_chars = 2000;
  int max_k = 50;
  // Retrieval for a chat turn: the top passages, as many as fit this many tokens.
  int chat_passages = 6;
  std::int64_t chat_passage_tokens = 2000;
};

// The event-bus type that tells replicas a base's vectors changed (realtime::Event's
// knowledge_base_id names it).
inline constexpr std::string_view kVectorsChangedEvent = "knowledge.vectors.changed";

// A document as received: its bytes and the title the client gave (or the file name).
struct Upload {
  std::string title;
  std::string bytes;
};

class KnowledgeService {
 public:
  KnowledgeService(KnowledgeStore& store, boost::asio::thread_pool& blocking, KnowledgeOptions options);
  ~KnowledgeService();

  Awaitable<KnowledgeBase> create_base(NewKnowledgeBase b);
  Awaitable<KnowledgeBase> get_base(std::string user_id, std::string id);
  Awaitable<Page<KnowledgeBase>> list_bases(std::string user_id, PageRequest page);
  Awaitable<KnowledgeBase> update_base(std::string user_id, std::string id, KnowledgeBasePatch patch);
  Awaitable<void> delete_base(std::string user_id, std::string id);
  // Re-embeds every chunk of the base with `model` (default: its current model) into a new vector
  // space; searches use the old one until the new one is complete. 400 for a model that cannot
  // embed (or none to use), 409 while documents of the base are being ingested or reindexed.
  Awaitable<KnowledgeBase> reindex(std::string user_id, std::string id, std::optional<std::string> model);

  // Stores the document and queues its ingestion (202): the same bytes again are the document
  // already there (existing), with no new job. 413 over MAX_UPLOAD_BYTES, 429 over a quota.
  Awaitable<AddedDocument> add_document(std::string user_id, std::string kb_id, Upload upload);
  // The same, blocking (the `ingest` command).
  Result<AddedDocument> add_document_now(const std::string& user_id, const std::string& kb_id, Upload upload);
  Awaitable<Document> get_document(std::string user_id, std::string kb_id, std::string id);
  Awaitable<Page<Document>> list_documents(std::string user_id, std::string kb_id, PageRequest page);
  Awaitable<void> delete_document(std::string user_id, std::string kb_id, std::string id);
  Awaitable<Document> cancel(std::string user_id, std::string kb_id, std::string document_id);

  // The user's bases among `kb_ids` searched for `query`: the top `k` passages. not_found when a
  // base is not the user's (nothing of another user's is ever ranked); invalid_request for an
  // empty query, k outside 1..max_k, or vector search on bases without an embedding model.
  // hybrid on bases without one is lexical.
  Awaitable<std::vector<Passage>> search(std::string user_id, std::vector<std::string> kb_ids, std::string query,
                                         int k, SearchMode mode);
  // The same, saying which ranking answered (hybrid on bases without vectors is lexical).
  struct Ranked {
    std::vector<Passage> passages;
    SearchMode mode = SearchMode::lexical;
  };
  Awaitable<Ranked> search_ranked(std::string user_id, std::vector<std::string> kb_ids, std::string query, int k,
                                  SearchMode mode);
  Result<Ranked> search_ranked_now(const std::string& user_id, const std::vector<std::string>& kb_ids,
                                   const std::string& query, int k, SearchMode mode);
  // The same, blocking (on the caller's thread): a chat turn's retrieval, which already runs on
  // the blocking pool.
  Result<std::vector<Passage>> search_now(const std::string& user_id, const std::vector<std::string>& kb_ids,
                                          const std::string& query, int k, SearchMode mode);
  // The passages a chat turn sends the model: the best ones, as many as fit the token budget.
  Result<std::vector<Passage>> retrieve_now(const std::string& user_id, const std::vector<std::string>& kb_ids,
                                            const std::string& query);
  // not_found unless every id is a base of the user's.
  Result<void> check_bases_now(const std::string& user_id, const std::vector<std::string>& kb_ids);

  // Starts the ingestion workers on `executor`; jobs left mid-way by a process that died are
  // taken over once their lease runs out. stop() ends them after the step each is in.
  void start(const boost::asio::any_io_executor& executor);
  void stop();
  // Runs queued jobs on the calling thread until none is left (the `ingest` command); `progress`
  // hears of each step.
  void drain(const std::function<void(const Job&)>& progress = {});

  const KnowledgeOptions& options() const { return options_; }

  // Vectors come from `embedder` (null: bases with an embedding model cannot be created, and
  // their jobs wait at the embedding stage for a process that has one). Set before start().
  void set_embedder(Embedder* embedder) { embedder_ = embedder; }
  // Another replica changed the base's vectors (the event bus): this one's copy is dropped and
  // rebuilt at the next search. Never blocks.
  void vectors_changed(const std::string& kb_id);
  // How many bases have an in-process vector index, and what those hold (metrics, tests).
  std::size_t cached_vector_bases() const;

 private:
  // The jobs of one claim, start to end, on the calling thread (a blocking-pool thread for the
  // workers): a reindex alone, ingestions finished together in one transaction.
  void run_jobs(std::vector<ClaimedJob>& claimed, const std::function<void(const Job&)>& progress);
  // An ingestion job up to its finish: its document parsed, chunked, analysed and, for a base
  // with an embedding model, embedded. nullopt: it failed (recorded) or stopped (cancelled,
  // deleted, or left for a process with an embedder).
  std::optional<std::vector<NewChunk>> ingest(const ClaimedJob& claimed, const std::function<void(const Job&)>& progress);
  ClaimLimits claim_limits() const;
  // The embedding stage of a job: vectors of `texts` in batches, each retried and reported.
  // `store` keeps a batch (false: the job stopped). An error is the document's failure.
  Result<bool> embed_batches(const Job& job, const std::string& model, const std::vector<std::string>& texts,
                             const std::function<Result<bool>(std::size_t first,
                                                              std::vector<std::vector<float>>& vectors)>& store,
                             std::int64_t already, std::int64_t total,
                             const std::function<void(std::int64_t)>& progress);
  void run_reindex(const Job& job, const std::function<void(const Job&)>& progress);
  // The query ranked by cosine over the vectors of the bases with a model, best first. `moved`
  // (when given) is set when a base turned out to have switched vector space since `bases` was
  // read (a reindex completing meanwhile): the ranking is then incomplete and is to be redone.
  Result<std::vector<std::pair<std::string, double>>> vector_ranking(const std::string& user_id,
                                                                     const std::vector<BaseVectors>& bases,
                                                                     const std::string& query, std::size_t n,
                                                                     bool* moved = nullptr);
  Result<Ranked> rank_now(const std::string& user_id, const std::vector<std::string>& ids, const std::string& query,
                          int k, SearchMode mode);
  void announce_vectors(const std::string& user_id, const std::string& kb_id);
  // Drops the base's in-process indexes (it is deleted).
  void forget(const std::string& kb_id);
  void wake();

  KnowledgeStore& store_;
  boost::asio::thread_pool& blocking_;
  KnowledgeOptions options_;
  Embedder* embedder_ = nullptr;
  struct VectorCache;
  std::unique_ptr<VectorCache> vectors_;
  std::unique_ptr<LexicalCache> lexical_;  // lexical_index.hpp
  struct Workers;
  std::shared_ptr<Workers> workers_;
};

// The SHA-256 of `bytes`, hex: a document's identity for de-duplication.
std::string content_hash(std::string_view bytes);

}  // namespace aas::knowledge
