// The knowledge store conformance suite (knowledge_conformance.hpp).
#include "knowledge_conformance.hpp"

#include "knowledge/bm25.hpp"
#include "knowledge/embedder.hpp"
#include "knowledge/service.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>

#include <algorithm>
#include <chrono>
#include <future>
#include <map>
#include <random>
#include <utility>

namespace aas::store::testing {

using knowledge::NewChunk;
using knowledge::Stage;

void KnowledgeConformance::SetUp() {
  open_ = GetParam().fresh_database();
  stores_ = open_(clock_);
  auto v = stores_.main->migrate();
  ASSERT_TRUE(v) << v.error().detail;
  kb_ = stores_.knowledge.get();
}

void KnowledgeConformance::TearDown() { stores_ = {}; }

namespace {

knowledge::KnowledgeBase make_base(knowledge::KnowledgeStore& s, const std::string& user, const std::string& name) {
  auto b = s.create_base({user, name, std::nullopt, std::nullopt});
  EXPECT_TRUE(b) << b.error().detail;
  return b.value();
}

knowledge::NewDocument new_doc(const knowledge::KnowledgeBase& b, const std::string& title, const std::string& text) {
  return {b.id, b.user_id, title, "text/plain", text, "hash-" + text};
}

NewChunk chunk(const std::string& text, std::vector<std::pair<std::string, std::int64_t>> terms) {
  NewChunk c;
  c.text = text;
  c.end = static_cast<std::int64_t>(text.size());
  for (const auto& t : terms) c.length += t.second;
  c.terms = std::move(terms);
  c.heading_path = {"Intro", "Part"};
  return c;
}

// Claims the next job and indexes it with `chunks`.
void index_next(knowledge::KnowledgeStore& s, const std::vector<NewChunk>& chunks) {
  auto job = s.claim_job(60000);
  ASSERT_TRUE(job && *job);
  auto done = s.finish_job((*job)->id, chunks);
  ASSERT_TRUE(done && *done);
}

}  // namespace

TEST_P(KnowledgeConformance, BasesAreCreatedListedUpdatedAndDeletedByTheirOwnerOnly) {
  auto a = make_base(*kb_, "alice", "first");
  clock_.advance(std::chrono::milliseconds(5));
  auto b = make_base(*kb_, "alice", "second");
  make_base(*kb_, "bob", "bobs");
  EXPECT_EQ(a.document_count, 0);

  auto page = kb_->list_bases("alice", {1, std::nullopt});
  ASSERT_TRUE(page);
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_EQ(page->items[0].id, b.id);  // newest first
  ASSERT_TRUE(page->next_cursor);
  auto next = kb_->list_bases("alice", {1, page->next_cursor});
  ASSERT_TRUE(next);
  ASSERT_EQ(next->items.size(), 1u);
  EXPECT_EQ(next->items[0].id, a.id);
  EXPECT_FALSE(next->next_cursor);
  EXPECT_EQ(kb_->list_bases("alice", {20, std::string("garbage")}).error().code, errc::invalid_request);

  EXPECT_EQ(kb_->get_base("bob", a.id).error().code, errc::not_found);
  EXPECT_EQ(kb_->update_base("bob", a.id, {std::string("x")}).error().code, errc::not_found);
  EXPECT_EQ(kb_->delete_base("bob", a.id).error().code, errc::not_found);

  knowledge::KnowledgeBasePatch p;
  p.name = "renamed";
  p.description = "about things";
  auto u = kb_->update_base("alice", a.id, p);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->name, "renamed");
  EXPECT_EQ(u->description, "about things");
  knowledge::KnowledgeBasePatch clear;
  clear.clear_description = true;
  EXPECT_FALSE(kb_->update_base("alice", a.id, clear)->description);

  EXPECT_EQ(kb_->count_own_bases("alice", {a.id, b.id, "nope"}).value(), 2);
  EXPECT_EQ(kb_->count_own_bases("bob", {a.id}).value(), 0);

  ASSERT_TRUE(kb_->delete_base("alice", a.id));
  EXPECT_EQ(kb_->get_base("alice", a.id).error().code, errc::not_found);
}

TEST_P(KnowledgeConformance, ADocumentIsQueuedWithItsSourceAndTheSameBytesAgainAreTheSameDocument) {
  auto b = make_base(*kb_, "alice", "docs");
  std::string bytes("binary\0\xff\x01 text", 15);
  knowledge::NewDocument n{b.id, "alice", "Notes", "text/plain", bytes, "abc123"};
  auto added = kb_->add_document(n, {});
  ASSERT_TRUE(added) << added.error().detail;
  EXPECT_FALSE(added->existing);
  EXPECT_EQ(added->document.job.stage, Stage::queued);
  EXPECT_EQ(added->document.bytes, 15);
  EXPECT_EQ(kb_->document_source(added->document.id).value(), bytes);
  // The answer is built, not read back: it says what a read says.
  auto read = kb_->get_document("alice", b.id, added->document.id).value();
  EXPECT_EQ(read.title, added->document.title);
  EXPECT_EQ(read.media_type, added->document.media_type);
  EXPECT_EQ(read.content_hash, added->document.content_hash);
  EXPECT_EQ(read.created_at, added->document.created_at);
  EXPECT_EQ(read.updated_at, added->document.updated_at);
  EXPECT_EQ(read.job.id, added->document.job.id);
  EXPECT_EQ(read.job.kind, added->document.job.kind);
  EXPECT_EQ(read.job.created_at, added->document.job.created_at);
  EXPECT_EQ(read.job.attempts, 0);
  EXPECT_EQ(kb_->get_base("alice", b.id)->document_count, 1);

  auto again = kb_->add_document(n, {});
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->existing);
  EXPECT_EQ(again->document.id, added->document.id);
  EXPECT_EQ(kb_->get_base("alice", b.id)->document_count, 1);

  knowledge::NewDocument foreign = n;
  foreign.user_id = "bob";
  foreign.content_hash = "other";
  EXPECT_EQ(kb_->add_document(foreign, {}).error().code, errc::not_found);
  EXPECT_EQ(kb_->get_document("bob", b.id, added->document.id).error().code, errc::not_found);
  EXPECT_EQ(kb_->delete_document("bob", b.id, added->document.id).error().code, errc::not_found);
  EXPECT_EQ(kb_->cancel_job("bob", b.id, added->document.id).error().code, errc::not_found);
  EXPECT_EQ(kb_->list_documents("bob", b.id, {}).error().code, errc::not_found);
  auto list = kb_->list_documents("alice", b.id, {});
  ASSERT_TRUE(list);
  ASSERT_EQ(list->items.size(), 1u);
  EXPECT_EQ(list->items[0].title, "Notes");
}

TEST_P(KnowledgeConformance, QuotasCountTheUsersDocumentsAndBytesOverAllBases) {
  auto a = make_base(*kb_, "alice", "a");
  auto b = make_base(*kb_, "alice", "b");
  knowledge::Quota q{2, 10};
  ASSERT_TRUE(kb_->add_document(new_doc(a, "one", "12345"), q));
  auto too_big = kb_->add_document(new_doc(b, "two", "123456"), q);
  ASSERT_FALSE(too_big);
  EXPECT_EQ(too_big.error().code, errc::payload_too_large);
  EXPECT_NE(too_big.error().message.find("bytes"), std::string::npos);
  ASSERT_TRUE(kb_->add_document(new_doc(b, "two", "1234"), q));
  auto too_many = kb_->add_document(new_doc(b, "three", "1"), q);
  ASSERT_FALSE(too_many);
  EXPECT_EQ(too_many.error().code, errc::rate_limited);
  EXPECT_NE(too_many.error().message.find("documents"), std::string::npos);
}

