#include "knowledge/service.hpp"

#include "core/log.hpp"
#include "core/offload.hpp"
#include "knowledge/analyzer.hpp"
#include "knowledge/lexical_index.hpp"
#include "knowledge/utf8.hpp"
#include "knowledge/vector_index.hpp"
#include "tokens/tokenizer.hpp"

#include <openssl/evp.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <thread>
#include <unordered_map>

namespace aas::knowledge {

namespace asio = boost::asio;

std::string content_hash(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &n, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < n; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

namespace {

bool blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; });
}

Result<void> check_text(std::string_view field, const std::string& value, std::size_t max_chars, bool required) {
  if (required && blank(value)) return make_error(errc::invalid_request, std::string(field) + " is required");
  if (detail::invalid_utf8_bytes(value) > 0)
    return make_error(errc::invalid_request, std::string(field) + " must be valid UTF-8");
  if (detail::code_points(value) > max_chars)
    return make_error(errc::invalid_request,
                      std::string(field) + " is longer than " + std::to_string(max_chars) + " characters");
  return {};
}

const tokens::Tokenizer& chunk_tokenizer() { return tokens::tokenizer(tokens::Encoding::cl100k_base); }

// What BM25 indexes of a chunk: the document's title and the chunk's headings (context every
// chunk of the document shares) and its text.
TermCounts chunk_terms(const std::string& title, const Chunk& c) {
  std::string text = title;
  for (const std::string& h : c.heading_path) text += "\n" + h;
  text += "\n";
  text += c.text;
  return count_terms(text);
}

// What a chunk's vector is computed from: the same context BM25 indexes (title, headings, text).
std::string embedding_text(const std::string& title, const std::vector<std::string>& headings,
                           const std::string& text) {
  std::string out = title;
  for (const std::string& h : headings) out += "\n" + h;
  out += "\n";
  out += text;
  return out;
}

// Reciprocal-rank fusion (Cormack et al. 2009): each list adds 1 / (60 + rank) to an item.
constexpr double kRrfK = 60.0;

// An embeddings call that may succeed if tried again later.
bool passing_failure(const Error& e) {
  return e.code == errc::upstream_error || e.code == errc::unavailable || e.code == errc::upstream_timeout ||
         e.code == errc::rate_limited;
}

// What a job's worker tells as it goes (the `ingest` command's progress bar): each stage with its
// counts; a failure is recorded on the job first (its document shows the message).
class JobProgress {
 public:
  JobProgress(KnowledgeStore& store, const Job& job, const std::function<void(const Job&)>& progress)
      : store_(store), now_(job), progress_(progress) {}
  void report(Stage s, std::int64_t done, std::int64_t total) {
    now_.stage = s;
    now_.chunks_done = done;
    now_.chunks_total = total;
    if (progress_) progress_(now_);
  }
  void fail(const std::string& why) {
    (void)store_.fail_job(now_.id, why);
    now_.error = why;
    report(Stage::failed, 0, 0);
  }

 private:
  KnowledgeStore& store_;
  Job now_;
  const std::function<void(const Job&)>& progress_;
};

std::vector<std::string> distinct(std::vector<std::string> ids) {
  std::set<std::string> seen;
  std::vector<std::string> out;
  for (auto& id : ids)
    if (seen.insert(id).second) out.push_back(std::move(id));
  return out;
}

}  // namespace

// The in-process vector index of each base searched lately: a cache of its vectors in the
// database, for one vector space. Like the lexical index it follows the base's lexical_version (a
// vector is written with its chunk, in one transaction): loaded whole on a base's first search or
// in a new space (a model change completed), then brought up to date from the change log, the
// changed documents' vectors removed and their new ones added while searches go on.
struct KnowledgeService::VectorCache {
  struct Entry {
    std::int64_t space = 0;
    std::mutex writer;                     // one change at a time
    std::atomic<std::int64_t> version{0};  // the lexical_version it holds (at least)
    mutable std::shared_mutex mu;          // guards the members below; the index locks itself
    std::unique_ptr<VectorIndex> index;    // null: no vectors yet
    std::vector<std::string> chunk_ids;    // key -> chunk; keys are never reused
    std::unordered_map<std::string, std::vector<std::uint64_t>> keys;  // document -> its keys
    std::size_t live = 0;

