#include "tokens/tokenizer.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>  // mkdtemp
#include <filesystem>
#include <fstream>
#include <map>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace aas::tokens {
namespace {

namespace fs = std::filesystem;

}  // namespace

// Names the encoding in gtest's messages.
void PrintTo(Encoding encoding, std::ostream* os) { *os << name(encoding); }

namespace {

// The corpus and npm tiktoken's ids for it, made by make_reference.mjs (node) in a temp dir once
// per run. See that script for what the corpus holds and how invalid UTF-8 is defined.
struct Record {
  bool allow_special;
  std::string bytes;  // what we encode
  std::string given;  // what tiktoken was given: bytes after TextDecoder, as UTF-8
};

struct Reference {
  std::string error;
  std::vector<Record> records;
  std::map<Encoding, std::vector<std::vector<std::uint32_t>>> ids;
  std::vector<std::pair<std::string, std::string>> models;
  std::size_t bytes = 0;
};

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

class Reader {
 public:
  explicit Reader(std::string data) : data_(std::move(data)) {}
  bool done() const { return pos_ >= data_.size(); }
  std::uint32_t u32() {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= std::uint32_t(static_cast<unsigned char>(take(1)[0])) << (8 * i);
    return v;
  }
  std::string_view take(std::size_t n) {
    if (pos_ + n > data_.size()) throw std::runtime_error("truncated reference file");
    const std::string_view out = std::string_view(data_).substr(pos_, n);
    pos_ += n;
    return out;
  }

 private:
  std::string data_;
  std::size_t pos_ = 0;
};

Reference make_reference() {
  Reference ref;
  char dir_template[] = "/tmp/aas-tokens-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) return {"mkdtemp failed"};
  const fs::path dir = dir_template;
  const char* node = std::getenv("NODE");
  const std::string command = std::string(node ? node : "node") + " '" AAS_SOURCE_DIR
      "/tests/unit/tokens/make_reference.mjs' '" + dir.string() + "' '" AAS_SOURCE_DIR "'";
  if (std::system(command.c_str()) != 0) {
    fs::remove_all(dir);
    return {"`" + command + "` failed (node and tests/blackbox/node_modules are needed: scripts/install-deps.sh)"};
  }
  try {
    Reader corpus(read_file(dir / "corpus.bin"));
    while (!corpus.done()) {
      Record r;
      r.allow_special = corpus.take(1)[0] != 0;
      r.bytes = corpus.take(corpus.u32());
      r.given = corpus.take(corpus.u32());
      ref.bytes += r.bytes.size();
      ref.records.push_back(std::move(r));
    }
    for (const Encoding e : {Encoding::cl100k_base, Encoding::o200k_base}) {
      Reader ids(read_file(dir / (std::string(name(e)) + ".ids")));
      auto& out = ref.ids[e];
      while (!ids.done()) {
        std::vector<std::uint32_t> record(ids.u32());
        for (auto& id : record) id = ids.u32();
        out.push_back(std::move(record));
      }
      if (out.size() != ref.records.size()) ref.error = "ids and corpus differ in length";
    }
    std::istringstream models(read_file(dir / "models.tsv"));
    for (std::string model, encoding; models >> model >> encoding;) ref.models.emplace_back(model, encoding);
  } catch (const std::exception& e) {
    ref.error = e.what();
  }
  fs::remove_all(dir);
  return ref;
}

const Reference& reference() {
  static const Reference ref = make_reference();
  return ref;
}

std::string printable(std::string_view bytes) {
  std::string out;
  for (const char c : bytes.substr(0, 120)) {
    const auto b = static_cast<unsigned char>(c);
    if (b >= 0x20 && b < 0x7f) {
      out += c;
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", b);
      out += hex;
    }
  }
  return out;
}

class Corpus : public ::testing::TestWithParam<Encoding> {};

TEST_P(Corpus, SameIdsAsTiktoken) {
  const Reference& ref = reference();
  ASSERT_EQ(ref.error, "");
  EXPECT_GE(ref.bytes, std::size_t{1} << 20) << "the corpus should hold at least 1 MB";
  const Tokenizer& t = tokenizer(GetParam());
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < ref.records.size(); ++i) {
    const Record& r = ref.records[i];
    const auto& expected = ref.ids.at(GetParam())[i];
    const auto ids = t.encode(r.bytes, r.allow_special);
    if (ids != expected) {
      if (++mismatches <= 10) {
        std::size_t at = 0;
        while (at < ids.size() && at < expected.size() && ids[at] == expected[at]) ++at;
        ADD_FAILURE() << "record " << i << " (" << r.bytes.size() << " bytes, special " << r.allow_special
                      << "): first difference at token " << at << " of " << expected.size()
                      << "; ours "
                      << (at < ids.size() ? printable(t.decode(std::vector<std::uint32_t>{ids[at]})) : "<end>")
                      << ", tiktoken "
                      << (at < expected.size() ? printable(t.decode(std::vector<std::uint32_t>{expected[at]})) : "<end>")
                      << "\n  text: " << printable(r.bytes);
      }
    }
    EXPECT_EQ(t.count(r.bytes, r.allow_special), expected.size()) << "record " << i;
  }
  EXPECT_EQ(mismatches, 0u) << "of " << ref.records.size() << " records";
}

