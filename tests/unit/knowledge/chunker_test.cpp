#include "knowledge/chunker.hpp"

#include "knowledge/loaders/builder.hpp"
#include "knowledge/utf8.hpp"
#include "tokens/tokenizer.hpp"

#include <gtest/gtest.h>

#include <random>

namespace aas::knowledge {
namespace {

const tokens::Tokenizer& tok() { return tokens::tokenizer(tokens::Encoding::cl100k_base); }

// Deterministic prose: `n` sentences of 8-15 words.
std::string sentences(std::size_t n, unsigned seed) {
  static const char* words[] = {"retrieval", "vector", "index", "the", "document", "chunk", "a", "search",
                                "token", "model", "answer", "cites", "passage", "user", "upload", "of"};
  std::mt19937 rng(seed);
  std::string out;
  for (std::size_t s = 0; s < n; ++s) {
    const int count = 8 + static_cast<int>(rng() % 8);
    for (int w = 0; w < count; ++w) {
      if (!out.empty()) out += ' ';
      std::string word = words[rng() % 16];
      if (w == 0) word[0] = static_cast<char>(word[0] - 'a' + 'A');
      out += word;
    }
    out += '.';
  }
  return out;
}

struct Part {
  BlockKind kind;
  std::string text;
  int level = 0;
  int page = 0;
};

ParsedDocument make_doc(const std::vector<Part>& parts) {
  loaders::DocBuilder b(1u << 30);
  for (const auto& p : parts) {
    b.begin(p.kind, p.level, p.page);
    b.text(p.text);
  }
  return std::move(b).finish(media::plain, "");
}

// The invariants every chunking keeps, whatever the input.
void check_invariants(const ParsedDocument& doc, const std::vector<Chunk>& chunks, const ChunkOptions& options) {
  std::size_t covered = 0;  // bytes of the text up to which blocks are covered
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    const Chunk& c = chunks[i];
    SCOPED_TRACE("chunk " + std::to_string(i));
    EXPECT_EQ(c.ordinal, static_cast<int>(i));
    ASSERT_LT(c.byte_start, c.byte_end);
    ASSERT_LE(c.byte_end, doc.text.size());
    EXPECT_EQ(c.text, doc.text.substr(c.byte_start, c.byte_end - c.byte_start));
    EXPECT_EQ(c.tokens, static_cast<int>(tok().count(c.text)));
    EXPECT_LE(c.tokens, options.max_tokens);
    EXPECT_EQ(c.start, detail::code_points(std::string_view(doc.text).substr(0, c.byte_start)));
    EXPECT_EQ(c.end - c.start, detail::code_points(c.text));
    EXPECT_EQ(detail::invalid_utf8_bytes(c.text), 0u);
    if (i > 0) {
      EXPECT_GT(c.byte_start, chunks[i - 1].byte_start);
      EXPECT_GT(c.byte_end, chunks[i - 1].byte_end);
    }
    // No gap of visible text between chunks.
    const std::string_view gap = std::string_view(doc.text).substr(covered, c.byte_start > covered ? c.byte_start - covered : 0);
    EXPECT_EQ(gap.find_first_not_of(" \n\t"), std::string_view::npos) << "uncovered: " << gap;
    covered = std::max(covered, c.byte_end);
  }
  const std::string_view rest = std::string_view(doc.text).substr(covered);
  EXPECT_EQ(rest.find_first_not_of(" \n\t"), std::string_view::npos) << "uncovered tail: " << rest;
}

TEST(Chunker, EmptyDocumentHasNoChunks) {
  ParsedDocument doc;
  EXPECT_TRUE(chunk_document(doc, tok(), {}).empty());
}

TEST(Chunker, SmallParagraphsShareOneChunk) {
  const auto doc = make_doc({{BlockKind::paragraph, "First paragraph."}, {BlockKind::paragraph, "Second one."}});
  const auto chunks = chunk_document(doc, tok(), {});
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].text, "First paragraph.\n\nSecond one.");
  EXPECT_EQ(chunks[0].start, 0u);
  EXPECT_TRUE(chunks[0].heading_path.empty());
  check_invariants(doc, chunks, {});
}