    // A key is handed out under the lock before its vector goes in, so a search never finds a
    // key without its chunk; the index's own lock keeps searches going while it grows (even
    // through the switch from exact search to a graph).
    void add(std::vector<ChunkVector>& vectors) {
      if (vectors.empty()) return;
      VectorIndex* into = nullptr;
      std::vector<std::uint64_t> given;
      {
        std::unique_lock lock(mu);
        if (!index) index = make_vector_index(static_cast<int>(vectors.front().vector.size()), vectors.size());
        into = index.get();
        for (ChunkVector& cv : vectors) {
          given.push_back(chunk_ids.size());
          keys[cv.document_id].push_back(chunk_ids.size());
          chunk_ids.push_back(std::move(cv.chunk_id));
        }
        live += vectors.size();
      }
      for (std::size_t i = 0; i < vectors.size(); ++i)
        if (static_cast<int>(vectors[i].vector.size()) == into->dimension())  // else a bug: the store checks
          into->upsert(given[i], vectors[i].vector);
    }
    void remove(const std::vector<std::string>& documents) {
      std::vector<std::uint64_t> gone;
      VectorIndex* from = nullptr;
      {
        std::unique_lock lock(mu);
        from = index.get();
        for (const std::string& doc : documents) {
          auto it = keys.find(doc);
          if (it == keys.end()) continue;
          gone.insert(gone.end(), it->second.begin(), it->second.end());
          keys.erase(it);
        }
        live -= gone.size();
      }
      for (std::uint64_t key : gone) from->remove(key);
    }
    // Removed vectors stay in a graph (marked deleted) and their keys in chunk_ids: past this,
    // the base is loaded whole again.
    bool worn() const {
      std::shared_lock lock(mu);
      return chunk_ids.size() > 2 * live + 1024;
    }
    // The top n of the index as (chunk, similarity).
    Result<std::vector<std::pair<std::string, double>>> search(const std::vector<float>& q, std::size_t n) const {
      std::vector<std::pair<std::string, double>> out;
      VectorIndex* in = nullptr;
      {
        std::shared_lock lock(mu);
        in = index.get();
      }
      if (!in) return out;
      if (static_cast<int>(q.size()) != in->dimension())
        return make_error(errc::upstream_error, "the embedding model returned a query vector of another dimension "
                                                "than the knowledge base holds; reindex it");
      const auto hits = in->search(q, n);
      std::shared_lock lock(mu);
      for (const auto& [key, similarity] : hits) out.emplace_back(chunk_ids[key], static_cast<double>(similarity));
      return out;
    }
  };
  mutable std::mutex mu;
  std::unordered_map<std::string, std::shared_ptr<Entry>> entries;

  // The base's entry in `space`, at whatever version.
  std::shared_ptr<Entry> find(const std::string& kb_id, std::int64_t space) const {
    std::lock_guard lock(mu);
    auto it = entries.find(kb_id);
    if (it == entries.end() || it->second->space != space) return nullptr;
    return it->second;
  }
  void put(const std::string& kb_id, std::shared_ptr<Entry> e) {
    std::lock_guard lock(mu);
    entries[kb_id] = std::move(e);
  }
  void drop(const std::string& kb_id) {
    std::lock_guard lock(mu);
    entries.erase(kb_id);
  }
};

// The worker coroutines share a strand, so their timers (which wake() cancels) are only ever
// touched from it.
struct KnowledgeService::Workers {
  explicit Workers(const asio::any_io_executor& ex) : strand(asio::make_strand(ex)) {}
  asio::strand<asio::any_io_executor> strand;
  std::vector<asio::steady_timer*> idle;  // on the strand only
  bool stopping = false;                  // on the strand only
};

KnowledgeService::KnowledgeService(KnowledgeStore& store, asio::thread_pool& blocking, KnowledgeOptions options)
    : store_(store),
      blocking_(blocking),
      options_(std::move(options)),
      vectors_(std::make_unique<VectorCache>()),
      // Compactions of a lexical index run on the blocking pool, searches going on meanwhile.
      lexical_(std::make_unique<LexicalCache>([&blocking](std::function<void()> task) {
        asio::post(blocking, std::move(task));
      })) {}

KnowledgeService::~KnowledgeService() = default;

Awaitable<KnowledgeBase> KnowledgeService::create_base(NewKnowledgeBase b) {
  if (auto r = check_text("name", b.name, options_.max_name_chars, true); !r) co_return r.error();
  if (b.description)
    if (auto r = check_text("description", *b.description, options_.max_description_chars, false); !r)
      co_return r.error();
  if (!b.embedding_model) b.embedding_model = options_.default_embedding_model;
  if (b.embedding_model) {
    if (!embedder_)
      co_return make_error(errc::invalid_request,
                           "no embedding model is configured on this server (EMBEDDING_MODEL): leave embeddingModel "
                           "out and the knowledge base is searched lexically (BM25)");
    if (auto r = embedder_->check_model(*b.embedding_model); !r) co_return r.error();
  }
  co_return co_await offload(blocking_, [&] { return store_.create_base(b); });
}

Awaitable<KnowledgeBase> KnowledgeService::get_base(std::string user_id, std::string id) {
  co_return co_await offload(blocking_, [&] { return store_.get_base(user_id, id); });
}

Awaitable<Page<KnowledgeBase>> KnowledgeService::list_bases(std::string user_id, PageRequest page) {
  co_return co_await offload(blocking_, [&] { return store_.list_bases(user_id, page); });
}

