#include "knowledge/lexical_index.hpp"

#include "knowledge/bm25.hpp"
#include "knowledge/store.hpp"

#include <algorithm>
#include <functional>
#include <limits>
#include <unordered_set>

namespace aas::knowledge {

void LexicalIndex::add_chunk(std::string_view chunk_id, std::int64_t length, std::string_view document_id) {
  const auto chunk = static_cast<std::uint32_t>(lengths_.size());
  lengths_.push_back(static_cast<std::uint32_t>(std::clamp<std::int64_t>(length, 0, 0xffffffff)));
  total_length_ += lengths_.back();
  ids_ += chunk_id;
  id_ends_.push_back(static_cast<std::uint32_t>(ids_.size()));
  // Chunks come in id order, so a document's chunks (ids made together) mostly follow each other:
  // the last document's list is tried before a lookup.
  if (!last_document_ || last_document_->first != document_id) {
    auto d = documents_.find(document_id);
    if (d == documents_.end()) d = documents_.emplace(std::string(document_id), std::vector<std::uint32_t>{}).first;
    last_document_ = &*d;
  }
  last_document_->second.push_back(chunk);
}

LexicalIndex::LexicalIndex(const std::vector<LexicalChunk>& chunks) {
  lengths_.reserve(chunks.size());
  id_ends_.reserve(chunks.size());
  std::size_t id_bytes = 0;
  for (const LexicalChunk& c : chunks) id_bytes += c.chunk_id.size();
  ids_.reserve(id_bytes);
  for (const LexicalChunk& c : chunks) {
    const auto chunk = static_cast<std::uint32_t>(lengths_.size());
    add_chunk(c.chunk_id, c.length, c.document_id);
    for_each_encoded_term(c.terms, [&](std::string_view term, std::int64_t tf) {
      auto it = terms_.find(term);
      if (it == terms_.end()) it = terms_.emplace(std::string(term), Postings{}).first;
      Postings& p = it->second;
      // A term listed twice for one chunk (not written so, but cheap to tolerate) counts once.
      if (!p.chunks.empty() && p.chunks.back() == chunk) return;
      p.chunks.push_back(chunk);
      p.tf.push_back(static_cast<std::uint16_t>(std::min<std::int64_t>(tf, 0xffff)));
    });
  }
  for (auto& [_, p] : terms_) {
    p.chunks.shrink_to_fit();
    p.tf.shrink_to_fit();
  }
}

// Renumbers the live chunks part after part (so each merged posting list stays ascending) and
// appends each part's postings: the cost is a copy of the postings, not a re-analysis of terms.
LexicalIndex::LexicalIndex(const std::vector<SegmentView>& parts) {
  std::vector<std::vector<std::uint32_t>> renumber(parts.size());
  for (std::size_t p = 0; p < parts.size(); ++p) {
    const LexicalIndex& from = *parts[p].index;
    const Deletions* dead = parts[p].deleted;
    // The document of each chunk, from the segment's document map.
    std::vector<const std::string*> doc_of(from.size(), nullptr);
    for (const auto& [doc, chunks] : from.documents_)
      for (std::uint32_t c : chunks) doc_of[c] = &doc;
    auto& map = renumber[p];
    map.assign(from.size(), std::numeric_limits<std::uint32_t>::max());
    for (std::uint32_t c = 0; c < from.size(); ++c) {
      if (dead && dead->mask[c]) continue;
      map[c] = static_cast<std::uint32_t>(lengths_.size());
      add_chunk(from.chunk_id(c), from.length(c), doc_of[c] ? std::string_view(*doc_of[c]) : std::string_view());
    }
  }
  for (std::size_t p = 0; p < parts.size(); ++p) {
    const auto& map = renumber[p];
    for (const auto& [term, from] : parts[p].index->terms_) {
      Postings* to = nullptr;
      for (std::size_t j = 0; j < from.chunks.size(); ++j) {
        const std::uint32_t c = map[from.chunks[j]];
        if (c == std::numeric_limits<std::uint32_t>::max()) continue;
        if (!to) {
          auto it = terms_.find(term);
          if (it == terms_.end()) it = terms_.emplace(term, Postings{}).first;
          to = &it->second;
        }
        to->chunks.push_back(c);
        to->tf.push_back(from.tf[j]);
      }
    }
  }
  for (auto& [_, p] : terms_) {
    p.chunks.shrink_to_fit();
    p.tf.shrink_to_fit();
  }
}

std::string_view LexicalIndex::chunk_id(std::uint32_t chunk) const {
  const std::uint32_t begin = chunk == 0 ? 0 : id_ends_[chunk - 1];
  return std::string_view(ids_).substr(begin, id_ends_[chunk] - begin);
}

const LexicalIndex::Postings* LexicalIndex::find(std::string_view term) const {
  auto it = terms_.find(term);
  return it == terms_.end() ? nullptr : &it->second;
}

const std::vector<std::uint32_t>* LexicalIndex::chunks_of(std::string_view document_id) const {
  auto it = documents_.find(document_id);
  return it == documents_.end() ? nullptr : &it->second;
}

std::size_t LexicalIndex::memory_bytes() const {
  std::size_t n = ids_.capacity() + id_ends_.capacity() * 4 + lengths_.capacity() * 4;
  for (const auto& [term, p] : terms_) n += term.capacity() + 64 + p.chunks.capacity() * 4 + p.tf.capacity() * 2;
  for (const auto& [doc, chunks] : documents_) n += doc.capacity() + 64 + chunks.capacity() * 4;
  return n;
}

namespace {

// How many of a posting list's chunks are deleted: each deleted chunk looked up when they are few,
// else one pass over the list.
std::int64_t deleted_in(const LexicalIndex::Postings& p, const Deletions& dead) {
  std::int64_t n = 0;
  if (dead.chunks.size() * 16 < p.chunks.size()) {
    for (std::uint32_t c : dead.chunks) n += std::binary_search(p.chunks.begin(), p.chunks.end(), c) ? 1 : 0;
  } else {
    for (std::uint32_t c : p.chunks) n += dead.mask[c] ? 1 : 0;
  }
  return n;
}

}  // namespace

std::vector<ScoredChunk> bm25_top_k(const std::vector<const LexicalIndex*>& bases,
                                    const std::vector<std::string>& terms, int k) {
  std::vector<SegmentView> views;
  for (const LexicalIndex* b : bases) views.push_back({b, nullptr});
  return bm25_top_k_segments(views, terms, k);
}

std::vector<ScoredChunk> bm25_top_k_segments(const std::vector<SegmentView>& bases, const std::vector<std::string>& terms,
                                    int k) {
  std::vector<ScoredChunk> out;
  if (k <= 0 || bases.empty() || terms.empty()) return out;
  // Chunks of all segments share one numbering: segment b's chunk c is offset[b] + c (deleted
  // chunks keep their number and are never scored).
  std::vector<std::uint32_t> offset(bases.size() + 1, 0);
  std::int64_t total_length = 0, live = 0;
  for (std::size_t b = 0; b < bases.size(); ++b) {
    const LexicalIndex& index = *bases[b].index;
    offset[b + 1] = offset[b] + static_cast<std::uint32_t>(index.size());
    total_length += index.total_length();
    live += static_cast<std::int64_t>(index.size());
    if (const Deletions* dead = bases[b].deleted) {
      total_length -= dead->length;
      live -= static_cast<std::int64_t>(dead->chunks.size());
    }
  }
  const std::uint32_t slots = offset.back();
  if (live <= 0) return out;
  const auto n = static_cast<std::uint32_t>(live);
  const double avgdl = static_cast<double>(total_length) / static_cast<double>(n);

  struct QueryTerm {
    std::vector<const LexicalIndex::Postings*> postings;  // per base (null: none there)
    std::int64_t df = 0;
    double idf = 0;
  };
  std::vector<QueryTerm> qts;
  std::unordered_set<std::string_view> seen;
  for (const std::string& term : terms) {
    if (!seen.insert(term).second) continue;
    QueryTerm qt;
    for (const SegmentView& base : bases) {
      const auto* p = base.index->find(term);
      qt.postings.push_back(p);
      if (!p) continue;
      qt.df += static_cast<std::int64_t>(p->chunks.size());
      if (base.deleted) qt.df -= deleted_in(*p, *base.deleted);
    }
    if (qt.df == 0) continue;
    qt.idf = bm25::idf(n, qt.df);
    qts.push_back(std::move(qt));
  }
  if (qts.empty()) return out;
  std::stable_sort(qts.begin(), qts.end(), [](const QueryTerm& a, const QueryTerm& b) { return a.idf > b.idf; });
  constexpr double kMaxTf = bm25::k1 + 1;  // tf's factor tends to k1 + 1: a term's bound is idf * that
  // rest[i]: the most terms i.. can add to one chunk.
  std::vector<double> rest(qts.size() + 1, 0.0);
  for (std::size_t i = qts.size(); i-- > 0;) rest[i] = rest[i + 1] + qts[i].idf * kMaxTf;
  // Each base's length normalisation, once per query.
  const double norm_a = bm25::k1 * (1 - bm25::b), norm_b = bm25::k1 * bm25::b / avgdl;

  // Scores of the chunks seen, dense over the numbering (a score is > 0 once seen: every idf is).
  // Per search rather than per thread: 8 bytes a chunk while it runs (zeroing 8 MB for a million
  // chunks is ~1 ms), nothing held between searches.
  std::vector<double> acc(slots, 0.0);
  std::vector<std::uint32_t> touched;      // every chunk given a score
  std::vector<std::uint32_t> candidates;   // once closed: those that can still make the top k
  bool closed = false;
  double theta = 0;                        // the k-th best score so far (0 until there are k)
  double best = 0;                         // the best score so far (theta's bound)
  const auto kk = static_cast<std::size_t>(k);
  std::vector<double> kth;
  // theta over `from` (nth_element: linear, but over every chunk seen, so only when it can matter).
  const auto kth_best = [&](const std::vector<std::uint32_t>& from) {
    kth.clear();
    for (std::uint32_t g : from) kth.push_back(acc[g]);
    std::nth_element(kth.begin(), kth.begin() + (k - 1), kth.end(), std::greater<>());
    return kth[kk - 1];
  };

  for (std::size_t i = 0; i < qts.size(); ++i) {
    const QueryTerm& qt = qts[i];
    if (!closed) {
      for (std::size_t b = 0; b < bases.size(); ++b) {
        const auto* p = qt.postings[b];
        if (!p) continue;
        const LexicalIndex& base = *bases[b].index;
        const Deletions* dead = bases[b].deleted;
        for (std::size_t j = 0; j < p->chunks.size(); ++j) {
          const std::uint32_t c = p->chunks[j];
          if (dead && dead->mask[c]) continue;
          const double tf = p->tf[j];
          const double w = qt.idf * (tf * kMaxTf) / (tf + norm_a + norm_b * base.length(c));
          double& s = acc[offset[b] + c];
          if (s == 0) touched.push_back(offset[b] + c);
          s += w;
          best = std::max(best, s);
        }
      }
      // Closed for the next term when no unseen chunk can reach the k-th best: decided by the
      // k-th best only when even the best score could close it (most frequent-word queries can't).
      if (i + 1 < qts.size() && touched.size() >= kk && rest[i + 1] < best) {
        theta = kth_best(touched);
        if (rest[i + 1] < theta) {
          closed = true;
          candidates = touched;
        }
      }
    } else {
      // Only chunks already seen whose score could still reach theta.
      std::erase_if(candidates, [&](std::uint32_t g) { return acc[g] + rest[i] < theta; });
      std::sort(candidates.begin(), candidates.end());
      for (std::size_t b = 0; b < bases.size(); ++b) {
        const auto* p = qt.postings[b];
        if (!p) continue;
        const LexicalIndex& base = *bases[b].index;
        auto from = std::lower_bound(candidates.begin(), candidates.end(), offset[b]);
        auto to = std::lower_bound(from, candidates.end(), offset[b + 1]);
        const auto count = static_cast<std::size_t>(to - from);
        if (count == 0) continue;
        const auto add = [&](std::size_t j) {
          const std::uint32_t c = p->chunks[j];
          const double tf = p->tf[j];
          acc[offset[b] + c] += qt.idf * (tf * kMaxTf) / (tf + norm_a + norm_b * base.length(c));
        };
        if (count * 16 < p->chunks.size()) {
          // Few in the running: each looked up in the (sorted) postings, moving forward only.
          auto pos = p->chunks.begin();
          for (auto it = from; it != to; ++it) {
            const std::uint32_t c = *it - offset[b];
            pos = std::lower_bound(pos, p->chunks.end(), c);
            if (pos == p->chunks.end()) break;
            if (*pos == c) add(static_cast<std::size_t>(pos - p->chunks.begin()));
          }
        } else {
          // Many: one pass over the postings, adding only to chunks seen (the others cannot
          // enter the top k; those seen but out of the running gain nothing that matters).
          for (std::size_t j = 0; j < p->chunks.size(); ++j)
            if (acc[offset[b] + p->chunks[j]] != 0) add(j);
        }
      }
      if (candidates.size() >= kk) theta = kth_best(candidates);
    }
  }
  if (!closed) candidates = std::move(touched);

  // The base a chunk of the shared numbering belongs to.
  const auto id_of = [&](std::uint32_t g) {
    const auto b = static_cast<std::size_t>(std::upper_bound(offset.begin(), offset.end(), g) - offset.begin()) - 1;
    return bases[b].index->chunk_id(g - offset[b]);
  };
  std::vector<std::pair<double, std::uint32_t>> ranked;
  ranked.reserve(candidates.size());
  for (std::uint32_t g : candidates) ranked.emplace_back(acc[g], g);
  const auto top = std::min(ranked.size(), kk);
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(top), ranked.end(),
                    [&](const auto& a, const auto& b) {
                      return a.first != b.first ? a.first > b.first : id_of(a.second) < id_of(b.second);
                    });
  for (std::size_t i = 0; i < top; ++i) out.push_back({std::string(id_of(ranked[i].second)), ranked[i].first});
  return out;
}

