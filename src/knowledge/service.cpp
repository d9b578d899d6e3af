#include "knowledge/service.hpp"

#include "core/log.hpp"
#include "core/offload.hpp"
#include "knowledge/analyzer.hpp"
#include "knowledge/utf8.hpp"
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
#include <mutex>
#include <set>

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

std::vector<std::string> distinct(std::vector<std::string> ids) {
  std::set<std::string> seen;
  std::vector<std::string> out;
  for (auto& id : ids)
    if (seen.insert(id).second) out.push_back(std::move(id));
  return out;
}

}  // namespace

// The worker coroutines share a strand, so their timers (which wake() cancels) are only ever
// touched from it.
struct KnowledgeService::Workers {
  explicit Workers(const asio::any_io_executor& ex) : strand(asio::make_strand(ex)) {}
  asio::strand<asio::any_io_executor> strand;
  std::vector<asio::steady_timer*> idle;  // on the strand only
  bool stopping = false;                  // on the strand only
};

KnowledgeService::KnowledgeService(KnowledgeStore& store, asio::thread_pool& blocking, KnowledgeOptions options)
    : store_(store), blocking_(blocking), options_(std::move(options)) {}

KnowledgeService::~KnowledgeService() = default;

Awaitable<KnowledgeBase> KnowledgeService::create_base(NewKnowledgeBase b) {
  if (auto r = check_text("name", b.name, options_.max_name_chars, true); !r) co_return r.error();
  if (b.description)
    if (auto r = check_text("description", *b.description, options_.max_description_chars, false); !r)
      co_return r.error();
  if (!b.embedding_model) b.embedding_model = options_.default_embedding_model;
  if (b.embedding_model)
    co_return make_error(errc::invalid_request,
                         "embedding models are not available in this version: knowledge bases are searched "
                         "lexically (BM25); leave embeddingModel out");
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
  co_return co_await offload(blocking_, [&] { return store_.update_base(user_id, id, p); });
}

Awaitable<void> KnowledgeService::delete_base(std::string user_id, std::string id) {
  co_return co_await offload(blocking_, [&] { return store_.delete_base(user_id, id); });
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
  co_return co_await offload(blocking_, [&] { return store_.delete_document(user_id, kb_id, id); });
}

Awaitable<Document> KnowledgeService::cancel(std::string user_id, std::string kb_id, std::string document_id) {
  co_return co_await offload(blocking_, [&] { return store_.cancel_job(user_id, kb_id, document_id); });
}

Awaitable<std::vector<Passage>> KnowledgeService::search(std::string user_id, std::vector<std::string> kb_ids,
                                                         std::string query, int k, SearchMode mode) {
  co_return co_await offload(blocking_, [&] { return search_now(user_id, kb_ids, query, k, mode); });
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
  if (auto r = check_text("q", query, options_.max_query_chars, true); !r) return r.error();
  if (k < 1 || k > options_.max_k)
    return make_error(errc::invalid_request, "k must be an integer from 1 to " + std::to_string(options_.max_k));
  if (kb_ids.empty()) return make_error(errc::invalid_request, "no knowledge base to search");
  const auto ids = distinct(kb_ids);
  if (auto r = check_bases_now(user_id, ids); !r) return r.error();
  // No base holds vectors in this version (create_base refuses embedding models): hybrid is
  // lexical, vector has nothing to search.
  if (mode == SearchMode::vector)
    return make_error(errc::invalid_request,
                      "vector search needs a knowledge base with an embedding model; these are searched "
                      "lexically (mode=lexical)");
  return store_.lexical_search(user_id, ids, query_terms(query), k);
}

Result<std::vector<Passage>> KnowledgeService::retrieve_now(const std::string& user_id,
                                                            const std::vector<std::string>& kb_ids,
                                                            const std::string& query) {
  if (auto r = check_bases_now(user_id, kb_ids); !r) return r.error();
  // A message with no searchable words (an image, "hi") retrieves nothing rather than failing.
  if (query_terms(query).empty()) return std::vector<Passage>{};
  auto found = store_.lexical_search(user_id, distinct(kb_ids), query_terms(query), options_.chat_passages);
  if (!found) return found.error();
  std::vector<Passage> out;
  std::int64_t budget = options_.chat_passage_tokens;
  for (Passage& p : *found) {
    const auto cost = static_cast<std::int64_t>(chunk_tokenizer().count(p.text)) + 8;
    if (cost > budget) break;
    budget -= cost;
    out.push_back(std::move(p));
  }
  return out;
}

// --- Ingestion --------------------------------------------------------------------------------------

void KnowledgeService::run_job(const Job& job, const std::function<void(const Job&)>& progress) {
  const auto lease = options_.lease.count();
  Job now = job;
  const auto report = [&](Stage s, std::int64_t done, std::int64_t total) {
    now.stage = s;
    now.chunks_done = done;
    now.chunks_total = total;
    if (progress) progress(now);
  };
  const auto fail = [&](const std::string& why) {
    (void)store_.fail_job(job.id, why);
    now.error = why;
    report(Stage::failed, 0, 0);
  };
  try {
    report(Stage::parsing, 0, 0);
    auto doc = store_.get_document(job.user_id, job.knowledge_base_id, job.document_id);
    if (!doc) return;  // deleted meanwhile: the job went with it
    auto source = store_.document_source(job.document_id);
    if (!source) {
      if (source.error().code != errc::not_found) fail("the document could not be read; upload it again");
      return;
    }
    auto parsed = parse_document(*source, options_.parsing);
    if (!parsed) return fail(parsed.error().message);
    auto moved = store_.advance_job(job.id, Stage::chunking, 0, 0, lease);
    if (!moved || !*moved) return;  // cancelled (or the database is gone: the lease brings it back)
    report(Stage::chunking, 0, 0);
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
      TermCounts t = chunk_terms(doc->title, c);
      n.terms = std::move(t.terms);
      n.length = t.length;
      rows.push_back(std::move(n));
    }
    const auto total = static_cast<std::int64_t>(rows.size());
    // No progress write between chunking and finishing: finish_job checks the job is still running
    // and records the counts in the same transaction (one write transaction fewer per document).
    auto done = store_.finish_job(job.id, rows);
    if (done && *done) {
      report(Stage::indexed, total, total);
      if (options_.on_indexed) options_.on_indexed(job.user_id, job.knowledge_base_id, job.document_id, total);
    }
  } catch (const std::exception& e) {
    spdlog::error("knowledge job {} failed: {}", job.id, e.what());
    fail("the document could not be processed (internal error)");
  }
}

void KnowledgeService::drain(const std::function<void(const Job&)>& progress) {
  for (;;) {
    auto job = store_.claim_job(options_.lease.count());
    if (!job || !*job) return;
    run_job(**job, progress);
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
            auto job = co_await offload(blocking_, [this] { return store_.claim_job(options_.lease.count()); });
            if (w->stopping) break;
            if (job && *job) {
              // Captured by reference: a lambda holding strings as a temporary in a co_await
              // expression is destroyed twice by g++ 12.
              const Job claimed = std::move(**job);
              co_await offload(blocking_, [this, &claimed] { run_job(claimed, {}); });
              continue;
            }
            if (!job) spdlog::warn("knowledge: cannot look for ingestion jobs: {}", job.error().detail);
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