Awaitable<KnowledgeBase> KnowledgeService::update_base(std::string user_id, std::string id, KnowledgeBasePatch p) {
  if (p.name)
    if (auto r = check_text("name", *p.name, options_.max_name_chars, true); !r) co_return r.error();
  if (p.description)
    if (auto r = check_text("description", *p.description, options_.max_description_chars, false); !r)
      co_return r.error();
  if (p.embedding_model) {
    if (!embedder_) co_return make_error(errc::invalid_request, "no embedding model is configured on this server");
    if (auto r = embedder_->check_model(*p.embedding_model); !r) co_return r.error();
  }
  auto updated = co_await offload(blocking_, [&]() -> Result<KnowledgeBase> {
    auto b = store_.update_base(user_id, id, p);
    if (!b || !p.embedding_model) return b;
    // Another model is a reindex into a new vector space; the same one is nothing to do.
    const auto& wanted = *p.embedding_model;
    if (b->next_embedding_model ? *b->next_embedding_model == wanted : b->embedding_model == wanted) return b;
    return store_.start_reindex(user_id, id, wanted);
  });
  if (updated && p.embedding_model) wake();
  co_return updated;
}

Awaitable<KnowledgeBase> KnowledgeService::reindex(std::string user_id, std::string id,
                                                   std::optional<std::string> model) {
  auto base = co_await offload(blocking_, [&] { return store_.get_base(user_id, id); });
  if (!base) co_return base.error();
  if (!model) model = base->next_embedding_model ? base->next_embedding_model : base->embedding_model;
  if (!model) model = options_.default_embedding_model;
  if (!model)
    co_return make_error(errc::invalid_request,
                         "this knowledge base has no embedding model: give embeddingModel to reindex it with one");
  if (!embedder_) co_return make_error(errc::invalid_request, "no embedding model is configured on this server");
  if (auto r = embedder_->check_model(*model); !r) co_return r.error();
  auto started = co_await offload(blocking_, [&] { return store_.start_reindex(user_id, id, *model); });
  if (started) {
    wake();
    // A base without chunks switched at once.
    if (!started->next_embedding_model) announce_vectors(user_id, id);
  }
  co_return started;
}

Awaitable<void> KnowledgeService::delete_base(std::string user_id, std::string id) {
  co_return co_await offload(blocking_, [&]() -> Result<void> {
    auto r = store_.delete_base(user_id, id);
    if (!r) return r;
    forget(id);
    announce_vectors(user_id, id);
    return r;
  });
}

Result<AddedDocument> KnowledgeService::add_document_now(const std::string& user_id, const std::string& kb_id,
                                                         Upload u) {
  if (u.bytes.size() > options_.max_upload_bytes)
    return make_error(errc::payload_too_large, "the document is larger than " +
                                                   std::to_string(options_.max_upload_bytes) +
                                                   " bytes (MAX_UPLOAD_BYTES)");
  if (u.bytes.empty()) return make_error(errc::invalid_request, "the document is empty");
  if (auto r = check_text("title", u.title, options_.max_title_chars, true); !r) return r.error();
  NewDocument d;
  d.knowledge_base_id = kb_id;
  d.user_id = user_id;
  d.title = std::move(u.title);
  d.media_type = std::string(sniff_media_type(u.bytes));
  d.content_hash = content_hash(u.bytes);
  d.content = std::move(u.bytes);
  return store_.add_document(d, options_.quota);
}

Awaitable<AddedDocument> KnowledgeService::add_document(std::string user_id, std::string kb_id, Upload u) {
  auto added = co_await offload(blocking_, [&] { return add_document_now(user_id, kb_id, std::move(u)); });
  if (added && !added->existing) wake();
  co_return added;
}

Awaitable<Document> KnowledgeService::get_document(std::string user_id, std::string kb_id, std::string id) {
  co_return co_await offload(blocking_, [&] { return store_.get_document(user_id, kb_id, id); });
}

Awaitable<Page<Document>> KnowledgeService::list_documents(std::string user_id, std::string kb_id, PageRequest page) {
  co_return co_await offload(blocking_, [&] { return store_.list_documents(user_id, kb_id, page); });
}

Awaitable<void> KnowledgeService::delete_document(std::string user_id, std::string kb_id, std::string id) {
  co_return co_await offload(blocking_, [&]() -> Result<void> {
    auto r = store_.delete_document(user_id, kb_id, id);
    if (r) announce_vectors(user_id, kb_id);
    return r;
  });
}

Awaitable<Document> KnowledgeService::cancel(std::string user_id, std::string kb_id, std::string document_id) {
  co_return co_await offload(blocking_, [&] { return store_.cancel_job(user_id, kb_id, document_id); });
}

Awaitable<std::vector<Passage>> KnowledgeService::search(std::string user_id, std::vector<std::string> kb_ids,
                                                         std::string query, int k, SearchMode mode) {
  co_return co_await offload(blocking_, [&] { return search_now(user_id, kb_ids, query, k, mode); });
}

