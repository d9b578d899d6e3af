// Deterministic answers, token counts and embedding vectors: the same request always gets the
// same bytes, so tests can compare a streamed answer with a non-streamed one.
#include "mock.hpp"

#include <boost/json.hpp>
#include <libstemmer.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>

namespace aas::mockllm {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

template <class F>
void for_each_word(std::string_view text, F&& f) {
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_space(text[i])) ++i;
    const std::size_t start = i;
    while (i < text.size() && !is_space(text[i])) ++i;
    if (i > start) f(text.substr(start, i - start));
  }
}

constexpr std::array<std::string_view, 19> kFiller = {
    "lorem",  "ipsum",   "dolor",      "sit",    "amet",     "consectetur", "adipiscing",
    "elit",   "sed",     "do",         "eiusmod", "tempor",  "incididunt",  "ut",
    "labore", "et",      "dolore",     "magna",  "aliqua."};

bool is_identifier_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 1469598103934665603ull;
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Case and surrounding punctuation do not make a different word ("Paris," is "paris").
std::string normalize_word(std::string_view w) {
  const auto punct = [](char c) { return !is_identifier_char(c) && static_cast<unsigned char>(c) < 0x80; };
  while (!w.empty() && punct(w.front())) w.remove_prefix(1);
  while (!w.empty() && punct(w.back())) w.remove_suffix(1);
  std::string out(w);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

std::size_t count_tokens(std::string_view text) {
  std::size_t n = 0;
  for_each_word(text, [&](std::string_view) { ++n; });
  return n;
}

std::string filler_token(std::size_t i) { return " " + std::string(kFiller[i % kFiller.size()]); }

std::vector<std::string> answer_tokens(std::string_view answer, std::optional<std::size_t> length) {
  std::vector<std::string> tokens;
  for_each_word(answer, [&](std::string_view w) {
    if (length && tokens.size() >= *length) return;
    tokens.push_back(tokens.empty() ? std::string(w) : " " + std::string(w));
  });
  if (length) {
    for (std::size_t i = 0; tokens.size() < *length; ++i) {
      std::string t = filler_token(i);
      if (tokens.empty()) t.erase(0, 1);
      tokens.push_back(std::move(t));
    }
  }
  return tokens;
}

std::string join(const std::vector<std::string>& tokens) {
  std::string out;
  for (const std::string& t : tokens) out += t;
  return out;
}

std::optional<std::string> cut_at_stop(std::vector<std::string>& tokens, const std::vector<std::string>& stops) {
  const std::string text = join(tokens);
  std::size_t at = std::string::npos;
  std::string matched;
  for (const std::string& s : stops) {
    const std::size_t p = s.empty() ? std::string::npos : text.find(s);
    if (p < at) {
      at = p;
      matched = s;
    }
  }
  if (at == std::string::npos) return std::nullopt;
  std::vector<std::string> kept;
  std::size_t length = 0;
  for (std::string& t : tokens) {
    if (length >= at) break;
    if (length + t.size() > at) t.resize(at - length);
    length += t.size();
    kept.push_back(std::move(t));
  }
  tokens = std::move(kept);
  return matched;
}

bool asks_to_call(std::string_view text, std::string_view tool_name, std::string_view verb) {
  if (tool_name.empty()) return false;
  const std::string needle = std::string(verb) + " " + std::string(tool_name);
  for (std::size_t pos = text.find(needle); pos != std::string_view::npos;
       pos = text.find(needle, pos + 1)) {
    const std::size_t end = pos + needle.size();
    const bool starts_word = pos == 0 || !is_identifier_char(text[pos - 1]);
    const bool ends_word = end == text.size() || !is_identifier_char(text[end]);
    if (starts_word && ends_word) return true;
  }
  return false;
}

std::size_t tool_call_tokens(const MockToolCall& call) {
  return 1 + std::max<std::size_t>(1, count_tokens(call.arguments));
}

std::size_t image_tokens(std::string_view detail) { return detail == "low" ? 85 : 765; }

std::optional<std::string> requested_arguments(std::string_view text, std::string_view tool_name,
                                               std::string_view verb) {
  if (!asks_to_call(text, tool_name, verb)) return std::nullopt;
  const std::string needle = std::string(verb) + " " + std::string(tool_name);
  std::size_t pos = text.find(needle) + needle.size();
  while (pos < text.size() && is_space(text[pos])) ++pos;
  if (pos >= text.size() || text[pos] != '{') return "{}";
  // The shortest prefix from the brace that is a JSON object (a streaming parse stops there).
  boost::json::stream_parser parser;
  boost::system::error_code ec;
  const std::string_view rest = text.substr(pos);
  parser.write_some(rest.data(), rest.size(), ec);  // stops at the end of the first value
  if (ec || !parser.done()) return "{}";
  const boost::json::value v = parser.release();
  if (!v.is_object()) return "{}";
  return boost::json::serialize(v);
}

namespace {

boost::json::value sample_of(const boost::json::value& schema, int depth) {
  namespace json = boost::json;
  const json::object* s = schema.if_object();
  if (!s || depth > 16) return json::object{};
  if (const auto* e = s->if_contains("enum"); e && e->is_array() && !e->get_array().empty())
    return e->get_array().front();
  if (const auto* c = s->if_contains("const")) return *c;
  std::string type = "object";
  if (const auto* t = s->if_contains("type")) {
    if (t->is_string()) type = std::string(t->get_string());
    if (t->is_array()) {
      for (const json::value& x : t->get_array())
        if (x.is_string() && x.get_string() != "null") {
          type = std::string(x.get_string());
          break;
        }
    }
  } else if (!s->contains("properties")) {
    return json::object{};
  }
  if (type == "string") return json::string("mock");
  if (type == "integer" || type == "number") {
    if (const auto* m = s->if_contains("minimum"); m && m->is_number()) return *m;
    return 0;
  }
  if (type == "boolean") return true;
  if (type == "null") return nullptr;
  if (type == "array") {
    json::array out;
    const auto* min = s->if_contains("minItems");
    if (min && min->is_int64() && min->get_int64() > 0) {
      const auto* items = s->if_contains("items");
      for (std::int64_t i = 0; i < std::min<std::int64_t>(min->get_int64(), 16); ++i)
        out.push_back(items ? sample_of(*items, depth + 1) : json::value("mock"));
    }
    return out;
  }
  json::object out;
  const auto* props = s->if_contains("properties");
  if (!props || !props->is_object()) return out;
  const auto* required = s->if_contains("required");
  const bool all = !required || !required->is_array() || required->get_array().empty();
  for (const auto& [name, sub] : props->get_object()) {
    bool wanted = all;
    if (!all)
      for (const json::value& r : required->get_array()) wanted = wanted || (r.is_string() && r.get_string() == name);
    if (wanted) out[name] = sample_of(sub, depth + 1);
  }
  return out;
}

}  // namespace

std::string sample_for_schema(std::string_view schema_json) {
  boost::system::error_code ec;
  const boost::json::value schema = boost::json::parse(schema_json, ec);
  return boost::json::serialize(ec ? boost::json::value(boost::json::object{}) : sample_of(schema, 0));
}

namespace {

// What an embedding model learns first: function words carry no meaning, and inflections of a
// word mean the same thing. A short English stop list (the most frequent words) and Snowball's
// English stemmer (libstemmer) give the mock's vectors that much sense.
constexpr std::array<std::string_view, 48> kStopWords = {
    "a",    "an",   "and",  "are",  "as",    "at",    "be",   "but",   "by",   "for",  "if",   "in",
    "into", "is",   "it",   "no",   "not",   "of",    "on",   "or",    "such", "that", "the",  "their",
    "then", "there", "these", "they", "this", "to",   "was",  "will",  "with", "we",   "our",  "from",
    "has",  "have", "had",  "been", "which", "were",  "its",  "than",  "also", "can",  "may",  "more"};

std::string stem(const std::string& word) {
  struct Deleter {
    void operator()(sb_stemmer* s) const noexcept { sb_stemmer_delete(s); }
  };
  thread_local std::unique_ptr<sb_stemmer, Deleter> stemmer(sb_stemmer_new("english", "UTF_8"));
  if (!stemmer) return word;
  const sb_symbol* out =
      sb_stemmer_stem(stemmer.get(), reinterpret_cast<const sb_symbol*>(word.data()), static_cast<int>(word.size()));
  if (!out) return word;
  return std::string(reinterpret_cast<const char*>(out), static_cast<std::size_t>(sb_stemmer_length(stemmer.get())));
}

// Words as runs of letters and digits (non-ASCII bytes count as letters), lower-cased.
std::map<std::string, int> meaningful_words(std::string_view text) {
  std::map<std::string, int> out;
  std::string word;
  const auto flush = [&] {
    if (!word.empty() && std::find(kStopWords.begin(), kStopWords.end(), word) == kStopWords.end()) ++out[stem(word)];
    word.clear();
  };
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80) word += ch;
    else if (c >= 'A' && c <= 'Z') word += static_cast<char>(c - 'A' + 'a');
    else flush();
  }
  flush();
  return out;
}

}  // namespace

