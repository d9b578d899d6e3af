#include "knowledge/chunker.hpp"

#include "knowledge/utf8.hpp"
#include "tokens/tokenizer.hpp"

#include <algorithm>
#include <cstdint>

namespace aas::knowledge {
namespace {

// A piece of the document the packer never cuts: a whole block when it fits in a chunk, else a
// sentence of it, else a run of at most max_tokens tokens of a sentence.
struct Unit {
  std::size_t start = 0;  // bytes into doc.text
  std::size_t end = 0;
  std::size_t tokens = 0;
  int page = 0;
  bool starts_section = false;  // the first unit of a heading block
  std::size_t path = 0;         // index into the heading paths seen so far
};

using detail::is_ascii_space;

// Sentence ranges of text[start, end), whitespace trimmed: a break after . ! ? (and closing quotes or
// brackets) followed by whitespace, after a CJK full stop, and at every line end (list lines,
// code, table rows). Over-splitting costs nothing: the packer joins sentences back up to max_tokens.
std::vector<std::pair<std::size_t, std::size_t>> sentences(std::string_view text, std::size_t start, std::size_t end) {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  auto push = [&](std::size_t a, std::size_t b) {
    while (a < b && is_ascii_space(text[a])) ++a;
    while (b > a && is_ascii_space(text[b - 1])) --b;
    if (a < b) out.emplace_back(a, b);
  };
  std::size_t s = start;
  std::size_t i = start;
  while (i < end) {
    const char c = text[i];
    if (c == '\n') {
      push(s, i);
      s = ++i;
      continue;
    }
    if (c == '.' || c == '!' || c == '?') {
      std::size_t j = i + 1;
      while (j < end && (text[j] == '.' || text[j] == '!' || text[j] == '?' || text[j] == '"' || text[j] == '\'' ||
                         text[j] == ')' || text[j] == ']')) {
        ++j;
      }
      if (j < end && is_ascii_space(text[j])) {
        push(s, j);
        s = i = j;
        continue;
      }
      i = j;
      continue;
    }
    // 。！？ (U+3002, U+FF01, U+FF1F) end a sentence with no space after them.
    if (text.substr(i, 3) == "\xE3\x80\x82" || text.substr(i, 3) == "\xEF\xBC\x81" || text.substr(i, 3) == "\xEF\xBC\x9F") {
      push(s, i + 3);
      s = i = i + 3;
      continue;
    }
    ++i;
  }
  push(s, end);
  return out;
}

class Chunker {
 public:
  Chunker(const ParsedDocument& doc, const tokens::Tokenizer& tokenizer, const ChunkOptions& options)
      : doc_(doc), text_(doc.text), tok_(tokenizer) {
    max_ = static_cast<std::size_t>(std::max(options.max_tokens, 16));
    overlap_ = static_cast<std::size_t>(std::clamp(options.overlap_tokens, 0, static_cast<int>(max_ / 2)));
  }

  std::vector<Chunk> run() {
    make_units();
    pack();
    return std::move(chunks_);
  }

 private:
  std::size_t count(std::size_t a, std::size_t b) const { return tok_.count(text_.substr(a, b - a)); }

  void make_units() {
    std::vector<std::string> path;
    std::vector<int> levels;
    paths_.emplace_back();
    for (const Block& b : doc_.blocks) {
      if (b.end <= b.start) continue;
      const bool heading = b.kind == BlockKind::heading;
      if (heading) {
        while (!levels.empty() && levels.back() >= b.level) levels.pop_back(), path.pop_back();
        levels.push_back(b.level);
        path.emplace_back(text_.substr(b.start, b.end - b.start));
        paths_.push_back(path);
      }
      const std::size_t first = units_.size();
      const std::size_t n = count(b.start, b.end);
      if (n <= max_) {
        units_.push_back(Unit{b.start, b.end, n, b.page, false, 0});
      } else {
        for (const auto& [s, e] : sentences(text_, b.start, b.end)) {
          const std::size_t m = count(s, e);
          if (m <= max_) {
            units_.push_back(Unit{s, e, m, b.page, false, 0});
          } else {
            split_by_tokens(s, e, b.page);
          }
        }
      }
      for (std::size_t i = first; i < units_.size(); ++i) units_[i].path = paths_.size() - 1;
      if (heading && first < units_.size()) units_[first].starts_section = true;
    }
  }

  // Runs of at most max_ tokens, cut at code point boundaries.
  void split_by_tokens(std::size_t start, std::size_t end, int page) {
    const auto ids = tok_.encode(text_.substr(start, end - start));
    std::vector<std::size_t> offset(ids.size() + 1, 0);  // byte offset of each token in the sentence
    for (std::size_t i = 0; i < ids.size(); ++i) {
      offset[i + 1] = offset[i] + tok_.decode(std::span<const std::uint32_t>(&ids[i], 1)).size();
    }
    std::size_t pos = start;
    std::size_t t = 0;  // first token at or after pos
    while (pos < end) {
      std::size_t take = max_;
      std::size_t cut = end;
      std::size_t n = 0;
      for (;;) {
        const std::size_t j = std::min(t + take, ids.size());
        cut = j >= ids.size() ? end : detail::boundary_at_or_before(text_, start + offset[j]);
        if (cut <= pos) {  // the tokens end inside the code point at pos: take that one whole
          char32_t cp = 0;
          cut = std::min(end, pos + std::max<std::size_t>(detail::utf8_sequence(text_, pos, cp), 1));
          n = count(pos, cut);
          break;
        }
        n = count(pos, cut);
        if (n <= max_ || take <= 1) break;
        take -= std::min(take - 1, n - max_ + 1);
      }
      units_.push_back(Unit{pos, cut, n, page, false, 0});
      pos = cut;
      while (t < ids.size() && start + offset[t] < pos) ++t;
    }
  }