Awaitable<KnowledgeService::Ranked> KnowledgeService::search_ranked(std::string user_id,
                                                                    std::vector<std::string> kb_ids,
                                                                    std::string query, int k, SearchMode mode) {
  co_return co_await offload(blocking_, [&] { return search_ranked_now(user_id, kb_ids, query, k, mode); });
}

Result<void> KnowledgeService::check_bases_now(const std::string& user_id, const std::vector<std::string>& kb_ids) {
  const auto ids = distinct(kb_ids);
  auto own = store_.count_own_bases(user_id, ids);
  if (!own) return own.error();
  if (*own != static_cast<std::int64_t>(ids.size())) return make_error(errc::not_found, "knowledge base not found");
  return {};
}

Result<std::vector<Passage>> KnowledgeService::search_now(const std::string& user_id,
                                                          const std::vector<std::string>& kb_ids,
                                                          const std::string& query, int k, SearchMode mode) {
  auto ranked = search_ranked_now(user_id, kb_ids, query, k, mode);
  if (!ranked) return ranked.error();
  return std::move(ranked->passages);
}

Result<std::vector<std::pair<std::string, double>>> KnowledgeService::vector_ranking(
    const std::string& user_id, const std::vector<BaseVectors>& bases, const std::string& query, std::size_t n,
    bool* moved) {
  std::vector<std::pair<std::string, double>> out;
  if (!embedder_) return make_error(errc::unavailable, "no embedding model is configured on this server");
  // One query vector per model (bases may differ), billed to the user like any embedding.
  std::map<std::string, std::vector<float>> query_vectors;
  for (const BaseVectors& b : bases) {
    if (query_vectors.contains(b.model)) continue;
    auto v = embedder_->embed({user_id, b.model, {query}});
    if (!v) return v.error();
    if (v->size() != 1) return make_error(errc::upstream_error, "the embedding model returned no vector");
    query_vectors[b.model] = std::move(v->front());
  }
  for (const BaseVectors& b : bases) {
    auto entry = vectors_->find(b.knowledge_base_id, b.space);
    if (entry && entry->version < b.lexical_version) {
      // Behind the database: the changed documents' vectors replaced, one change at a time.
      std::lock_guard change(entry->writer);
      if (entry->version < b.lexical_version) {
        auto changes = store_.vector_changes(b.knowledge_base_id, b.space, entry->version);
        if (!changes) return changes.error();
        if (changes->complete && !entry->worn()) {
          entry->remove(changes->documents);
          entry->add(changes->vectors);
          entry->version = changes->version;
        } else {
          entry = nullptr;
        }
      }
    }
    if (!entry) {
      auto loaded = store_.load_vectors(b.knowledge_base_id, b.space);
      if (!loaded) return loaded.error();
      if (loaded->empty() && moved) {
        // No vectors: a reindex may have switched the base to its new space (dropping this one)
        // since `bases` was read. Then the caller reads the bases again rather than answer from
        // nothing (and nothing empty is cached for a space that is gone).
        auto now = store_.vector_bases(user_id, {b.knowledge_base_id});
        if (now && !now->empty() && now->front().space != b.space) {
          *moved = true;
          return out;
        }
      }
      // Stamped with the version read before the load: the rows may be newer, and the changes
      // between are applied again at the next search (a document's vectors replaced whole).
      auto e = std::make_shared<VectorCache::Entry>();
      e->space = b.space;
      e->version = b.lexical_version;
      e->add(*loaded);
      vectors_->put(b.knowledge_base_id, e);
      entry = std::move(e);
    }
    auto found = entry->search(query_vectors[b.model], n);
    if (!found) return found.error();
    out.insert(out.end(), std::make_move_iterator(found->begin()), std::make_move_iterator(found->end()));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (out.size() > n) out.resize(n);
  return out;
}

Result<KnowledgeService::Ranked> KnowledgeService::search_ranked_now(const std::string& user_id,
                                                                     const std::vector<std::string>& kb_ids,
                                                                     const std::string& query, int k,
                                                                     SearchMode mode) {
  if (auto r = check_text("q", query, options_.max_query_chars, true); !r) return r.error();
  if (k < 1 || k > options_.max_k)
    return make_error(errc::invalid_request, "k must be an integer from 1 to " + std::to_string(options_.max_k));
  if (kb_ids.empty()) return make_error(errc::invalid_request, "no knowledge base to search");
  return rank_now(user_id, distinct(kb_ids), query, k, mode);
}

// The ids distinct, the query checked by the caller. Ownership is checked by the read of the
// bases' lexical versions (one read fewer per search than a separate check); the vector side is
// read only when the mode may use it.
Result<KnowledgeService::Ranked> KnowledgeService::rank_now(const std::string& user_id,
                                                            const std::vector<std::string>& ids,
                                                            const std::string& query, int k, SearchMode mode) {
  auto own = store_.lexical_bases(user_id, ids);
  if (!own) return own.error();
  if (own->size() != ids.size()) return make_error(errc::not_found, "knowledge base not found");
  Result<std::vector<BaseVectors>> bases = std::vector<BaseVectors>{};
  if (mode != SearchMode::lexical) bases = store_.vector_bases(user_id, ids);
  if (!bases) return bases.error();
  if (mode == SearchMode::vector && bases->empty())
    return make_error(errc::invalid_request,
                      "vector search needs a knowledge base with an embedding model; these are searched "
                      "lexically (mode=lexical), or give one an embeddingModel (PATCH or POST …/reindex)");
  if (mode == SearchMode::hybrid && bases->empty()) mode = SearchMode::lexical;

  Ranked out;
  out.mode = mode;
  if (mode == SearchMode::lexical) {
    auto found = lexical_->search(store_, *own, query_terms(query), k);
    if (!found) return found.error();
    out.passages = std::move(*found);
    return out;
  }
  // Each list is ranked deeper than k, so that fusion sees what the other list ranked lower.
  const std::size_t depth = mode == SearchMode::vector ? static_cast<std::size_t>(k)
                                                       : std::max<std::size_t>(static_cast<std::size_t>(k) * 2, 50);
  bool moved = false;
  auto by_vector = vector_ranking(user_id, *bases, query, depth, &moved);
  if (by_vector && moved) {  // once: a second switch within one search is not worth chasing
    bases = store_.vector_bases(user_id, ids);
    if (!bases) return bases.error();
    by_vector = vector_ranking(user_id, *bases, query, depth);
  }
  if (!by_vector && mode == SearchMode::hybrid) {
    // hybrid is the default: an embeddings call that fails (upstream down, the user's limits)
    // costs the search its vector half, not its answer; `mode` tells the client.
    spdlog::warn("knowledge: hybrid search ranked lexically: {}", by_vector.error().message);
    auto found = lexical_->search(store_, *own, query_terms(query), k);
    if (!found) return found.error();
    out.mode = SearchMode::lexical;
    out.passages = std::move(*found);
    return out;
  }
  if (!by_vector) return by_vector.error();
  std::vector<Passage> lexical;
  if (mode == SearchMode::hybrid) {
    auto found = lexical_->search(store_, *own, query_terms(query), static_cast<int>(depth));
    if (!found) return found.error();
    lexical = std::move(*found);
  }
  // Fused (or vector) scores, then the passages of the best k.
  std::unordered_map<std::string, double> score;
  const double w = options_.hybrid_vector_weight;
  if (mode == SearchMode::vector) {
    for (const auto& [chunk, similarity] : *by_vector) score[chunk] += similarity;
  } else if (options_.hybrid_fusion == Fusion::rrf) {
    for (std::size_t i = 0; i < by_vector->size(); ++i)
      score[(*by_vector)[i].first] += w / (kRrfK + static_cast<double>(i + 1));
    for (std::size_t i = 0; i < lexical.size(); ++i)
      score[lexical[i].chunk_id] += 1.0 / (kRrfK + static_cast<double>(i + 1));
  } else {
    // Both lists best first: their first entries are their maxima.
    if (!by_vector->empty()) {
      const double hi = by_vector->front().second, lo = by_vector->back().second;
      for (const auto& [chunk, similarity] : *by_vector)
        score[chunk] += w * (hi > lo ? (similarity - lo) / (hi - lo) : 1.0);
    }
    if (!lexical.empty() && lexical.front().score > 0)
      for (const Passage& p : lexical) score[p.chunk_id] += p.score / lexical.front().score;
  }
  std::vector<std::pair<std::string, double>> order(score.begin(), score.end());
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (order.size() > static_cast<std::size_t>(k)) order.resize(static_cast<std::size_t>(k));
  std::unordered_map<std::string, Passage> known;
  for (Passage& p : lexical) known.emplace(p.chunk_id, std::move(p));
  std::vector<std::string> missing;
  for (const auto& [chunk, _] : order)
    if (!known.contains(chunk)) missing.push_back(chunk);
  if (!missing.empty()) {
    auto rows = store_.passages(missing);
    if (!rows) return rows.error();
    for (Passage& p : *rows) known.emplace(p.chunk_id, std::move(p));
  }
  for (const auto& [chunk, s] : order) {
    auto it = known.find(chunk);
    if (it == known.end()) continue;  // deleted since the index was built
    it->second.score = s;
    out.passages.push_back(std::move(it->second));
  }
  return out;
}

Result<std::vector<Passage>> KnowledgeService::retrieve_now(const std::string& user_id,
                                                            const std::vector<std::string>& kb_ids,
                                                            const std::string& query) {
  // A message with no searchable words (an image, "hi") retrieves nothing rather than failing
  // (after the same ownership check a search makes).
  if (query_terms(query).empty()) {
    if (auto r = check_bases_now(user_id, kb_ids); !r) return r.error();
    return std::vector<Passage>{};
  }
  // Hybrid where a base has vectors (lexical when the embeddings call fails), lexical elsewhere.
  auto found = rank_now(user_id, distinct(kb_ids), query, options_.chat_passages, SearchMode::hybrid);
  if (!found) return found.error();
  std::vector<Passage> out;
  std::int64_t budget = options_.chat_passage_tokens;
  for (Passage& p : found->passages) {
    const auto cost = static_cast<std::int64_t>(chunk_tokenizer().count(p.text)) + 8;
    if (cost > budget) break;
    budget -= cost;
    out.push_back(std::move(p));
  }
  return out;
}

// Neither index needs the message to stay right (each search compares its base's versions with
// the database and catches up from the change log); a deleted base's copies go with it.
void KnowledgeService::vectors_changed(const std::string& kb_id) {
  asio::post(blocking_, [this, kb_id] {
    auto base = store_.embedding_target(kb_id);
    if (!base && base.error().code == errc::not_found) forget(kb_id);
  });
}

void KnowledgeService::forget(const std::string& kb_id) {
  vectors_->drop(kb_id);
  lexical_->drop(kb_id);
}

std::size_t KnowledgeService::cached_vector_bases() const {
  std::lock_guard lock(vectors_->mu);
  return vectors_->entries.size();
}

// This process's indexes catch up at their next search (versions); the message is for replicas
// to drop a deleted base's copies (and for older replicas, which drop theirs on any change).
void KnowledgeService::announce_vectors(const std::string& user_id, const std::string& kb_id) {
  if (options_.on_vectors_changed) options_.on_vectors_changed(user_id, kb_id);
}

// --- Ingestion --------------------------------------------------------------------------------------

ClaimLimits KnowledgeService::claim_limits() const {
  ClaimLimits limits;
  limits.lease_ms = options_.lease.count();
  return limits;
}

void KnowledgeService::run_jobs(std::vector<ClaimedJob>& claimed, const std::function<void(const Job&)>& progress) {
  std::vector<FinishedJob> finished;
  std::vector<const ClaimedJob*> of;
  for (const ClaimedJob& c : claimed) {
    try {
      if (c.job.kind == "reindex") {
        run_reindex(c.job, progress);
        continue;
      }
      auto rows = ingest(c, progress);
      if (!rows) continue;
      finished.push_back({c.job.id, std::move(*rows)});
      of.push_back(&c);
    } catch (const std::exception& e) {
      spdlog::error("knowledge job {} failed: {}", c.job.id, e.what());
      JobProgress(store_, c.job, progress).fail("the document could not be processed (internal error)");
    }
  }
  if (finished.empty()) return;
  auto done = store_.finish_jobs(finished);
  if (!done) {
    // Left running: their leases run out and a worker takes them over.
    spdlog::warn("knowledge: cannot finish {} ingestion job(s): {}", finished.size(), done.error().detail);
    return;
  }
  for (std::size_t i = 0; i < finished.size(); ++i) {
    if (!(*done)[i]) continue;  // cancelled or deleted meanwhile
    const Job& job = of[i]->job;
    const auto total = static_cast<std::int64_t>(finished[i].chunks.size());
    JobProgress(store_, job, progress).report(Stage::indexed, total, total);
    if (of[i]->target && total > 0) announce_vectors(job.user_id, job.knowledge_base_id);
    if (options_.on_indexed) options_.on_indexed(job.user_id, job.knowledge_base_id, job.document_id, total);
  }
}

std::optional<std::vector<NewChunk>> KnowledgeService::ingest(const ClaimedJob& claimed,
                                                              const std::function<void(const Job&)>& progress) {
  const Job& job = claimed.job;
  const auto lease = options_.lease.count();
  JobProgress tell(store_, job, progress);
  tell.report(Stage::parsing, 0, 0);
  auto parsed = parse_document(claimed.source, options_.parsing);
  if (!parsed) {
    tell.fail(parsed.error().message);
    return std::nullopt;
  }
  // A large document says it is chunking (and renews its lease); a light one (ClaimLimits) goes
  // from parsing to indexed in well under a second, where that write would only cost a transaction.
  if (static_cast<std::int64_t>(claimed.source.size()) > claim_limits().light_bytes) {
    auto moved = store_.advance_job(job.id, Stage::chunking, 0, 0, lease);
    if (!moved || !*moved) return std::nullopt;  // cancelled (or the database is gone: the lease brings it back)
  }
  tell.report(Stage::chunking, 0, 0);
  const std::vector<Chunk> chunks = chunk_document(*parsed, chunk_tokenizer(), options_.chunking);
  std::vector<NewChunk> rows;
  rows.reserve(chunks.size());
  for (const Chunk& c : chunks) {
    NewChunk n;
    n.text = c.text;
    n.start = static_cast<std::int64_t>(c.start);
    n.end = static_cast<std::int64_t>(c.end);
    if (c.page > 0) n.page = c.page;
    n.heading_path = c.heading_path;
    TermCounts t = chunk_terms(claimed.title, c);
    n.terms = std::move(t.terms);
    n.length = t.length;
    rows.push_back(std::move(n));
  }
  if (!claimed.target || rows.empty()) return rows;
  // Embedding: the chunks' vectors, staged batch by batch under the job (a restart embeds only
  // the chunks whose vectors it does not find), joined to the chunks by finish_jobs.
  const VectorSpace& space = *claimed.target;
  const auto total = static_cast<std::int64_t>(rows.size());
  auto moved = store_.advance_job(job.id, Stage::embedding, 0, total, lease);
  if (!moved || !*moved) return std::nullopt;
  tell.report(Stage::embedding, 0, total);
  // Without an embedder (the `ingest` command) the job waits here for the server: its lease
  // runs out and a worker with one takes it over.
  if (!embedder_) return std::nullopt;
  std::vector<std::string> texts, hashes;
  for (const NewChunk& c : rows) {
    texts.push_back(embedding_text(claimed.title, c.heading_path, c.text));
    hashes.push_back(content_hash(texts.back()));
  }
  auto staged = store_.staged_vectors(job.id, space.space);
  if (!staged) return std::nullopt;
  std::set<std::int64_t> have;
  for (const auto& [ordinal, hash] : *staged)
    if (ordinal >= 0 && ordinal < total && hashes[static_cast<std::size_t>(ordinal)] == hash) have.insert(ordinal);
  std::vector<std::int64_t> todo;
  std::vector<std::string> todo_texts;
  for (std::int64_t i = 0; i < total; ++i)
    if (!have.contains(i)) {
      todo.push_back(i);
      todo_texts.push_back(texts[static_cast<std::size_t>(i)]);
    }
  const auto already = static_cast<std::int64_t>(have.size());
  auto embedded = embed_batches(
      job, space.model, todo_texts,
      [&](std::size_t first, std::vector<std::vector<float>>& vectors) -> Result<bool> {
        std::vector<StagedVector> batch;
        for (std::size_t i = 0; i < vectors.size(); ++i) {
          const auto ordinal = todo[first + i];
          batch.push_back({ordinal, hashes[static_cast<std::size_t>(ordinal)], std::move(vectors[i])});
        }
        return store_.stage_vectors(job.id, space.space, batch);
      },
      already, total, [&](std::int64_t n) { tell.report(Stage::embedding, n, total); });
  if (!embedded) {
    tell.fail(embedded.error().message);
    return std::nullopt;
  }
  if (!*embedded) return std::nullopt;
  return rows;
}

Result<bool> KnowledgeService::embed_batches(
    const Job& job, const std::string& model, const std::vector<std::string>& texts,
    const std::function<Result<bool>(std::size_t, std::vector<std::vector<float>>&)>& store, std::int64_t already,
    std::int64_t total, const std::function<void(std::int64_t)>& progress) {
  const auto batch = static_cast<std::size_t>(std::max(1, options_.embed_batch));
  for (std::size_t first = 0; first < texts.size(); first += batch) {
    EmbedCall call{job.user_id, model,
                   std::vector<std::string>(texts.begin() + static_cast<std::ptrdiff_t>(first),
                                            texts.begin() + static_cast<std::ptrdiff_t>(std::min(texts.size(), first + batch)))};
    Result<std::vector<std::vector<float>>> vectors = make_error(errc::internal, "not called");
    std::chrono::milliseconds throttled{0};
    for (int attempt = 0;;) {
      vectors = embedder_->embed(call);
      if (vectors || !passing_failure(vectors.error())) break;
      // The user's rate limit (requests or tokens per minute) is waited out, as long as it says
      // (Retry-After), up to embed_max_throttle in all: a large upload is paced by the user's
      // limits instead of failing. Upstream failures are tried embed_retries more times.
      std::chrono::milliseconds wait = options_.embed_backoff * (1 << std::min(attempt, 6));
      if (vectors.error().code == errc::rate_limited) {
        if (vectors.error().retry_after_seconds) wait = std::chrono::seconds(*vectors.error().retry_after_seconds);
        wait = std::clamp(wait, std::chrono::milliseconds(100), std::chrono::milliseconds(60000));
        if (throttled + wait > options_.embed_max_throttle) break;
        throttled += wait;
      } else if (++attempt > options_.embed_retries) {
        break;
      }
      // The lease covers the wait: another worker does not take the job over meanwhile.
      auto alive = store_.advance_job(job.id, Stage::embedding, already + static_cast<std::int64_t>(first), total,
                                      options_.lease.count() + wait.count());
      if (!alive || !*alive) return false;
      std::this_thread::sleep_for(wait);
    }
    if (!vectors) {
      const Error& e = vectors.error();
      if (e.code == errc::budget_exceeded || e.code == errc::rate_limited)
        return make_error(e.code, "embedding refused by your limits: " + e.message);
      return make_error(e.code, "embedding failed (" + model + "): " + e.message);
    }
    if (vectors->size() != call.texts.size())
      return make_error(errc::upstream_error, "embedding failed (" + model + "): " + std::to_string(vectors->size()) +
                                                  " vectors for " + std::to_string(call.texts.size()) + " texts");
    auto kept = store(first, *vectors);
    if (!kept) return kept.error();
    if (!*kept) return false;
    const auto done = already + static_cast<std::int64_t>(first + call.texts.size());
    auto alive = store_.advance_job(job.id, Stage::embedding, done, total, options_.lease.count());
    if (!alive || !*alive) return false;
    progress(done);
  }
  return true;
}

// A reindex job: the document's stored chunks embedded into the base's next vector space (only
// those without a vector there: a restart resumes); the last one switches the base over.
void KnowledgeService::run_reindex(const Job& job, const std::function<void(const Job&)>& progress) {
  JobProgress tell(store_, job, progress);
  auto doc = store_.get_document(job.user_id, job.knowledge_base_id, job.document_id);
  if (!doc) return;
  const std::int64_t total = doc->chunk_count;
  auto moved = store_.advance_job(job.id, Stage::embedding, 0, total, options_.lease.count());
  if (!moved || !*moved) return;
  tell.report(Stage::embedding, 0, total);
  if (!embedder_) return;  // left for a process with an embedder (the lease runs out)
  auto target = store_.embedding_target(job.knowledge_base_id);
  if (!target) return;
  if (!*target) return tell.fail("the knowledge base has no embedding model");
  const VectorSpace space = **target;
  auto chunks = store_.chunks_to_embed(job.document_id, space.space);
  if (!chunks) return;
  std::vector<std::string> texts;
  for (const ChunkToEmbed& c : *chunks) texts.push_back(embedding_text(c.title, c.heading_path, c.text));
  const auto already = total - static_cast<std::int64_t>(chunks->size());
  auto embedded = embed_batches(
      job, space.model, texts,
      [&](std::size_t first, std::vector<std::vector<float>>& vectors) -> Result<bool> {
        std::vector<ChunkVector> batch;
        for (std::size_t i = 0; i < vectors.size(); ++i) batch.push_back({(*chunks)[first + i].chunk_id, std::move(vectors[i])});
        return store_.store_vectors(job.id, space.space, batch);
      },
      already, total, [&](std::int64_t n) { tell.report(Stage::embedding, n, total); });
  if (!embedded) return tell.fail(embedded.error().message);
  if (!*embedded) return;
  auto done = store_.finish_reindex(job.id);
  if (!done || !*done) return;
  tell.report(Stage::indexed, total, total);
  auto base = store_.get_base(job.user_id, job.knowledge_base_id);
  if (base && !base->next_embedding_model) announce_vectors(job.user_id, job.knowledge_base_id);
}

void KnowledgeService::drain(const std::function<void(const Job&)>& progress) {
  for (;;) {
    auto claimed = store_.claim_jobs(claim_limits());
    if (!claimed || claimed->empty()) return;
    run_jobs(*claimed, progress);
  }
}

void KnowledgeService::start(const asio::any_io_executor& executor) {
  workers_ = std::make_shared<Workers>(executor);
  for (int i = 0; i < options_.workers; ++i) {
    asio::co_spawn(
        workers_->strand,
        [this, w = workers_]() -> asio::awaitable<void> {
          asio::steady_timer timer(w->strand);
          while (!w->stopping) {
            auto claim = [this] { return store_.claim_jobs(claim_limits()); };
            auto claimed = co_await offload(blocking_, claim);
            if (w->stopping) break;
            if (claimed && !claimed->empty()) {
              // Captured by reference and named: a lambda holding strings as a temporary in a
              // co_await expression is destroyed twice by g++ 12.
              std::vector<ClaimedJob> batch = std::move(*claimed);
              auto run = [this, &batch] { run_jobs(batch, {}); };
              co_await offload(blocking_, run);
              continue;
            }
            if (!claimed) spdlog::warn("knowledge: cannot look for ingestion jobs: {}", claimed.error().detail);
            timer.expires_after(options_.poll);
            w->idle.push_back(&timer);
            co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
            std::erase(w->idle, &timer);
          }
        },
        asio::detached);
  }
}

void KnowledgeService::wake() {
  if (!workers_) return;
  asio::post(workers_->strand, [w = workers_] {
    for (auto* t : w->idle) t->cancel();
  });
}

void KnowledgeService::stop() {
  if (!workers_) return;
  asio::post(workers_->strand, [w = workers_] {
    w->stopping = true;
    for (auto* t : w->idle) t->cancel();
  });
}

}  // namespace aas::knowledge
