#include "knowledge/lexical_index.hpp"

#include "knowledge/bm25.hpp"
#include "knowledge/store.hpp"

#include <algorithm>
#include <functional>
#include <limits>
#include <unordered_set>

namespace aas::knowledge {

LexicalIndex::LexicalIndex(const std::vector<LexicalChunk>& chunks) {
  lengths_.reserve(chunks.size());
  id_ends_.reserve(chunks.size());
  std::size_t id_bytes = 0;
  for (const LexicalChunk& c : chunks) id_bytes += c.chunk_id.size();
  ids_.reserve(id_bytes);
  for (const LexicalChunk& c : chunks) {
    const auto chunk = static_cast<std::uint32_t>(lengths_.size());
    lengths_.push_back(static_cast<std::uint32_t>(std::clamp<std::int64_t>(c.length, 0, 0xffffffff)));
    total_length_ += lengths_.back();
    ids_ += c.chunk_id;
    id_ends_.push_back(static_cast<std::uint32_t>(ids_.size()));
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

std::string_view LexicalIndex::chunk_id(std::uint32_t chunk) const {
  const std::uint32_t begin = chunk == 0 ? 0 : id_ends_[chunk - 1];
  return std::string_view(ids_).substr(begin, id_ends_[chunk] - begin);
}

const LexicalIndex::Postings* LexicalIndex::find(std::string_view term) const {
  auto it = terms_.find(term);
  return it == terms_.end() ? nullptr : &it->second;
}

std::size_t LexicalIndex::memory_bytes() const {
  std::size_t n = ids_.capacity() + id_ends_.capacity() * 4 + lengths_.capacity() * 4;
  for (const auto& [term, p] : terms_) n += term.capacity() + 64 + p.chunks.capacity() * 4 + p.tf.capacity() * 2;
  return n;
}

std::vector<ScoredChunk> bm25_top_k(const std::vector<const LexicalIndex*>& bases,
                                    const std::vector<std::string>& terms, int k) {
  std::vector<ScoredChunk> out;
  if (k <= 0 || bases.empty() || terms.empty()) return out;
  // Chunks of all bases share one numbering: base b's chunk c is offset[b] + c.
  std::vector<std::uint32_t> offset(bases.size() + 1, 0);
  std::int64_t total_length = 0;
  for (std::size_t b = 0; b < bases.size(); ++b) {
    offset[b + 1] = offset[b] + static_cast<std::uint32_t>(bases[b]->size());
    total_length += bases[b]->total_length();
  }
  const std::uint32_t n = offset.back();
  if (n == 0) return out;
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
    for (const LexicalIndex* base : bases) {
      const auto* p = base->find(term);
      qt.postings.push_back(p);
      if (p) qt.df += static_cast<std::int64_t>(p->chunks.size());
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
  std::vector<double> acc(n, 0.0);
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
        const LexicalIndex& base = *bases[b];
        for (std::size_t j = 0; j < p->chunks.size(); ++j) {
          const std::uint32_t c = p->chunks[j];
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
        const LexicalIndex& base = *bases[b];
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
    return bases[b]->chunk_id(g - offset[b]);
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

std::shared_ptr<const LexicalIndex> LexicalCache::find(const LexicalBase& b) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(b.knowledge_base_id);
  if (it == entries_.end() || it->second.version != b.version) return nullptr;
  return it->second.index;
}

Result<std::vector<Passage>> LexicalCache::search(KnowledgeStore& store, const std::string& user_id,
                                                  const std::vector<std::string>& kb_ids,
                                                  const std::vector<std::string>& terms, int k) {
  std::vector<Passage> out;
  if (terms.empty() || kb_ids.empty() || k <= 0) return out;
  auto bases = store.lexical_bases(user_id, kb_ids);
  if (!bases) return bases.error();
  std::vector<std::shared_ptr<const LexicalIndex>> held;
  for (const LexicalBase& b : *bases) {
    auto index = find(b);
    if (!index) {
      // One build at a time: concurrent first searches of a large base wait for one build
      // instead of each reading the whole base.
      std::lock_guard build(build_mu_);
      index = find(b);
      if (!index) {
        auto rows = store.load_lexical(b.knowledge_base_id);
        if (!rows) return rows.error();
        index = std::make_shared<const LexicalIndex>(rows->chunks);
        std::lock_guard lock(mu_);
        // Read in the same snapshot as its rows: a version newer than the one asked for is fine.
        entries_[b.knowledge_base_id] = {rows->version, index};
      }
    }
    held.push_back(std::move(index));
  }
  std::vector<const LexicalIndex*> indexes;
  for (const auto& h : held) indexes.push_back(h.get());
  const std::vector<ScoredChunk> top = bm25_top_k(indexes, terms, k);
  if (top.empty()) return out;
  std::vector<std::string> ids;
  for (const ScoredChunk& s : top) ids.push_back(s.chunk_id);
  auto rows = store.passages(ids);
  if (!rows) return rows.error();
  std::unordered_map<std::string, Passage> by_id;
  for (Passage& p : *rows) by_id.emplace(p.chunk_id, std::move(p));
  for (const ScoredChunk& s : top) {
    auto it = by_id.find(s.chunk_id);
    if (it == by_id.end()) continue;  // deleted since the index was built
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
  return entries_.size();
}

}  // namespace aas::knowledge