TEST(Chunker, HeadingsStartChunksAndFormThePath) {
  const auto doc = make_doc({{BlockKind::heading, "Guide", 1},
                             {BlockKind::paragraph, "Intro text."},
                             {BlockKind::heading, "Install", 2},
                             {BlockKind::paragraph, "Run the script."},
                             {BlockKind::heading, "Debian", 3},
                             {BlockKind::list_item, "apt-get install it"},
                             {BlockKind::heading, "Use", 2},
                             {BlockKind::paragraph, "Call it."}});
  const auto chunks = chunk_document(doc, tok(), {});
  ASSERT_EQ(chunks.size(), 4u);
  EXPECT_EQ(chunks[0].text, "Guide\n\nIntro text.");
  EXPECT_EQ(chunks[0].heading_path, (std::vector<std::string>{"Guide"}));
  EXPECT_EQ(chunks[1].text, "Install\n\nRun the script.");
  EXPECT_EQ(chunks[1].heading_path, (std::vector<std::string>{"Guide", "Install"}));
  EXPECT_EQ(chunks[2].heading_path, (std::vector<std::string>{"Guide", "Install", "Debian"}));
  EXPECT_EQ(chunks[3].text, "Use\n\nCall it.");
  EXPECT_EQ(chunks[3].heading_path, (std::vector<std::string>{"Guide", "Use"}));
  check_invariants(doc, chunks, {});
}

TEST(Chunker, ParagraphsThatFitAreNeverCut) {
  const std::string p1 = sentences(12, 1), p2 = sentences(12, 2), p3 = sentences(12, 3);
  const auto doc = make_doc({{BlockKind::paragraph, p1}, {BlockKind::paragraph, p2}, {BlockKind::paragraph, p3}});
  ChunkOptions options{.max_tokens = static_cast<int>(tok().count(p1) + tok().count(p2) + 20), .overlap_tokens = 0};
  const auto chunks = chunk_document(doc, tok(), options);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].text, p1 + "\n\n" + p2);
  EXPECT_EQ(chunks[1].text, p3);
  check_invariants(doc, chunks, options);
}

TEST(Chunker, LongParagraphSplitsAtSentenceEnds) {
  const auto doc = make_doc({{BlockKind::paragraph, sentences(200, 4)}});
  const ChunkOptions options{.max_tokens = 100, .overlap_tokens = 0};
  const auto chunks = chunk_document(doc, tok(), options);
  ASSERT_GT(chunks.size(), 20u);
  for (const auto& c : chunks) {
    EXPECT_EQ(c.text.back(), '.') << c.text;
    EXPECT_TRUE(std::isupper(static_cast<unsigned char>(c.text.front()))) << c.text;
    if (&c != &chunks.back()) {
      EXPECT_GT(c.tokens, 50);  // packed, not one sentence per chunk
    }
  }
  check_invariants(doc, chunks, options);
}

TEST(Chunker, TextWithoutSentencesSplitsByTokens) {
  std::string words;
  for (int i = 0; i < 3000; ++i) words += "word" + std::to_string(i) + " ";
  const auto doc = make_doc({{BlockKind::paragraph, words}});
  const ChunkOptions options{.max_tokens = 128, .overlap_tokens = 16};
  const auto chunks = chunk_document(doc, tok(), options);
  ASSERT_GT(chunks.size(), 30u);
  for (std::size_t i = 0; i + 1 < chunks.size(); ++i) EXPECT_GE(chunks[i].tokens, 100) << i;
  check_invariants(doc, chunks, options);
}

TEST(Chunker, MultibyteTextIsCutOnCodePointsAndCountedInCodePoints) {
  std::string cjk;
  for (int i = 0; i < 400; ++i) cjk += "检索增强生成引用文档😀";  // no spaces, no sentence ends
  const auto doc = make_doc({{BlockKind::heading, "标题", 1}, {BlockKind::paragraph, cjk}});
  const ChunkOptions options{.max_tokens = 64, .overlap_tokens = 8};
  const auto chunks = chunk_document(doc, tok(), options);
  ASSERT_GT(chunks.size(), 10u);
  EXPECT_EQ(chunks[1].heading_path, (std::vector<std::string>{"标题"}));
  check_invariants(doc, chunks, options);
}