// --- snapshots --------------------------------------------------------------------------------------

std::shared_ptr<const LexicalSnapshot> LexicalSnapshot::load(const LexicalRows& rows) {
  auto s = std::make_shared<LexicalSnapshot>();
  s->version = rows.version;
  if (!rows.chunks.empty()) s->segments.push_back({std::make_shared<const LexicalIndex>(rows.chunks), nullptr});
  return s;
}

std::vector<SegmentView> LexicalSnapshot::views() const {
  std::vector<SegmentView> out;
  out.reserve(segments.size());
  for (const Segment& g : segments) out.push_back({g.index.get(), g.deleted.get()});
  return out;
}

std::size_t LexicalSnapshot::live_chunks() const {
  std::size_t n = 0;
  for (const Segment& g : segments) n += g.index->size() - (g.deleted ? g.deleted->chunks.size() : 0);
  return n;
}

std::size_t LexicalSnapshot::memory_bytes() const {
  std::size_t n = 0;
  for (const Segment& g : segments)
    n += g.index->memory_bytes() + (g.deleted ? g.deleted->mask.size() / 8 + g.deleted->chunks.capacity() * 4 : 0);
  return n;
}

std::shared_ptr<const LexicalSnapshot> LexicalSnapshot::apply(const LexicalChanges& changes,
                                                             std::size_t max_segments) const {
  auto s = std::make_shared<LexicalSnapshot>();
  s->version = std::max(version, changes.version);
  for (const Segment& g : segments) {
    // The changed documents' chunks in this segment that are not deleted yet.
    std::vector<std::uint32_t> gone;
    for (const std::string& doc : changes.documents)
      if (const auto* chunks = g.index->chunks_of(doc))
        for (std::uint32_t c : *chunks)
          if (!g.deleted || !g.deleted->mask[c]) gone.push_back(c);
    if (gone.empty()) {
      s->segments.push_back(g);
      continue;
    }
    auto dead = g.deleted ? std::make_shared<Deletions>(*g.deleted) : std::make_shared<Deletions>();
    if (dead->mask.empty()) dead->mask.assign(g.index->size(), false);
    for (std::uint32_t c : gone) {
      dead->mask[c] = true;
      dead->length += g.index->length(c);
    }
    dead->chunks.insert(dead->chunks.end(), gone.begin(), gone.end());
    std::sort(dead->chunks.begin(), dead->chunks.end());
    if (dead->chunks.size() == g.index->size()) continue;  // nothing left in it
    s->segments.push_back({g.index, std::move(dead)});
  }
  if (!changes.chunks.empty())
    s->segments.push_back({std::make_shared<const LexicalIndex>(changes.chunks), nullptr});
  // Too many segments: all but the first (the large one, loaded whole) merged into one. Each is
  // small beside it, so this costs little; the first is merged in by compacted(), in the background.
  if (s->segments.size() > std::max<std::size_t>(max_segments, 2)) {
    std::vector<SegmentView> rest;
    for (std::size_t i = 1; i < s->segments.size(); ++i)
      rest.push_back({s->segments[i].index.get(), s->segments[i].deleted.get()});
    auto merged = std::make_shared<const LexicalIndex>(rest);
    s->segments.resize(1);
    if (merged->size() > 0) s->segments.push_back({std::move(merged), nullptr});
  }
  return s;
}