TEST_P(KnowledgeConformance, AJobIsClaimedOnceAdvancedAndIndexedWithItsChunks) {
  auto b = make_base(*kb_, "alice", "docs");
  auto d = kb_->add_document(new_doc(b, "Cats", "cats text"), {}).value().document;
  auto job = kb_->claim_job(60000);
  ASSERT_TRUE(job && *job);
  EXPECT_EQ((*job)->document_id, d.id);
  EXPECT_EQ((*job)->stage, Stage::parsing);
  EXPECT_EQ((*job)->attempts, 1);
  EXPECT_FALSE(*kb_->claim_job(60000));  // leased: nobody else takes it

  EXPECT_TRUE(kb_->advance_job((*job)->id, Stage::chunking, 0, 2, 60000).value());
  EXPECT_EQ(kb_->get_document("alice", b.id, d.id)->job.stage, Stage::chunking);
  EXPECT_EQ(kb_->get_document("alice", b.id, d.id)->job.chunks_total, 2);

  auto c1 = chunk("cats purr", {{"cat", 1}, {"purr", 1}});
  c1.page = 3;
  ASSERT_TRUE(kb_->finish_job((*job)->id, {c1, chunk("cats cats sleep", {{"cat", 2}, {"sleep", 1}})}).value());
  auto after = kb_->get_document("alice", b.id, d.id).value();
  EXPECT_EQ(after.job.stage, Stage::indexed);
  EXPECT_EQ(after.chunk_count, 2);
  EXPECT_EQ(after.job.chunks_done, 2);
  auto base = kb_->get_base("alice", b.id).value();
  EXPECT_EQ(base.chunk_count, 2);
  EXPECT_EQ(base.term_count, 5);

  auto hits = lexical("alice", {b.id}, {"purr"}, 5);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].document_id, d.id);
  EXPECT_EQ(hits[0].title, "Cats");
  EXPECT_EQ(hits[0].text, "cats purr");
  EXPECT_EQ(hits[0].page, 3);
  EXPECT_EQ(hits[0].heading_path, (std::vector<std::string>{"Intro", "Part"}));
  EXPECT_GT(hits[0].score, 0);
  EXPECT_TRUE(lexical("bob", {b.id}, {"purr"}, 5).empty());
  // Done: no longer running, so nothing more moves it.
  EXPECT_FALSE(kb_->advance_job((*job)->id, Stage::embedding, 0, 0, 60000).value());
  EXPECT_EQ(kb_->cancel_job("alice", b.id, d.id).error().code, errc::conflict);
}

TEST_P(KnowledgeConformance, SmallDocumentsAreClaimedTogetherWithTheirSourcesAndFinishedInOneTransaction) {
  auto b = make_base(*kb_, "alice", "docs");
  auto e = kb_->create_base({"alice", "vectors", std::nullopt, std::string("embed-model")}).value();
  auto d1 = kb_->add_document(new_doc(b, "one", "one"), {}).value().document;
  auto d2 = kb_->add_document(new_doc(b, "two", "two"), {}).value().document;
  auto big = kb_->add_document(new_doc(b, "big", std::string(100, 'x')), {}).value().document;
  auto d4 = kb_->add_document(new_doc(b, "four", "four"), {}).value().document;
  auto embedded = kb_->add_document(new_doc(e, "five", "five"), {}).value().document;
  auto d6 = kb_->add_document(new_doc(b, "six", "six"), {}).value().document;

  // The light jobs among the oldest, up to max_jobs: the large document and the one of a base
  // with an embedding model are left for claims of their own.
  const knowledge::ClaimLimits limits{4, 50, 60000};
  auto batch = kb_->claim_jobs(limits).value();
  ASSERT_EQ(batch.size(), 3u);
  EXPECT_EQ(batch[0].job.document_id, d1.id);
  EXPECT_EQ(batch[1].job.document_id, d2.id);
  EXPECT_EQ(batch[2].job.document_id, d4.id);
  EXPECT_EQ(batch[0].title, "one");
  EXPECT_EQ(batch[1].source, "two");
  EXPECT_FALSE(batch[2].target);
  EXPECT_EQ(batch[2].job.stage, Stage::parsing);
  EXPECT_EQ(batch[2].job.attempts, 1);
  // One job that is not light is claimed alone, with its source and where its vectors go.
  auto alone = kb_->claim_jobs(limits).value();
  ASSERT_EQ(alone.size(), 1u);
  EXPECT_EQ(alone[0].job.document_id, big.id);
  EXPECT_EQ(alone[0].source, std::string(100, 'x'));
  auto with_model = kb_->claim_jobs(limits).value();
  ASSERT_EQ(with_model.size(), 1u);
  EXPECT_EQ(with_model[0].job.document_id, embedded.id);
  ASSERT_TRUE(with_model[0].target);
  EXPECT_EQ(with_model[0].target->model, "embed-model");
  auto last = kb_->claim_jobs(limits).value();
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].job.document_id, d6.id);
  EXPECT_TRUE(kb_->claim_jobs(limits).value().empty());

  // One finish for the batch; a job cancelled meanwhile is left out, the others are indexed.
  ASSERT_TRUE(kb_->cancel_job("alice", b.id, d2.id));
  std::vector<knowledge::FinishedJob> finished;
  finished.push_back({batch[0].job.id, {chunk("one", {{"one", 1}})}});
  finished.push_back({batch[1].job.id, {chunk("two", {{"two", 1}})}});
  finished.push_back({batch[2].job.id, {chunk("four", {{"four", 1}}), chunk("four more", {{"four", 1}, {"more", 1}})}});
  EXPECT_EQ(kb_->finish_jobs(finished).value(), (std::vector<bool>{true, false, true}));
  EXPECT_EQ(kb_->get_document("alice", b.id, d1.id)->job.stage, Stage::indexed);
  EXPECT_EQ(kb_->get_document("alice", b.id, d2.id)->job.stage, Stage::cancelled);
  EXPECT_EQ(kb_->get_document("alice", b.id, d4.id)->chunk_count, 2);
  auto base = kb_->get_base("alice", b.id).value();
  EXPECT_EQ(base.chunk_count, 3);
  EXPECT_EQ(base.term_count, 4);
  // Each document moved the base's version once, and the change log holds each of them.
  auto changes = kb_->lexical_changes(b.id, 0).value();
  EXPECT_TRUE(changes.complete);
  EXPECT_EQ(changes.version, 2);
  EXPECT_EQ(changes.documents, (std::vector<std::string>{d1.id, d4.id}));
  EXPECT_EQ(lexical("alice", {b.id}, {"four"}, 5).size(), 2u);
}

TEST_P(KnowledgeConformance, ACancelledJobStopsAndAFailedOneKeepsItsError) {
  auto b = make_base(*kb_, "alice", "docs");
  auto d1 = kb_->add_document(new_doc(b, "one", "one"), {}).value().document;
  auto d2 = kb_->add_document(new_doc(b, "two", "two"), {}).value().document;
  auto j1 = kb_->claim_job(60000).value().value();
  EXPECT_EQ(j1.document_id, d1.id);
  auto cancelled = kb_->cancel_job("alice", b.id, d1.id);
  ASSERT_TRUE(cancelled);
  EXPECT_EQ(cancelled->job.stage, Stage::cancelled);
  EXPECT_EQ(kb_->cancel_job("alice", b.id, d1.id)->job.stage, Stage::cancelled);  // again: the same
  EXPECT_FALSE(kb_->advance_job(j1.id, Stage::chunking, 0, 1, 60000).value());
  EXPECT_FALSE(kb_->finish_job(j1.id, {chunk("one", {{"one", 1}})}).value());
  EXPECT_EQ(kb_->get_base("alice", b.id)->chunk_count, 0);

  auto j2 = kb_->claim_job(60000).value().value();
  EXPECT_EQ(j2.document_id, d2.id);
  EXPECT_TRUE(kb_->fail_job(j2.id, "not a PDF").value());
  auto failed = kb_->get_document("alice", b.id, d2.id).value();
  EXPECT_EQ(failed.job.stage, Stage::failed);
  EXPECT_EQ(failed.job.error, "not a PDF");
}

TEST_P(KnowledgeConformance, AJobWhoseLeaseRanOutIsTakenOverAfterARestart) {
  auto b = make_base(*kb_, "alice", "docs");
  kb_->add_document(new_doc(b, "one", "one"), {}).value();
  auto first = kb_->claim_job(1000).value().value();
  ASSERT_TRUE(kb_->advance_job(first.id, Stage::embedding, 1, 4, 1000).value());
  // The worker dies; another store (a restarted process) sees the lease run out.
  auto other = open_(clock_);
  EXPECT_FALSE(*other.knowledge->claim_job(1000));
  clock_.advance(std::chrono::milliseconds(1500));
  auto again = other.knowledge->claim_job(1000).value();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id, first.id);
  EXPECT_EQ(again->stage, Stage::parsing);
  EXPECT_EQ(again->attempts, 2);
}