std::vector<float> embed(std::string_view text, std::size_t dimensions) {
  std::vector<double> sum(dimensions, 0.0);
  const auto add = [&](std::string_view word, double weight) {
    std::uint64_t state = fnv1a(word);
    for (double& x : sum) {
      // Uniform in [-1, 1): one pseudo-random direction per distinct word.
      x += weight * (static_cast<double>(splitmix64(state) >> 11) * 0x1.0p-52 - 1.0);
    }
  };
  // Each meaningful word (stemmed) once, weighted 1 + ln(count): repeats count, but less and less.
  const auto words = meaningful_words(text);
  for (const auto& [word, n] : words) add(word, 1.0 + std::log(static_cast<double>(n)));
  if (words.empty()) {
    bool any = false;
    for_each_word(text, [&](std::string_view w) {
      const std::string word = normalize_word(w);
      if (word.empty()) return;
      add(word, 1.0);
      any = true;
    });
    if (!any) add(text, 1.0);  // only punctuation or blanks: still deterministic
  }

  double norm = 0;
  for (const double x : sum) norm += x * x;
  norm = std::sqrt(norm);
  std::vector<float> out(dimensions);
  for (std::size_t i = 0; i < dimensions; ++i) {
    out[i] = static_cast<float>(norm > 0 ? sum[i] / norm : 0.0);
  }
  return out;
}

std::string base64_floats(const std::vector<float>& v) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string bytes(v.size() * sizeof(float), '\0');
  for (std::size_t i = 0; i < v.size(); ++i) {
    std::uint32_t bits = 0;
    std::memcpy(&bits, &v[i], sizeof bits);
    for (int b = 0; b < 4; ++b) bytes[i * 4 + b] = static_cast<char>((bits >> (8 * b)) & 0xff);
  }
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t n = (static_cast<unsigned char>(bytes[i]) << 16) |
                            (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                            static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (const std::size_t rest = bytes.size() - i; rest > 0) {
    std::uint32_t n = static_cast<unsigned char>(bytes[i]) << 16;
    if (rest == 2) n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace aas::mockllm