  // Greedy: units join the open chunk while its tokens stay within max_; a heading starts a chunk.
  void pack() {
    std::size_t i = 0;
    bool have_prev = false;  // a previous chunk in the same section, to overlap with
    while (i < units_.size()) {
      const Unit& first = units_[i];
      if (first.starts_section) have_prev = false;
      std::size_t start = first.start;
      std::size_t tokens = first.tokens;
      if (have_prev && overlap_ > 0) {
        const std::size_t os = overlap_start(prev_start_, prev_end_);
        if (os < first.start) {
          const std::size_t n = count(os, first.end);
          if (n <= max_) start = os, tokens = n;
        }
      }
      std::size_t end = first.end;
      std::size_t j = i + 1;
      // Unit ends inside the chunk, to back off to when the exact count says the estimate was wrong.
      std::vector<std::size_t> ends{j};
      bool exact = true;  // tokens is the exact count of [start, end)
      while (j < units_.size() && !units_[j].starts_section) {
        const std::size_t estimate = tokens + units_[j].tokens + 1;
        if (estimate + margin() <= max_) {
          tokens = estimate;
          exact = false;
        } else {
          const std::size_t n = count(start, units_[j].end);
          if (n > max_) break;
          tokens = n;
          exact = true;
        }
        end = units_[j].end;
        ends.push_back(++j);
      }
      if (!exact) tokens = count(start, end);
      while (tokens > max_ && ends.size() > 1) {  // BPE across unit seams counted more than estimated
        ends.pop_back();
        j = ends.back();
        end = units_[j - 1].end;
        tokens = count(start, end);
      }
      emit(start, end, tokens, page_at(start), units_[i].path);
      prev_start_ = start;
      prev_end_ = end;
      have_prev = true;
      i = j;
    }
  }

  // The estimate (sum of unit counts) may miss a few tokens merged or split across seams.
  std::size_t margin() const { return 8 + max_ / 32; }

  // Where the next chunk's repeat of [start, end) begins: its last overlap_ tokens, moved forward to
  // the start of a word. `end` when there is nothing to repeat.
  std::size_t overlap_start(std::size_t start, std::size_t end) const {
    const auto ids = tok_.encode(text_.substr(start, end - start));
    if (ids.size() <= overlap_) return end;
    std::size_t bytes = 0;
    for (std::size_t i = 0; i < ids.size() - overlap_; ++i) {
      bytes += tok_.decode(std::span<const std::uint32_t>(&ids[i], 1)).size();
    }
    std::size_t pos = detail::boundary_at_or_before(text_, start + bytes);
    // Forward to the start of a word; and further while the repeat, tokenized on its own, is longer
    // than overlap_ (a word without its leading space can take more tokens).
    for (bool first = true;; first = false) {
      std::size_t p = pos;
      if (!first || (p > start && !is_ascii_space(text_[p - 1]))) {
        while (p < end && !is_ascii_space(text_[p])) ++p;
      }
      while (p < end && is_ascii_space(text_[p])) ++p;
      if (p >= end) return end;
      pos = p;
      if (count(pos, end) <= overlap_) return pos;
    }
  }

  int page_at(std::size_t pos) const {
    const auto it = std::upper_bound(units_.begin(), units_.end(), pos,
                                     [](std::size_t p, const Unit& u) { return p < u.start; });
    return it == units_.begin() ? units_.front().page : std::prev(it)->page;
  }

  void emit(std::size_t start, std::size_t end, std::size_t tokens, int page, std::size_t path) {
    Chunk c;
    c.ordinal = static_cast<int>(chunks_.size());
    c.byte_start = start;
    c.byte_end = end;
    c.text = std::string(text_.substr(start, end - start));
    c.start = advance(start_cursor_, start);
    c.end = advance(end_cursor_, end);
    c.page = page;
    c.heading_path = paths_[path];
    c.tokens = static_cast<int>(tokens);
    chunks_.push_back(std::move(c));
  }

  // Code point offsets, counted incrementally: chunk starts and ends only move forward.
  struct Cursor {
    std::size_t byte = 0;
    std::size_t cp = 0;
  };
  std::size_t advance(Cursor& c, std::size_t byte) const {
    c.cp += detail::code_points(text_.substr(c.byte, byte - c.byte));
    c.byte = byte;
    return c.cp;
  }

  const ParsedDocument& doc_;
  std::string_view text_;
  const tokens::Tokenizer& tok_;
  std::size_t max_ = 512;
  std::size_t overlap_ = 64;
  std::vector<std::vector<std::string>> paths_;
  std::vector<Unit> units_;
  std::vector<Chunk> chunks_;
  std::size_t prev_start_ = 0;
  std::size_t prev_end_ = 0;
  Cursor start_cursor_;
  Cursor end_cursor_;
};

}  // namespace

std::vector<Chunk> chunk_document(const ParsedDocument& doc, const tokens::Tokenizer& tokenizer,
                                  const ChunkOptions& options) {
  return Chunker(doc, tokenizer, options).run();
}

}  // namespace aas::knowledge