TEST_P(KnowledgeConformance, Bm25RanksByTermFrequencyRarityAndLengthWithinTheUsersBasesOnly) {
  auto b = make_base(*kb_, "alice", "docs");
  auto other = make_base(*kb_, "alice", "other");
  auto foreign = make_base(*kb_, "bob", "bobs");
  kb_->add_document(new_doc(b, "A", "a"), {}).value();
  index_next(*kb_, {chunk("rare once", {{"rare", 1}, {"common", 1}, {"x", 2}})});
  kb_->add_document(new_doc(b, "B", "b"), {}).value();
  index_next(*kb_, {chunk("rare twice", {{"rare", 2}, {"common", 1}, {"x", 1}})});
  kb_->add_document(new_doc(b, "C", "c"), {}).value();
  index_next(*kb_, {chunk("common only", {{"common", 1}, {"x", 3}})});
  kb_->add_document(new_doc(b, "D", "d"), {}).value();
  index_next(*kb_, {chunk("rare in a long chunk", {{"rare", 1}, {"common", 1}, {"x", 40}})});
  kb_->add_document(new_doc(foreign, "F", "f"), {}).value();
  index_next(*kb_, {chunk("bob's rare", {{"rare", 5}})});

  auto hits = lexical("alice", {b.id, other.id, foreign.id}, {"rare", "common"}, 10);
  ASSERT_EQ(hits.size(), 4u);
  EXPECT_EQ(hits[0].title, "B");
  EXPECT_EQ(hits[1].title, "A");
  EXPECT_EQ(hits[2].title, "D");  // the same matches in a longer chunk weigh less
  EXPECT_EQ(hits[3].title, "C");
  for (std::size_t i = 1; i < hits.size(); ++i) EXPECT_GE(hits[i - 1].score, hits[i].score);
  EXPECT_EQ(lexical("alice", {b.id}, {"rare"}, 2).size(), 2u);
  EXPECT_TRUE(lexical("alice", {b.id}, {"absent"}, 5).empty());
  EXPECT_TRUE(lexical("alice", {foreign.id}, {"rare"}, 5).empty());
}

// A base large enough that the ranking skips work (the rarest terms first, the frequent ones'
// postings only probed for chunks still in the running): the top k must still be exactly BM25's,
// and a document indexed afterwards must reach the cached index (its lexical_version moved).
TEST_P(KnowledgeConformance, TheTopKIsExactlyBm25sWhenFrequentTermsArePrunedAndFollowsNewDocuments) {
  auto b = make_base(*kb_, "alice", "big");
  struct Row {
    std::string text;
    std::int64_t common, mid, rare, length;
  };
  std::vector<Row> rows;
  std::vector<NewChunk> chunks;
  // 1,100 chunks, "common" in all of them.
  for (int i = 0; i < 1100; ++i) {
    Row r{"c" + std::to_string(i), 1 + i % 4, i % 3 == 0 ? 1 + i % 5 : 0, i % 200 == 7 ? 1 + i % 3 : 0, 0};
    std::vector<std::pair<std::string, std::int64_t>> terms{{"common", r.common}};
    if (r.mid) terms.emplace_back("mid", r.mid);
    if (r.rare) terms.emplace_back("rare", r.rare);
    terms.emplace_back("filler", 3 + i);  // every chunk a different length: no ties
    std::sort(terms.begin(), terms.end());
    chunks.push_back(chunk(r.text, terms));
    r.length = chunks.back().length;
    rows.push_back(r);
  }
  kb_->add_document(new_doc(b, "Big", "big"), {}).value();
  index_next(*kb_, chunks);

  const auto expect_bm25 = [&](const std::vector<Row>& all, int k) {
    double total = 0;
    std::int64_t df_common = 0, df_mid = 0, df_rare = 0;
    for (const Row& r : all) {
      total += static_cast<double>(r.length);
      df_common += r.common > 0;
      df_mid += r.mid > 0;
      df_rare += r.rare > 0;
    }
    const auto n = static_cast<std::int64_t>(all.size());
    const double avgdl = total / static_cast<double>(n);
    const auto w = [&](std::int64_t df, std::int64_t tf, std::int64_t len) {
      if (tf == 0) return 0.0;
      const double t = static_cast<double>(tf);
      return knowledge::bm25::idf(n, df) * (t * (knowledge::bm25::k1 + 1)) /
             (t + knowledge::bm25::k1 * (1 - knowledge::bm25::b + knowledge::bm25::b * static_cast<double>(len) / avgdl));
    };
    std::vector<std::pair<double, std::string>> scored;
    for (const Row& r : all)
      scored.emplace_back(w(df_common, r.common, r.length) + w(df_mid, r.mid, r.length) + w(df_rare, r.rare, r.length), r.text);
    std::sort(scored.begin(), scored.end(), [](const auto& x, const auto& y) { return x.first > y.first; });
    scored.resize(static_cast<std::size_t>(k));
    auto hits = lexical("alice", {b.id}, {"rare", "mid", "common"}, k);
    ASSERT_EQ(hits.size(), scored.size());
    for (std::size_t i = 0; i < hits.size(); ++i) {
      EXPECT_EQ(hits[i].text, scored[i].second) << "rank " << i;
      EXPECT_NEAR(hits[i].score, scored[i].first, 1e-9) << "rank " << i;
    }
  };
  expect_bm25(rows, 3);
  expect_bm25(rows, 10);

  // More chunks holding "common" and "mid": their frequencies (and every idf) change, and a kept
  // frequency must not outlive the state of the base it was counted in.
  std::vector<NewChunk> more;
  for (int i = 0; i < 200; ++i) {
    Row r{"d" + std::to_string(i), 1, 1, 0, 0};
    more.push_back(chunk(r.text, {{"common", 1}, {"filler", 1000 + i}, {"mid", 1}}));
    r.length = more.back().length;
    rows.push_back(r);
  }
  kb_->add_document(new_doc(b, "More", "more"), {}).value();
  index_next(*kb_, more);
  expect_bm25(rows, 10);
}

TEST_P(KnowledgeConformance, DeletingADocumentOrABaseTakesItsChunksOutOfSearch) {
  auto b = make_base(*kb_, "alice", "docs");
  auto d = kb_->add_document(new_doc(b, "A", "a"), {}).value().document;
  index_next(*kb_, {chunk("alpha", {{"alpha", 1}}), chunk("alpha beta", {{"alpha", 1}, {"beta", 1}})});
  auto d2 = kb_->add_document(new_doc(b, "B", "b"), {}).value().document;
  index_next(*kb_, {chunk("beta", {{"beta", 1}})});
  ASSERT_TRUE(kb_->delete_document("alice", b.id, d.id));
  EXPECT_EQ(kb_->get_document("alice", b.id, d.id).error().code, errc::not_found);
  EXPECT_TRUE(lexical("alice", {b.id}, {"alpha"}, 5).empty());
  auto base = kb_->get_base("alice", b.id).value();
  EXPECT_EQ(base.document_count, 1);
  EXPECT_EQ(base.chunk_count, 1);
  EXPECT_EQ(base.term_count, 1);
  EXPECT_EQ(base.bytes, 1);
  ASSERT_TRUE(kb_->delete_base("alice", b.id));
  EXPECT_TRUE(lexical("alice", {b.id}, {"beta"}, 5).empty());
  EXPECT_EQ(kb_->document_source(d2.id).error().code, errc::not_found);
}

}  // namespace aas::store::testing