TEST(Chunker, ChunksOfASectionOverlapButNotAcrossHeadings) {
  const auto doc = make_doc({{BlockKind::heading, "One", 1},
                             {BlockKind::paragraph, sentences(60, 5)},
                             {BlockKind::heading, "Two", 1},
                             {BlockKind::paragraph, sentences(60, 6)}});
  const ChunkOptions options{.max_tokens = 120, .overlap_tokens = 30};
  const auto chunks = chunk_document(doc, tok(), options);
  int overlapping = 0;
  for (std::size_t i = 1; i < chunks.size(); ++i) {
    const auto& prev = chunks[i - 1];
    const auto& c = chunks[i];
    if (c.text.starts_with("Two")) {
      EXPECT_GE(c.byte_start, prev.byte_end) << "overlap across a heading";
      continue;
    }
    ASSERT_LT(c.byte_start, prev.byte_end) << "chunk " << i << " does not overlap";
    ++overlapping;
    const std::size_t repeated = tok().count(std::string_view(doc.text).substr(c.byte_start, prev.byte_end - c.byte_start));
    EXPECT_LE(repeated, 30u);
    EXPECT_GE(repeated, 10u);
  }
  EXPECT_GT(overlapping, 10);
  check_invariants(doc, chunks, options);
}

TEST(Chunker, ChunksKeepTheirPage) {
  const auto doc = make_doc({{BlockKind::paragraph, sentences(30, 7), 0, 1},
                             {BlockKind::paragraph, sentences(30, 8), 0, 2},
                             {BlockKind::paragraph, sentences(30, 9), 0, 3}});
  const ChunkOptions options{.max_tokens = 200, .overlap_tokens = 0};
  const auto chunks = chunk_document(doc, tok(), options);
  ASSERT_GE(chunks.size(), 3u);
  EXPECT_EQ(chunks.front().page, 1);
  EXPECT_EQ(chunks.back().page, 3);
  for (const auto& c : chunks) {
    // The page is that of the block holding the chunk's first byte.
    for (const auto& b : doc.blocks) {
      if (c.byte_start >= b.start && c.byte_start < b.end) {
        EXPECT_EQ(c.page, b.page);
      }
    }
  }
  check_invariants(doc, chunks, options);
}

TEST(Chunker, ManyTinyListItemsStayWithinTheLimit) {
  std::vector<Part> parts;
  for (int i = 0; i < 2000; ++i) parts.push_back({BlockKind::list_item, "x" + std::to_string(i % 7)});
  const auto doc = make_doc(parts);
  const ChunkOptions options{.max_tokens = 64, .overlap_tokens = 8};
  const auto chunks = chunk_document(doc, tok(), options);
  check_invariants(doc, chunks, options);
}


// A block's line breaks (list-like lines, addresses, verse) end sentences: a long block of lines
// without punctuation is cut only at line ends.
TEST(Chunker, LineBreaksEndSentences) {
  loaders::DocBuilder b(1u << 30);
  b.begin(BlockKind::paragraph, 0, 0);
  for (int i = 0; i < 120; ++i) {
    b.text("line number " + std::to_string(i) + " has a few words on it");
    b.line_break();
  }
  const ParsedDocument doc = std::move(b).finish(media::plain, "");
  const ChunkOptions options{.max_tokens = 60, .overlap_tokens = 0};
  const auto chunks = chunk_document(doc, tok(), options);
  ASSERT_GT(chunks.size(), 5u);
  for (const auto& c : chunks) {
    EXPECT_TRUE(c.text.starts_with("line number ")) << c.text;
    EXPECT_TRUE(c.text.ends_with(" has a few words on it")) << c.text;
  }
  check_invariants(doc, chunks, options);
}

// Sentence ends followed by closing quotes and brackets, and the CJK full stops (which need no
// space after them), are where a long paragraph is cut.
TEST(Chunker, ClosingQuotesAndCjkFullStopsEndSentences) {
  std::string quoted;
  for (int i = 0; i < 80; ++i) quoted += "She said \"stop number " + std::to_string(i) + "!\" (Twice.) ";
  std::string cjk;
  for (int i = 0; i < 120; ++i) cjk += i % 3 == 0 ? "检索增强生成引用文档。" : i % 3 == 1 ? "这是问题吗？" : "太好了！";
  const auto doc = make_doc({{BlockKind::paragraph, quoted}, {BlockKind::paragraph, cjk}});
  const ChunkOptions options{.max_tokens = 48, .overlap_tokens = 0};
  const auto chunks = chunk_document(doc, tok(), options);
  ASSERT_GT(chunks.size(), 10u);
  for (const auto& c : chunks) {
    const bool western = c.text.ends_with(".)") || c.text.ends_with("!\"");
    const bool eastern = c.text.ends_with("。") || c.text.ends_with("？") || c.text.ends_with("！");
    EXPECT_TRUE(western || eastern) << c.text;
  }
  check_invariants(doc, chunks, options);
}

}  // namespace
}  // namespace aas::knowledge