TEST_P(Corpus, DecodeGivesTheTextBack) {
  const Reference& ref = reference();
  ASSERT_EQ(ref.error, "");
  const Tokenizer& t = tokenizer(GetParam());
  std::size_t invalid = 0;
  for (std::size_t i = 0; i < ref.records.size(); ++i) {
    const Record& r = ref.records[i];
    // Valid UTF-8 comes back byte for byte; invalid comes back as JavaScript's TextDecoder reads it.
    EXPECT_EQ(t.decode(t.encode(r.bytes, r.allow_special)), r.given) << "record " << i;
    if (r.bytes != r.given) ++invalid;
  }
  EXPECT_GT(invalid, 500u) << "the corpus should exercise invalid UTF-8";
}

INSTANTIATE_TEST_SUITE_P(Tokens, Corpus, ::testing::Values(Encoding::cl100k_base, Encoding::o200k_base),
                         [](const auto& info) { return std::string(name(info.param)); });

TEST(Tokenizer, SpecialTokensOnlyWhenAllowed) {
  const Tokenizer& cl100k = tokenizer(Encoding::cl100k_base);
  const Tokenizer& o200k = tokenizer(Encoding::o200k_base);
  EXPECT_EQ(cl100k.encode("<|endoftext|>", true), (std::vector<std::uint32_t>{100257}));
  EXPECT_EQ(o200k.encode("<|endoftext|>", true), (std::vector<std::uint32_t>{199999}));
  EXPECT_EQ(o200k.encode("a<|endofprompt|>", true).back(), 200018u);
  EXPECT_GT(cl100k.encode("<|endoftext|>").size(), 1u);
  EXPECT_EQ(cl100k.decode(std::vector<std::uint32_t>{100257, 100276}), "<|endoftext|><|endofprompt|>");
  EXPECT_THROW(cl100k.decode(std::vector<std::uint32_t>{100256}), std::out_of_range);  // no token has it
  EXPECT_THROW(o200k.decode(std::vector<std::uint32_t>{300000}), std::out_of_range);
}

TEST(Tokenizer, SimpleCases) {
  const Tokenizer& t = tokenizer(Encoding::cl100k_base);
  EXPECT_TRUE(t.encode("").empty());
  EXPECT_EQ(t.count(""), 0u);
  EXPECT_EQ(t.encode("hello world"), (std::vector<std::uint32_t>{15339, 1917}));
  EXPECT_EQ(tokenizer(Encoding::o200k_base).encode("hello world"), (std::vector<std::uint32_t>{24912, 2375}));
  // Invalid UTF-8 is read as U+FFFD, as a JavaScript string would carry it to tiktoken.
  EXPECT_EQ(t.encode("a\xff"), t.encode("a\xEF\xBF\xBD"));
  EXPECT_EQ(t.encode("\xE0\x80"), t.encode("\xEF\xBF\xBD\xEF\xBF\xBD"));
  EXPECT_EQ(&tokenizer(Encoding::o200k_base), &tokenizer(Encoding::o200k_base));
  EXPECT_EQ(tokenizer(Encoding::o200k_base).encoding(), Encoding::o200k_base);
}