std::shared_ptr<const LexicalSnapshot> LexicalSnapshot::compacted() const {
  auto s = std::make_shared<LexicalSnapshot>();
  s->version = version;
  auto merged = std::make_shared<const LexicalIndex>(views());
  if (merged->size() > 0) s->segments.push_back({std::move(merged), nullptr});
  return s;
}

bool LexicalSnapshot::wants_compaction() const {
  if (segments.empty()) return false;
  const std::size_t first = segments.front().index->size();
  const std::size_t dead = segments.front().deleted ? segments.front().deleted->chunks.size() : 0;
  std::size_t others = 0;
  for (std::size_t i = 1; i < segments.size(); ++i) others += segments[i].index->size();
  return dead * 4 > first || others * 2 > first;
}

// --- the cache ---------------------------------------------------------------------------------------

std::shared_ptr<const LexicalSnapshot> LexicalCache::published(const std::string& kb_id) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(kb_id);
  return it == entries_.end() ? nullptr : it->second.snapshot;
}

void LexicalCache::publish(const std::string& kb_id, std::shared_ptr<const LexicalSnapshot> s) {
  std::lock_guard lock(mu_);
  entries_[kb_id].snapshot = std::move(s);
}

Result<std::shared_ptr<const LexicalSnapshot>> LexicalCache::current(KnowledgeStore& store, const std::string& kb_id,
                                                                      std::int64_t version) {
  std::shared_ptr<std::mutex> writer;
  {
    std::lock_guard lock(mu_);
    Entry& e = entries_[kb_id];
    if (e.snapshot && e.snapshot->version >= version) return e.snapshot;
    writer = e.writer;
  }
  // One change of a base at a time: concurrent searches that find it stale wait for one load (or
  // one change set) instead of each reading the database; searches of fresh bases go on.
  std::lock_guard change(*writer);
  auto now = published(kb_id);
  if (now && now->version >= version) return now;
  std::shared_ptr<const LexicalSnapshot> next;
  if (now) {
    auto changes = store.lexical_changes(kb_id, now->version);
    if (!changes) return changes.error();
    if (changes->complete) {
      next = now->apply(*changes);
      ++deltas_;
    }
  }
  if (!next) {
    auto rows = store.load_lexical(kb_id);
    if (!rows) return rows.error();
    next = LexicalSnapshot::load(*rows);
    ++loads_;
  }
  bool compact_now = false;
  {
    std::lock_guard lock(mu_);
    Entry& e = entries_[kb_id];
    e.snapshot = next;
    if (!e.compacting && next->wants_compaction()) compact_now = e.compacting = true;
  }
  if (compact_now) {
    if (background_) {
      background_([this, kb_id, next] { compact(kb_id, next); });
    } else {
      compact(kb_id, next);
      if (auto c = published(kb_id)) next = std::move(c);
    }
  }
  return next;
}

