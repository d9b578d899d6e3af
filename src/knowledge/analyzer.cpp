#include "knowledge/analyzer.hpp"

#include "core/shared_library.hpp"

#include <libstemmer.h>

#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <unordered_set>

namespace aas::knowledge {

namespace {

// Lucene's English stop words: words frequent enough to say nothing about relevance, whose long
// posting lists would otherwise make every query read most of the index.
bool is_stop_word(std::string_view w) {
  static constexpr std::array<std::string_view, 33> kStop{
      "a",  "an", "and",  "are",   "as",   "at",    "be",   "but",  "by",   "for", "if",
      "in", "into", "is", "it",    "no",   "not",   "of",   "on",   "or",   "such", "that",
      "the", "their", "then", "there", "these", "they", "this", "to", "was", "will", "with"};
  return std::find(kStop.begin(), kStop.end(), w) != kStop.end();
}

// libstemmer is opened on the first word stemmed rather than linked (core/shared_library.hpp): its
// relocated tables are ~0.65 MiB of resident pages at every start, and only knowledge bases use it.
#define AAS_LIBSTEMMER_FUNCTIONS X(sb_stemmer_new) X(sb_stemmer_delete) X(sb_stemmer_stem) X(sb_stemmer_length)

struct Libstemmer {
#define X(name) decltype(&::name) name;
  AAS_LIBSTEMMER_FUNCTIONS
#undef X
};

const Libstemmer& libstemmer() {
  static const Libstemmer lib = [] {
    const core::SharedLibrary so(AAS_LIBSTEMMER_SONAME, "libstemmer0d");
#define X(name) so.symbol<decltype(&::name)>(#name),
    return Libstemmer{AAS_LIBSTEMMER_FUNCTIONS};
#undef X
  }();
  return lib;
}

// A stemmer is not thread-safe: one per thread, made on first use.
struct StemmerDeleter {
  void operator()(sb_stemmer* s) const noexcept { libstemmer().sb_stemmer_delete(s); }
};

std::string stem(const std::string& word) {
  thread_local std::unique_ptr<sb_stemmer, StemmerDeleter> stemmer(libstemmer().sb_stemmer_new("english", "UTF_8"));
  if (!stemmer) return word;
  const sb_symbol* out =
      libstemmer().sb_stemmer_stem(stemmer.get(), reinterpret_cast<const sb_symbol*>(word.data()), static_cast<int>(word.size()));
  if (!out) return word;
  return std::string(reinterpret_cast<const char*>(out), static_cast<std::size_t>(libstemmer().sb_stemmer_length(stemmer.get())));
}

bool is_word_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

// Longer "words" are encodings, hashes or noise; they would only bloat the index.
constexpr std::size_t kMaxWordBytes = 64;

template <class F>
void each_term(std::string_view text, F&& f) {
  std::string word;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && !is_word_byte(static_cast<unsigned char>(text[i]))) ++i;
    std::size_t j = i;
    while (j < text.size() && is_word_byte(static_cast<unsigned char>(text[j]))) ++j;
    if (j > i && j - i <= kMaxWordBytes) {
      word.assign(text.substr(i, j - i));
      for (char& c : word)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (!is_stop_word(word)) f(stem(word));
    }
    i = j;
  }
}

}  // namespace

std::vector<std::string> analyze(std::string_view text) {
  std::vector<std::string> out;
  each_term(text, [&](std::string t) { out.push_back(std::move(t)); });
  return out;
}

TermCounts count_terms(std::string_view text) {
  std::map<std::string, std::int64_t> counts;
  TermCounts out;
  each_term(text, [&](std::string t) {
    ++counts[std::move(t)];
    ++out.length;
  });
  out.terms.assign(counts.begin(), counts.end());
  return out;
}

std::vector<std::string> query_terms(std::string_view text) {
  std::vector<std::string> out;
  std::unordered_set<std::string> seen;
  each_term(text, [&](std::string t) {
    if (seen.insert(t).second) out.push_back(std::move(t));
  });
  return out;
}

}  // namespace aas::knowledge