namespace aas::store::testing {

// --- vectors (migration 11) ---

TEST_P(KnowledgeConformance, StagedVectorsJoinTheirChunksWhenTheJobFinishesAndDimensionsMustAgree) {
  auto b = kb_->create_base({"alice", "vectors", std::nullopt, std::string("embed-a")});
  ASSERT_TRUE(b);
  ASSERT_TRUE(kb_->add_document(new_doc(*b, "T", "one two"), {}));
  auto target = kb_->embedding_target(b->id);
  ASSERT_TRUE(target && *target);
  EXPECT_EQ((*target)->model, "embed-a");
  const std::int64_t space = (*target)->space;
  auto job = kb_->claim_job(60000);
  ASSERT_TRUE(job && *job);
  const std::string id = (*job)->id;
  ASSERT_TRUE(kb_->stage_vectors(id, space, {{0, "h0", {1.f, 0.f, 0.f}}}).value());
  // A resumed job sees what it staged; a vector of another dimension is refused.
  auto staged = kb_->staged_vectors(id, space);
  ASSERT_TRUE(staged);
  ASSERT_EQ(staged->size(), 1u);
  EXPECT_EQ((*staged)[0], (std::pair<std::int64_t, std::string>{0, "h0"}));
  auto bad = kb_->stage_vectors(id, space, {{1, "h1", {1.f, 0.f}}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, errc::invalid_request);
  ASSERT_TRUE(kb_->stage_vectors(id, space, {{1, "h1", {0.f, 1.f, 0.f}}}).value());
  ASSERT_TRUE(kb_->finish_job(id, {chunk("one", {{"one", 1}}), chunk("two", {{"two", 1}})}).value());

  auto own = kb_->vector_bases("alice", {b->id});
  ASSERT_TRUE(own);
  ASSERT_EQ(own->size(), 1u);
  EXPECT_EQ((*own)[0].space, space);
  EXPECT_TRUE(kb_->vector_bases("bob", {b->id}).value().empty());
  auto vectors = kb_->load_vectors(b->id, space);
  ASSERT_TRUE(vectors);
  ASSERT_EQ(vectors->size(), 2u);
  EXPECT_EQ(kb_->get_base("alice", b->id).value().embedding_dim, 3);
  auto passages = kb_->passages({(*vectors)[0].chunk_id, (*vectors)[1].chunk_id, "gone"});
  ASSERT_TRUE(passages);
  EXPECT_EQ(passages->size(), 2u);
  for (const auto& v : *vectors) {
    const auto& p = *std::find_if(passages->begin(), passages->end(), [&](const auto& x) { return x.chunk_id == v.chunk_id; });
    EXPECT_EQ(v.vector, (p.text == "one" ? std::vector<float>{1.f, 0.f, 0.f} : std::vector<float>{0.f, 1.f, 0.f}));
  }
  // Deleting the document takes its vectors and moves the version on.
  const auto version = (*own)[0].version;
  const auto doc = kb_->list_documents("alice", b->id, {10, std::nullopt}).value().items.at(0);
  ASSERT_TRUE(kb_->delete_document("alice", b->id, doc.id));
  EXPECT_TRUE(kb_->load_vectors(b->id, space).value().empty());
  EXPECT_GT(kb_->vector_bases("alice", {b->id}).value().at(0).version, version);
}

TEST_P(KnowledgeConformance, AReindexSwitchesToTheNewSpaceOnlyWhenEveryChunkHasItsVector) {
  auto b = kb_->create_base({"alice", "switch", std::nullopt, std::string("embed-a")});
  ASSERT_TRUE(b);
  ASSERT_TRUE(kb_->add_document(new_doc(*b, "A", "a"), {}));
  ASSERT_TRUE(kb_->add_document(new_doc(*b, "B", "b"), {}));
  const std::int64_t old_space = kb_->embedding_target(b->id).value()->space;
  for (int i = 0; i < 2; ++i) {
    auto job = kb_->claim_job(60000);
    ASSERT_TRUE(job && *job);
    ASSERT_TRUE(kb_->stage_vectors((*job)->id, old_space, {{0, "h", {1.f, 0.f}}}).value());
    ASSERT_TRUE(kb_->finish_job((*job)->id, {chunk("x", {{"x", 1}})}).value());
  }
  EXPECT_EQ(kb_->start_reindex("bob", b->id, "embed-b").error().code, errc::not_found);
  auto started = kb_->start_reindex("alice", b->id, "embed-b");
  ASSERT_TRUE(started) << started.error().detail;
  EXPECT_EQ(started->next_embedding_model, "embed-b");
  EXPECT_EQ(started->embedding_model, "embed-a");
  // Another reindex while jobs run: conflict.
  EXPECT_EQ(kb_->start_reindex("alice", b->id, "embed-c").error().code, errc::conflict);
  const auto next = kb_->embedding_target(b->id).value().value();
  EXPECT_EQ(next.model, "embed-b");
  EXPECT_GT(next.space, old_space);
  for (int i = 0; i < 2; ++i) {
    auto job = kb_->claim_job(60000);
    ASSERT_TRUE(job && *job);
    EXPECT_EQ((*job)->kind, "reindex");
    auto todo = kb_->chunks_to_embed((*job)->document_id, next.space);
    ASSERT_TRUE(todo);
    ASSERT_EQ(todo->size(), 1u);
    ASSERT_TRUE(kb_->store_vectors((*job)->id, next.space, {{(*todo)[0].chunk_id, {0.f, 0.f, 1.f}}}).value());
    EXPECT_TRUE(kb_->chunks_to_embed((*job)->document_id, next.space).value().empty());
    // Until the last job finishes, searches read the old space only.
    auto bases = kb_->vector_bases("alice", {b->id}).value();
    EXPECT_EQ(bases.at(0).space, old_space);
    EXPECT_EQ(kb_->load_vectors(b->id, old_space).value().size(), 2u);
    ASSERT_TRUE(kb_->finish_reindex((*job)->id).value());
  }
  auto after = kb_->get_base("alice", b->id).value();
  EXPECT_EQ(after.embedding_model, "embed-b");
  EXPECT_EQ(after.embedding_dim, 3);
  EXPECT_FALSE(after.next_embedding_model);
  EXPECT_EQ(kb_->vector_bases("alice", {b->id}).value().at(0).space, next.space);
  EXPECT_TRUE(kb_->load_vectors(b->id, old_space).value().empty());
  EXPECT_EQ(kb_->load_vectors(b->id, next.space).value().size(), 2u);
  // A base without chunks switches at once.
  auto empty = kb_->create_base({"alice", "empty", std::nullopt, std::nullopt});
  ASSERT_TRUE(empty);
  auto now = kb_->start_reindex("alice", empty->id, "embed-b");
  ASSERT_TRUE(now);
  EXPECT_EQ(now->embedding_model, "embed-b");
  EXPECT_FALSE(now->next_embedding_model);
}

}  // namespace aas::store::testing

// --- incremental index updates (migration 16) ---

namespace aas::store::testing {

namespace {

// Vectors by model, for the service's searches: the query's vector in the model's dimension. A
// hook runs inside the call, between the search's read of the bases and its read of their
// vectors (a query is embedded in between): where a test makes a change race the search.
class HookedEmbedder final : public knowledge::Embedder {
 public:
  std::function<void()> during_query;
  int calls = 0;
  Result<void> check_model(const std::string&) const override { return {}; }
  Result<std::vector<std::vector<float>>> embed(const knowledge::EmbedCall& call) override {
    ++calls;
    if (during_query) std::exchange(during_query, {})();
    std::vector<std::vector<float>> out;
    for (std::size_t i = 0; i < call.texts.size(); ++i)
      out.push_back(call.model == "embed-b" ? std::vector<float>{0.f, 0.f, 1.f} : std::vector<float>{1.f, 0.f});
    return out;
  }
};

std::vector<std::string> ids_of(const std::vector<knowledge::Passage>& passages) {
  std::vector<std::string> out;
  for (const auto& p : passages) out.push_back(p.chunk_id);
  return out;
}

}  // namespace

// Every move of lexical_version is logged with its document: the changes since a version are the
// documents touched and the chunks (and vectors) they hold now.
TEST_P(KnowledgeConformance, TheChangeLogNamesTheDocumentsChangedSinceAVersionWithTheirChunksNow) {
  auto b = kb_->create_base({"alice", "log", std::nullopt, std::string("embed-a")});
  ASSERT_TRUE(b);
  const std::int64_t space = kb_->embedding_target(b->id).value()->space;
  const auto index_with_vector = [&](const std::string& name) {
    auto d = kb_->add_document(new_doc(*b, name, name), {}).value().document;
    auto job = kb_->claim_job(60000);
    EXPECT_TRUE(job && *job);
    EXPECT_TRUE(kb_->stage_vectors((*job)->id, space, {{0, "h", {1.f, 0.f}}}).value());
    EXPECT_TRUE(kb_->finish_job((*job)->id, {chunk(name, {{name, 1}})}).value());
    return d;
  };
  const auto a = index_with_vector("alpha");
  const std::int64_t v1 = kb_->lexical_bases("alice", {b->id}).value().at(0).version;
  EXPECT_EQ(kb_->vector_bases("alice", {b->id}).value().at(0).lexical_version, v1);
  auto none = kb_->lexical_changes(b->id, v1);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->complete);
  EXPECT_TRUE(none->documents.empty());
  const auto c = index_with_vector("gamma");
  ASSERT_TRUE(kb_->delete_document("alice", b->id, a.id));
  auto changes = kb_->lexical_changes(b->id, v1);
  ASSERT_TRUE(changes) << changes.error().detail;
  EXPECT_TRUE(changes->complete);
  EXPECT_EQ(changes->version, kb_->lexical_bases("alice", {b->id}).value().at(0).version);
  EXPECT_EQ(changes->documents, (std::vector<std::string>{c.id, a.id}));
  ASSERT_EQ(changes->chunks.size(), 1u);
  EXPECT_EQ(changes->chunks[0].document_id, c.id);
  EXPECT_EQ(changes->chunks[0].terms, "gamma:1");
  auto vectors = kb_->vector_changes(b->id, space, v1);
  ASSERT_TRUE(vectors) << vectors.error().detail;
  EXPECT_TRUE(vectors->complete);
  EXPECT_EQ(vectors->documents, changes->documents);
  ASSERT_EQ(vectors->vectors.size(), 1u);
  EXPECT_EQ(vectors->vectors[0].chunk_id, changes->chunks[0].chunk_id);
  EXPECT_EQ(vectors->vectors[0].document_id, c.id);
  EXPECT_EQ(vectors->vectors[0].vector, (std::vector<float>{1.f, 0.f}));
  // From before the log began (a version it holds no row for): not complete, load whole.
  EXPECT_FALSE(kb_->lexical_changes(b->id, -1).value().complete);
  const auto rows = kb_->load_lexical(b->id).value();
  ASSERT_EQ(rows.chunks.size(), 1u);
  EXPECT_EQ(rows.chunks[0].document_id, c.id);
  EXPECT_EQ(kb_->load_vectors(b->id, space).value().at(0).document_id, c.id);
  // A deleted base takes its log with it.
  ASSERT_TRUE(kb_->delete_base("alice", b->id));
  EXPECT_EQ(kb_->lexical_changes(b->id, 0).error().code, errc::not_found);
}

// A cache that follows a base change by change (the change log) ranks exactly as one loaded from
// scratch at the same moment, and never loads the base whole again.
TEST_P(KnowledgeConformance, AnIndexKeptUpToDateFromTheLogRanksAsOneLoadedWhole) {
  auto b = make_base(*kb_, "alice", "random");
  std::mt19937 rng(5);
  std::vector<std::string> live;  // document ids
  int next = 0;
  knowledge::LexicalCache warm;
  const auto query = [&] {
    std::vector<std::string> terms;
    for (int t = 0; t < 3; ++t) terms.push_back("w" + std::to_string(rng() % 12));
    return terms;
  };
  for (int step = 0; step < 40; ++step) {
    if (live.empty() || rng() % 3 != 0) {
      const std::string name = "doc" + std::to_string(next++);
      live.push_back(kb_->add_document(new_doc(b, name, name), {}).value().document.id);
      std::vector<NewChunk> chunks;
      for (int i = 0; i < 1 + static_cast<int>(rng() % 4); ++i) {
        std::map<std::string, std::int64_t> tf;
        for (int w = 0; w < 2 + static_cast<int>(rng() % 6); ++w) ++tf["w" + std::to_string(rng() % 12)];
        chunks.push_back(chunk(name + "-" + std::to_string(i), {tf.begin(), tf.end()}));
      }
      index_next(*kb_, chunks);
    } else {
      const auto at = rng() % live.size();
      ASSERT_TRUE(kb_->delete_document("alice", b.id, live[at]));
      live.erase(live.begin() + static_cast<long>(at));
    }
    const auto terms = query();
    auto kept = warm.search(*kb_, "alice", {b.id}, terms, 10);
    knowledge::LexicalCache cold;
    auto whole = cold.search(*kb_, "alice", {b.id}, terms, 10);
    ASSERT_TRUE(kept && whole);
    ASSERT_EQ(ids_of(*kept), ids_of(*whole)) << "step " << step;
    for (std::size_t i = 0; i < kept->size(); ++i) EXPECT_EQ((*kept)[i].score, (*whole)[i].score) << "step " << step;
  }
  EXPECT_EQ(warm.loads(), 1u);
  EXPECT_GE(warm.deltas(), 39u);
}

// The race of 6e54455, made deterministic: a vector search reads the base (old space), then a
// reindex completes and switches the base to its new space (dropping the old vectors) before the
// search reads the vectors. The search reads the base again and ranks in the new space.
TEST_P(KnowledgeConformance, AVectorSearchRacingAReindexsSwitchRanksInTheNewSpace) {
  auto b = kb_->create_base({"alice", "race", std::nullopt, std::string("embed-a")});
  ASSERT_TRUE(b);
  const std::int64_t old_space = kb_->embedding_target(b->id).value()->space;
  ASSERT_TRUE(kb_->add_document(new_doc(*b, "A", "a"), {}));
  {
    auto job = kb_->claim_job(60000);
    ASSERT_TRUE(job && *job);
    ASSERT_TRUE(kb_->stage_vectors((*job)->id, old_space, {{0, "h", {1.f, 0.f}}}).value());
    ASSERT_TRUE(kb_->finish_job((*job)->id, {chunk("alpha", {{"alpha", 1}})}).value());
  }
  ASSERT_TRUE(kb_->start_reindex("alice", b->id, "embed-b"));
  const auto next = kb_->embedding_target(b->id).value().value();
  auto job = kb_->claim_job(60000);
  ASSERT_TRUE(job && *job);
  const auto todo = kb_->chunks_to_embed((*job)->document_id, next.space).value();
  ASSERT_EQ(todo.size(), 1u);
  ASSERT_TRUE(kb_->store_vectors((*job)->id, next.space, {{todo[0].chunk_id, {0.f, 0.f, 1.f}}}).value());

  boost::asio::thread_pool pool(1);
  knowledge::KnowledgeService service(*kb_, pool, {});
  HookedEmbedder embedder;
  service.set_embedder(&embedder);
  bool switched = false;
  embedder.during_query = [&] { switched = kb_->finish_reindex((*job)->id).value(); };
  auto found = service.search_now("alice", {b->id}, "alpha", 5, knowledge::SearchMode::vector);
  ASSERT_TRUE(found) << found.error().detail;
  EXPECT_TRUE(switched);
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].chunk_id, todo[0].chunk_id);
  EXPECT_NEAR((*found)[0].score, 1.0, 1e-6);  // ranked with embed-b's vectors
  EXPECT_EQ(embedder.calls, 2);               // the query embedded again, with the new model
  pool.join();
}