// Merges `from` whole without holding the base's writer lock (searches and changes go on), then
// publishes the result only if no change came meanwhile; else it is dropped and the next change
// that finds the base worth compacting tries again.
void LexicalCache::compact(const std::string& kb_id, std::shared_ptr<const LexicalSnapshot> from) {
  auto merged = from->compacted();
  std::lock_guard lock(mu_);
  auto it = entries_.find(kb_id);
  if (it == entries_.end()) return;
  it->second.compacting = false;
  if (it->second.snapshot != from) return;
  it->second.snapshot = std::move(merged);
  ++compactions_;
}

Result<std::vector<Passage>> LexicalCache::search(KnowledgeStore& store, const std::string& user_id,
                                                  const std::vector<std::string>& kb_ids,
                                                  const std::vector<std::string>& terms, int k) {
  if (terms.empty() || kb_ids.empty() || k <= 0) return std::vector<Passage>{};
  auto bases = store.lexical_bases(user_id, kb_ids);
  if (!bases) return bases.error();
  return search(store, *bases, terms, k);
}

Result<std::vector<Passage>> LexicalCache::search(KnowledgeStore& store, const std::vector<LexicalBase>& bases,
                                                  const std::vector<std::string>& terms, int k) {
  std::vector<Passage> out;
  if (terms.empty() || bases.empty() || k <= 0) return out;
  std::vector<std::shared_ptr<const LexicalSnapshot>> held;
  std::vector<SegmentView> views;
  for (const LexicalBase& b : bases) {
    auto snapshot = current(store, b.knowledge_base_id, b.version);
    if (!snapshot) return snapshot.error();
    for (const SegmentView& v : (*snapshot)->views()) views.push_back(v);
    held.push_back(std::move(*snapshot));
  }
  const std::vector<ScoredChunk> top = bm25_top_k_segments(views, terms, k);
  if (top.empty()) return out;
  std::vector<std::string> ids;
  for (const ScoredChunk& s : top) ids.push_back(s.chunk_id);
  auto rows = store.passages(ids);
  if (!rows) return rows.error();
  std::unordered_map<std::string, Passage> by_id;
  for (Passage& p : *rows) by_id.emplace(p.chunk_id, std::move(p));
  for (const ScoredChunk& s : top) {
    auto it = by_id.find(s.chunk_id);
    if (it == by_id.end()) continue;  // deleted since the snapshot was read
    it->second.score = s.score;
    out.push_back(std::move(it->second));
  }
  return out;
}

void LexicalCache::drop(const std::string& kb_id) {
  std::lock_guard lock(mu_);
  entries_.erase(kb_id);
}

std::size_t LexicalCache::size() const {
  std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (const auto& [_, e] : entries_) n += e.snapshot ? 1 : 0;
  return n;
}

}  // namespace aas::knowledge