TEST(Tokenizer, SharedAcrossThreads) {
  const std::string text = "Concurrent first use must build each table once. 並行して使う。";
  const auto expected = tokenizer(Encoding::cl100k_base).encode(text);
  std::vector<std::thread> threads;
  std::vector<std::vector<std::uint32_t>> results(4);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] { results[i] = tokenizer(Encoding::cl100k_base).encode(text); });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& r : results) EXPECT_EQ(r, expected);
}

TEST(EncodingForModel, AgreesWithTiktokensTable) {
  const Reference& ref = reference();
  ASSERT_EQ(ref.error, "");
  ASSERT_GT(ref.models.size(), 50u);
  for (const auto& [model, encoding] : ref.models) {
    const auto ours = encoding_for_model(model);
    if (encoding == "cl100k_base" || encoding == "o200k_base") {
      ASSERT_TRUE(ours.has_value()) << model;
      EXPECT_EQ(name(*ours), encoding) << model;
    } else {
      EXPECT_FALSE(ours.has_value()) << model << " uses " << encoding << ", which we do not ship";
    }
  }
}

TEST(EncodingForModel, FamiliesAndUnknowns) {
  EXPECT_EQ(encoding_for_model("gpt-4o-mini-2024-07-18"), Encoding::o200k_base);
  EXPECT_EQ(encoding_for_model("gpt-4.1-nano"), Encoding::o200k_base);
  EXPECT_EQ(encoding_for_model("gpt-5.1"), Encoding::o200k_base);
  EXPECT_EQ(encoding_for_model("o1"), Encoding::o200k_base);
  EXPECT_EQ(encoding_for_model("o3-mini"), Encoding::o200k_base);
  EXPECT_EQ(encoding_for_model("o4-mini-2025-04-16"), Encoding::o200k_base);
  EXPECT_EQ(encoding_for_model("ft:gpt-4o-mini-2024-07-18:acme::abc123"), Encoding::o200k_base);
  EXPECT_EQ(encoding_for_model("gpt-4"), Encoding::cl100k_base);
  EXPECT_EQ(encoding_for_model("gpt-4-turbo-2024-04-09"), Encoding::cl100k_base);
  EXPECT_EQ(encoding_for_model("gpt-3.5-turbo"), Encoding::cl100k_base);
  EXPECT_EQ(encoding_for_model("text-embedding-3-large"), Encoding::cl100k_base);
  EXPECT_EQ(encoding_for_model("text-embedding-ada-002"), Encoding::cl100k_base);
  EXPECT_EQ(encoding_for_model("claude-sonnet-4-5"), std::nullopt);
  EXPECT_EQ(encoding_for_model("llama3.1:8b"), std::nullopt);
  EXPECT_EQ(encoding_for_model(""), std::nullopt);
}

TEST(CountChat, OpenAICookbookExample) {
  // The example of OpenAI's cookbook "How to count tokens with tiktoken"; the cookbook and npm
  // tiktoken 1.0.22 (the same formula over its encode()) both give 129 for cl100k_base models and
  // 124 for o200k_base ones.
  const std::vector<ChatMessage> messages = {
      {"system",
       "You are a helpful, pattern-following assistant that translates corporate jargon into plain English.", {}},
      {"system", "New synergies will help drive top-line growth.", "example_user"},
      {"system", "Things working well together will increase revenue.", "example_assistant"},
      {"system",
       "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage.",
       "example_user"},
      {"system", "Let's talk later when we're less busy about how to do better.", "example_assistant"},
      {"user", "This late pivot means we don't have time to boil the ocean for the client deliverable.", {}},
  };
  EXPECT_EQ(count_chat(Encoding::cl100k_base, messages), 129u);
  EXPECT_EQ(count_chat(Encoding::o200k_base, messages), 124u);
  EXPECT_EQ(count_chat(Encoding::o200k_base, {}), 3u);
  const std::vector<ChatMessage> one = {{"user", "hello world", {}}};
  EXPECT_EQ(count_chat(Encoding::o200k_base, one), 3u + 1 + 2 + 3);
}

}  // namespace
}  // namespace aas::tokens