// The service's vector index follows documents indexed and deleted through the change log.
TEST_P(KnowledgeConformance, TheServicesVectorIndexFollowsDocumentsIndexedAndDeleted) {
  auto b = kb_->create_base({"alice", "follow", std::nullopt, std::string("embed-a")});
  ASSERT_TRUE(b);
  const std::int64_t space = kb_->embedding_target(b->id).value()->space;
  boost::asio::thread_pool pool(1);
  knowledge::KnowledgeService service(*kb_, pool, {});
  HookedEmbedder embedder;
  service.set_embedder(&embedder);
  const auto index = [&](const std::string& name, std::vector<float> v) {
    auto d = kb_->add_document(new_doc(*b, name, name), {}).value().document;
    auto job = kb_->claim_job(60000);
    EXPECT_TRUE(job && *job);
    EXPECT_TRUE(kb_->stage_vectors((*job)->id, space, {{0, "h", std::move(v)}}).value());
    EXPECT_TRUE(kb_->finish_job((*job)->id, {chunk(name, {{name, 1}})}).value());
    return d;
  };
  const auto texts = [&] {
    std::vector<std::string> out;
    auto r = service.search_now("alice", {b->id}, "anything", 10, knowledge::SearchMode::vector);
    EXPECT_TRUE(r) << r.error().detail;
    if (r)
      for (const auto& p : *r) out.push_back(p.text);
    std::sort(out.begin(), out.end());
    return out;
  };
  const auto a = index("one", {1.f, 0.f});
  EXPECT_EQ(texts(), (std::vector<std::string>{"one"}));
  index("two", {1.f, 1.f});
  EXPECT_EQ(texts(), (std::vector<std::string>{"one", "two"}));
  ASSERT_TRUE(kb_->delete_document("alice", b->id, a.id));
  EXPECT_EQ(texts(), (std::vector<std::string>{"two"}));
  EXPECT_EQ(service.cached_vector_bases(), 1u);
  pool.join();
}

}  // namespace aas::store::testing

namespace aas::store::testing {

// A compaction runs off the searching thread on a snapshot it holds and is published only if no
// change came meanwhile (else dropped, and the next change that finds the base worth compacting
// queues another); what searches see stays exactly a full load's throughout.
TEST_P(KnowledgeConformance, ABackgroundCompactionIsPublishedOnlyOverTheSnapshotItMerged) {
  auto b = make_base(*kb_, "alice", "compact");
  std::vector<std::function<void()>> queued;
  knowledge::LexicalCache cache([&](std::function<void()> task) { queued.push_back(std::move(task)); });
  const auto add = [&](const std::string& name, int chunks) {
    auto d = kb_->add_document(new_doc(b, name, name), {}).value().document;
    std::vector<NewChunk> rows;
    for (int i = 0; i < chunks; ++i)
      rows.push_back(chunk(name + std::to_string(i), {{"shared", 1 + i}, {name, 1}, {"w" + std::to_string(i), 2}}));
    index_next(*kb_, rows);
    return d;
  };
  const auto same_as_whole = [&](const std::string& when) {
    for (const auto& terms : std::vector<std::vector<std::string>>{{"shared"}, {"w1", "shared"}, {"w0", "w2", "beta"}}) {
      auto kept = cache.search(*kb_, "alice", {b.id}, terms, 10);
      knowledge::LexicalCache cold;
      auto whole = cold.search(*kb_, "alice", {b.id}, terms, 10);
      ASSERT_TRUE(kept && whole);
      ASSERT_EQ(ids_of(*kept), ids_of(*whole)) << when;
      for (std::size_t i = 0; i < kept->size(); ++i) EXPECT_EQ((*kept)[i].score, (*whole)[i].score) << when;
    }
  };
  const auto alpha = add("alpha", 4);
  same_as_whole("loaded");
  EXPECT_TRUE(queued.empty());
  add("beta", 3);  // beside 4 chunks, 3 more: worth compacting
  same_as_whole("a second segment");
  ASSERT_EQ(queued.size(), 1u);
  ASSERT_TRUE(kb_->delete_document("alice", b.id, alpha.id));
  same_as_whole("a change while the compaction waits");
  EXPECT_EQ(queued.size(), 1u);  // one at a time
  std::exchange(queued, {}).front()();
  EXPECT_EQ(cache.compactions(), 0u);  // merged a snapshot that is no longer the base's: dropped
  same_as_whole("after the dropped compaction");
  add("gamma", 2);
  same_as_whole("another change");
  ASSERT_EQ(queued.size(), 1u);
  std::exchange(queued, {}).front()();
  EXPECT_EQ(cache.compactions(), 1u);
  same_as_whole("compacted");
  EXPECT_EQ(cache.loads(), 1u);
}

}  // namespace aas::store::testing

// The knowledge service's refusals and failure paths, on each store (issue 18: its error paths were
// the largest uncovered part of knowledge/). Each says what the client or the document's job shows.
namespace aas::store::testing {

namespace {

template <class T>
Result<T> run_now(boost::asio::awaitable<Result<T>> op) {
  boost::asio::io_context ioc;
  auto f = boost::asio::co_spawn(ioc, std::move(op), boost::asio::use_future);
  ioc.run();
  return f.get();
}

// An embedder whose answer the test sets: `answer` sees each call (nullptr: one 2-dim vector per text).
class ScriptedEmbedder final : public knowledge::Embedder {
 public:
  std::function<Result<std::vector<std::vector<float>>>(const knowledge::EmbedCall&)> answer;
  int calls = 0;
  Result<void> check_model(const std::string& model) const override {
    if (model == "chat-only") return make_error(errc::invalid_request, "model chat-only cannot embed");
    return {};
  }
  Result<std::vector<std::vector<float>>> embed(const knowledge::EmbedCall& call) override {
    ++calls;
    if (answer) return answer(call);
    return std::vector<std::vector<float>>(call.texts.size(), std::vector<float>{1.f, 0.f});
  }
};

Error failure(errc code, std::string message, std::optional<int> retry_after = std::nullopt) {
  Error e = make_error(code, std::move(message));
  e.retry_after_seconds = retry_after;
  return e;
}

}  // namespace

TEST_P(KnowledgeConformance, TheServiceRefusesMalformedBasesDocumentsAndSearches) {
  boost::asio::thread_pool pool(1);
  knowledge::KnowledgeOptions options;
  options.max_upload_bytes = 64;
  knowledge::KnowledgeService service(*kb_, pool, options);  // no embedder
  const auto refusal = [](const auto& r) {
    return r ? std::string("accepted") : std::string(code_name(r.error().code)) + ": " + r.error().message;
  };
  const auto base = [&](std::string name, std::optional<std::string> description = std::nullopt,
                        std::optional<std::string> model = std::nullopt) {
    return run_now(service.create_base({"alice", std::move(name), std::move(description), std::move(model)}));
  };
  EXPECT_EQ(refusal(base(" \t\n")), "invalid_request: name is required");
  EXPECT_EQ(refusal(base("bad \xff byte")), "invalid_request: name must be valid UTF-8");
  EXPECT_EQ(refusal(base(std::string(201, 'n'))), "invalid_request: name is longer than 200 characters");
  EXPECT_EQ(refusal(base(std::string(200, 'n'))), "accepted");
  EXPECT_EQ(refusal(base("docs", std::string(2001, 'd'))), "invalid_request: description is longer than 2000 characters");
  EXPECT_EQ(refusal(base("docs", std::nullopt, "embed-a")),
            "invalid_request: no embedding model is configured on this server (EMBEDDING_MODEL): leave "
            "embeddingModel out and the knowledge base is searched lexically (BM25)");
  auto b = base("docs");
  ASSERT_TRUE(b) << b.error().detail;
  auto other = run_now(service.create_base({"bob", "bobs", std::nullopt, std::nullopt}));
  ASSERT_TRUE(other);

  EXPECT_EQ(refusal(run_now(service.update_base("alice", b->id, {.name = ""}))), "invalid_request: name is required");
  EXPECT_EQ(refusal(run_now(service.update_base("alice", b->id, {.description = std::string(2001, 'd')}))),
            "invalid_request: description is longer than 2000 characters");
  EXPECT_EQ(refusal(run_now(service.update_base("alice", b->id, {.embedding_model = "embed-a"}))),
            "invalid_request: no embedding model is configured on this server");
  EXPECT_EQ(refusal(run_now(service.reindex("alice", b->id, std::nullopt))),
            "invalid_request: this knowledge base has no embedding model: give embeddingModel to reindex it with one");
  EXPECT_EQ(refusal(run_now(service.reindex("alice", b->id, "embed-a"))),
            "invalid_request: no embedding model is configured on this server");
  EXPECT_EQ(refusal(run_now(service.reindex("alice", other->id, "embed-a"))), "not_found: knowledge base not found");

  EXPECT_EQ(refusal(service.add_document_now("alice", b->id, {"big", std::string(65, 'x')})),
            "payload_too_large: the document is larger than 64 bytes (MAX_UPLOAD_BYTES)");
  EXPECT_EQ(refusal(service.add_document_now("alice", b->id, {"empty", ""})), "invalid_request: the document is empty");
  EXPECT_EQ(refusal(service.add_document_now("alice", b->id, {"", "text"})), "invalid_request: title is required");
  ASSERT_TRUE(service.add_document_now("alice", b->id, {"notes", "alpha beta gamma"}));
  service.drain();

  const auto search = [&](const std::vector<std::string>& ids, const std::string& q, int k,
                          knowledge::SearchMode mode = knowledge::SearchMode::lexical) {
    return service.search_now("alice", ids, q, k, mode);
  };
  EXPECT_EQ(refusal(search({b->id}, "alpha", 0)), "invalid_request: k must be an integer from 1 to 50");
  EXPECT_EQ(refusal(search({b->id}, "alpha", 51)), "invalid_request: k must be an integer from 1 to 50");
  EXPECT_EQ(refusal(search({}, "alpha", 5)), "invalid_request: no knowledge base to search");
  EXPECT_EQ(refusal(search({b->id}, "  ", 5)), "invalid_request: q is required");
  EXPECT_EQ(refusal(search({b->id, other->id}, "alpha", 5)), "not_found: knowledge base not found");
  EXPECT_EQ(refusal(search({b->id}, "alpha", 5, knowledge::SearchMode::vector)).rfind(
                "invalid_request: vector search needs a knowledge base with an embedding model", 0),
            0u);
  auto hybrid = service.search_ranked_now("alice", {b->id, b->id}, "alpha", 5, knowledge::SearchMode::hybrid);
  ASSERT_TRUE(hybrid) << hybrid.error().detail;
  EXPECT_EQ(hybrid->mode, knowledge::SearchMode::lexical) << "hybrid on a base without vectors is lexical";
  ASSERT_EQ(hybrid->passages.size(), 1u) << "the same base twice is searched once";

  EXPECT_TRUE(service.check_bases_now("alice", {b->id, b->id}));
  EXPECT_EQ(refusal(service.check_bases_now("alice", {other->id})), "not_found: knowledge base not found");
  // A message with no searchable words retrieves nothing, after the same ownership check.
  auto nothing = service.retrieve_now("alice", {b->id}, "?!");
  ASSERT_TRUE(nothing);
  EXPECT_TRUE(nothing->empty());
  EXPECT_EQ(refusal(service.retrieve_now("alice", {other->id}, "?!")), "not_found: knowledge base not found");
  pool.join();
}

TEST_P(KnowledgeConformance, IngestionFailsADocumentWhoseEmbeddingsFailOrAreRefusedAndSaysWhy) {
  boost::asio::thread_pool pool(1);
  knowledge::KnowledgeOptions options;
  options.embed_retries = 2;
  options.embed_backoff = std::chrono::milliseconds(1);
  options.embed_max_throttle = std::chrono::milliseconds(0);  // a rate limit is not waited out here
  knowledge::KnowledgeService service(*kb_, pool, options);
  ScriptedEmbedder embedder;
  service.set_embedder(&embedder);
  EXPECT_EQ(run_now(service.create_base({"alice", "x", std::nullopt, "chat-only"})).error().message,
            "model chat-only cannot embed");
  auto b = run_now(service.create_base({"alice", "vectors", std::nullopt, "embed-a"}));
  ASSERT_TRUE(b) << b.error().detail;

  // The document's job after ingestion with the embedder answering `answer`, and the calls it made.
  int n = 0;
  const auto ingest = [&](auto answer) {
    embedder.answer = answer;
    embedder.calls = 0;
    auto added = service.add_document_now("alice", b->id, {"doc", "alpha beta gamma " + std::to_string(++n)});
    EXPECT_TRUE(added) << added.error().detail;
    service.drain();
    auto doc = kb_->get_document("alice", b->id, added->document.id);
    EXPECT_TRUE(doc) << doc.error().detail;
    return std::pair{doc->job, embedder.calls};
  };
  using Vectors = Result<std::vector<std::vector<float>>>;

  auto [down, down_calls] = ingest([](const knowledge::EmbedCall&) -> Vectors {
    return failure(errc::upstream_error, "the model failed to answer");
  });
  EXPECT_EQ(down.stage, knowledge::Stage::failed);
  EXPECT_EQ(down.error, "embedding failed (embed-a): the model failed to answer");
  EXPECT_EQ(down_calls, 3) << "tried embed_retries more times";

  auto [broke, broke_calls] = ingest([](const knowledge::EmbedCall&) -> Vectors {
    return failure(errc::budget_exceeded, "daily budget reached");
  });
  EXPECT_EQ(broke.stage, knowledge::Stage::failed);
  EXPECT_EQ(broke.error, "embedding refused by your limits: daily budget reached");
  EXPECT_EQ(broke_calls, 1) << "a budget refusal is not tried again";

  auto [limited, limited_calls] = ingest([](const knowledge::EmbedCall&) -> Vectors {
    return failure(errc::rate_limited, "too many requests", 30);
  });
  EXPECT_EQ(limited.stage, knowledge::Stage::failed);
  EXPECT_EQ(limited.error, "embedding refused by your limits: too many requests");
  EXPECT_EQ(limited_calls, 1) << "a Retry-After beyond KB embed_max_throttle is not waited for";

  auto [short_, short_calls] = ingest([](const knowledge::EmbedCall&) -> Vectors { return std::vector<std::vector<float>>{}; });
  EXPECT_EQ(short_.stage, knowledge::Stage::failed);
  EXPECT_EQ(short_.error, "embedding failed (embed-a): 0 vectors for 1 texts");

  int failed_once = 0;
  auto [recovered, recovered_calls] = ingest([&](const knowledge::EmbedCall& call) -> Vectors {
    if (failed_once++ == 0) return failure(errc::unavailable, "no slot");
    return std::vector<std::vector<float>>(call.texts.size(), std::vector<float>{1.f, 0.f});
  });
  EXPECT_EQ(recovered.stage, knowledge::Stage::indexed) << recovered.error.value_or("");
  EXPECT_EQ(recovered_calls, 2);
  pool.join();
}

// A rate limit within KB embed_max_throttle is waited out (at least 100 ms when it names no
// Retry-After) and the batch tried again: a large upload is paced by the user's limits.
TEST_P(KnowledgeConformance, ARateLimitedEmbeddingWithinTheThrottleIsWaitedOutAndTriedAgain) {
  boost::asio::thread_pool pool(1);
  knowledge::KnowledgeOptions options;
  options.embed_backoff = std::chrono::milliseconds(1);
  options.embed_max_throttle = std::chrono::milliseconds(10'000);
  knowledge::KnowledgeService service(*kb_, pool, options);
  ScriptedEmbedder embedder;
  int calls = 0;
  embedder.answer = [&](const knowledge::EmbedCall& call) -> Result<std::vector<std::vector<float>>> {
    if (calls++ == 0) return failure(errc::rate_limited, "too many requests");
    return std::vector<std::vector<float>>(call.texts.size(), std::vector<float>{1.f, 0.f});
  };
  service.set_embedder(&embedder);
  auto b = run_now(service.create_base({"alice", "paced", std::nullopt, "embed-a"}));
  ASSERT_TRUE(b) << b.error().detail;
  auto added = service.add_document_now("alice", b->id, {"doc", "alpha beta gamma"});
  ASSERT_TRUE(added) << added.error().detail;
  service.drain();
  auto doc = kb_->get_document("alice", b->id, added->document.id);
  ASSERT_TRUE(doc) << doc.error().detail;
  EXPECT_EQ(doc->job.stage, knowledge::Stage::indexed) << doc->job.error.value_or("");
  EXPECT_EQ(calls, 2);
  pool.join();
}

TEST_P(KnowledgeConformance, AFailedQueryEmbeddingFailsAVectorSearchAndLeavesHybridLexical) {
  boost::asio::thread_pool pool(1);
  knowledge::KnowledgeService service(*kb_, pool, {});
  ScriptedEmbedder embedder;
  service.set_embedder(&embedder);
  auto b = run_now(service.create_base({"alice", "vectors", std::nullopt, "embed-a"}));
  ASSERT_TRUE(b) << b.error().detail;
  ASSERT_TRUE(service.add_document_now("alice", b->id, {"doc", "alpha beta gamma"}));
  service.drain();
  auto ok = service.search_ranked_now("alice", {b->id}, "alpha", 5, knowledge::SearchMode::hybrid);
  ASSERT_TRUE(ok) << ok.error().detail;
  EXPECT_EQ(ok->mode, knowledge::SearchMode::hybrid);
  ASSERT_EQ(ok->passages.size(), 1u);

  using Vectors = Result<std::vector<std::vector<float>>>;
  const std::vector<std::pair<std::function<Vectors(const knowledge::EmbedCall&)>, std::string>> faults{
      {[](const knowledge::EmbedCall&) -> Vectors { return std::vector<std::vector<float>>{{1.f, 0.f, 0.f}}; },
       "upstream_error: the embedding model returned a query vector of another dimension than the knowledge base "
       "holds; reindex it"},
      {[](const knowledge::EmbedCall&) -> Vectors { return std::vector<std::vector<float>>{}; },
       "upstream_error: the embedding model returned no vector"},
      {[](const knowledge::EmbedCall&) -> Vectors { return failure(errc::unavailable, "upstream down"); },
       "unavailable: upstream down"},
  };
  for (const auto& [answer, expected] : faults) {
    embedder.answer = answer;
    auto vector = service.search_now("alice", {b->id}, "alpha", 5, knowledge::SearchMode::vector);
    ASSERT_FALSE(vector);
    EXPECT_EQ(std::string(code_name(vector.error().code)) + ": " + vector.error().message, expected);
    auto hybrid = service.search_ranked_now("alice", {b->id}, "alpha", 5, knowledge::SearchMode::hybrid);
    ASSERT_TRUE(hybrid) << hybrid.error().detail;
    EXPECT_EQ(hybrid->mode, knowledge::SearchMode::lexical) << expected;
    EXPECT_EQ(hybrid->passages.size(), 1u);
  }

  // A process without an embedder (the `ingest` command) cannot rank by vectors.
  knowledge::KnowledgeService bare(*kb_, pool, {});
  auto vector = bare.search_now("alice", {b->id}, "alpha", 5, knowledge::SearchMode::vector);
  ASSERT_FALSE(vector);
  EXPECT_EQ(vector.error().code, errc::unavailable);
  EXPECT_EQ(vector.error().message, "no embedding model is configured on this server");
  pool.join();
}

// KB_HYBRID_FUSION=rrf: each list adds weight / (60 + rank) for a chunk it ranks, the vector
// list scaled by KB_HYBRID_VECTOR_WEIGHT; a chunk only one list found still ranks, below.
TEST_P(KnowledgeConformance, ReciprocalRankFusionAddsBothListsByRank) {
  boost::asio::thread_pool pool(1);
  knowledge::KnowledgeOptions options;
  options.hybrid_fusion = knowledge::Fusion::rrf;
  options.hybrid_vector_weight = 0.5;
  knowledge::KnowledgeService service(*kb_, pool, options);
  ScriptedEmbedder embedder;
  embedder.answer = [](const knowledge::EmbedCall& call) -> Result<std::vector<std::vector<float>>> {
    std::vector<std::vector<float>> out;
    for (const std::string& text : call.texts)
      out.push_back(text.find("alpha") != std::string::npos ? std::vector<float>{1.f, 0.f} : std::vector<float>{0.6f, 0.8f});
    return out;
  };
  service.set_embedder(&embedder);
  auto b = run_now(service.create_base({"alice", "fused", std::nullopt, "embed-a"}));
  ASSERT_TRUE(b) << b.error().detail;
  ASSERT_TRUE(service.add_document_now("alice", b->id, {"both", "alpha beta gamma"}));
  ASSERT_TRUE(service.add_document_now("alice", b->id, {"vector only", "delta epsilon"}));
  service.drain();
  auto ranked = service.search_ranked_now("alice", {b->id}, "alpha", 5, knowledge::SearchMode::hybrid);
  ASSERT_TRUE(ranked) << ranked.error().detail;
  EXPECT_EQ(ranked->mode, knowledge::SearchMode::hybrid);
  ASSERT_EQ(ranked->passages.size(), 2u);
  EXPECT_EQ(ranked->passages[0].text, "alpha beta gamma");
  EXPECT_DOUBLE_EQ(ranked->passages[0].score, 0.5 / 61 + 1.0 / 61) << "first in both lists";
  EXPECT_EQ(ranked->passages[1].text, "delta epsilon");
  EXPECT_DOUBLE_EQ(ranked->passages[1].score, 0.5 / 62) << "second in the vector list only";
  pool.join();
}

// A model change whose embeddings are refused fails the document's reindex job with the reason
// and leaves the base searching in its old space; through update_base with another model, then
// again with a working embedder, the switch completes and vector search ranks in the new space.
TEST_P(KnowledgeConformance, AReindexWhoseEmbeddingsAreRefusedFailsTheJobAndKeepsTheOldSpace) {
  boost::asio::thread_pool pool(1);
  knowledge::KnowledgeService service(*kb_, pool, {});
  ScriptedEmbedder embedder;
  service.set_embedder(&embedder);
  auto b = run_now(service.create_base({"alice", "moving", std::nullopt, "embed-a"}));
  ASSERT_TRUE(b) << b.error().detail;
  auto doc = service.add_document_now("alice", b->id, {"doc", "alpha beta gamma"});
  ASSERT_TRUE(doc);
  service.drain();
  EXPECT_EQ(run_now(service.update_base("alice", b->id, {.embedding_model = "chat-only"})).error().message,
            "model chat-only cannot embed");
  // The same model again is nothing to do.
  auto same = run_now(service.update_base("alice", b->id, {.embedding_model = "embed-a"}));
  ASSERT_TRUE(same);
  EXPECT_FALSE(same->next_embedding_model);

  embedder.answer = [](const knowledge::EmbedCall&) -> Result<std::vector<std::vector<float>>> {
    return failure(errc::budget_exceeded, "monthly budget reached");
  };
  auto moving = run_now(service.update_base("alice", b->id, {.embedding_model = "embed-b"}));
  ASSERT_TRUE(moving) << moving.error().detail;
  EXPECT_EQ(moving->next_embedding_model, "embed-b");
  service.drain();
  auto failed = kb_->get_document("alice", b->id, doc->document.id);
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->job.kind, "reindex");
  EXPECT_EQ(failed->job.stage, knowledge::Stage::failed);
  EXPECT_EQ(failed->job.error, "embedding refused by your limits: monthly budget reached");
  auto base = run_now(service.get_base("alice", b->id));
  ASSERT_TRUE(base);
  EXPECT_EQ(base->embedding_model, "embed-a") << "searches keep the old space";
  embedder.answer = nullptr;
  auto still = service.search_now("alice", {b->id}, "alpha", 5, knowledge::SearchMode::vector);
  ASSERT_TRUE(still) << still.error().detail;
  EXPECT_EQ(still->size(), 1u);

  // Asked again (POST …/reindex, the model already named): the embedder answers, the base switches.
  embedder.answer = [](const knowledge::EmbedCall& call) -> Result<std::vector<std::vector<float>>> {
    return std::vector<std::vector<float>>(call.texts.size(), std::vector<float>{0.f, 0.f, 1.f});
  };
  auto again = run_now(service.reindex("alice", b->id, std::nullopt));
  ASSERT_TRUE(again) << again.error().detail;
  service.drain();
  auto switched = run_now(service.get_base("alice", b->id));
  ASSERT_TRUE(switched);
  EXPECT_EQ(switched->embedding_model, "embed-b");
  EXPECT_FALSE(switched->next_embedding_model);
  auto found = service.search_now("alice", {b->id}, "alpha", 5, knowledge::SearchMode::vector);
  ASSERT_TRUE(found) << found.error().detail;
  ASSERT_EQ(found->size(), 1u);
  EXPECT_NEAR((*found)[0].score, 1.0, 1e-6) << "ranked with embed-b's 3-dimensional vectors";
  pool.join();
}

// Another replica deleted a base (the event bus says its vectors changed): this one drops its copy;
// a base that still exists keeps it (it catches up at its next search).
TEST_P(KnowledgeConformance, ABaseDeletedElsewhereIsForgottenWhenItsVectorsAreSaidToHaveChanged) {
  boost::asio::thread_pool pool(1);
  knowledge::KnowledgeService service(*kb_, pool, {});
  ScriptedEmbedder embedder;
  service.set_embedder(&embedder);
  std::vector<std::string> ids;
  for (const char* name : {"kept", "gone"}) {
    auto b = run_now(service.create_base({"alice", name, std::nullopt, "embed-a"}));
    ASSERT_TRUE(b) << b.error().detail;
    ASSERT_TRUE(service.add_document_now("alice", b->id, {name, std::string("alpha ") + name}));
    ids.push_back(b->id);
  }
  service.drain();
  ASSERT_TRUE(service.search_now("alice", ids, "alpha", 5, knowledge::SearchMode::vector));
  EXPECT_EQ(service.cached_vector_bases(), 2u);
  ASSERT_TRUE(kb_->delete_base("alice", ids[1]));  // as another replica would, through the store
  service.vectors_changed(ids[0]);
  service.vectors_changed(ids[1]);
  pool.join();  // the checks run on the blocking pool
  EXPECT_EQ(service.cached_vector_bases(), 1u);
}

}  // namespace aas::store::testing
