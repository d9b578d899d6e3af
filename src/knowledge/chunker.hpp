#pragma once
// Splits a parsed document into chunks for embedding and search: structure-aware (a heading starts a
// chunk and its text forms the heading path; paragraphs, list items, code blocks and tables stay
// whole when they fit) and token-aware with the exact tokenizer (src/tokens).
//
// Every chunk is a contiguous slice of ParsedDocument::text: text == doc.text.substr(byte_start,
// byte_end - byte_start), so a citation's offsets always point at exactly the cited passage.

#include "knowledge/document.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace aas::tokens { class Tokenizer; }

namespace aas::knowledge {

struct ChunkOptions {
  int max_tokens = 512;     // CHUNK_TOKENS: no chunk has more (counted by the tokenizer on its text)
  int overlap_tokens = 64;  // CHUNK_OVERLAP: at most this many tokens of the previous chunk repeated
                            // at the start of the next one, within a section (never across a heading);
                            // clamped to max_tokens / 2
};

struct Chunk {
  int ordinal = 0;                        // 0, 1, 2 … in document order
  std::string text;                       // doc.text[byte_start, byte_end)
  std::size_t start = 0;                  // Unicode code point offsets into doc.text, [start, end):
  std::size_t end = 0;                    //   what the API reports as "character offsets"
  std::size_t byte_start = 0;             // the same range in UTF-8 bytes
  std::size_t byte_end = 0;
  int page = 0;                           // PDF: the page the chunk starts on (1-based); 0 otherwise
  std::vector<std::string> heading_path;  // the headings above the chunk, outermost first
  int tokens = 0;                         // tokenizer.count(text): exact, <= max_tokens
};

std::vector<Chunk> chunk_document(const ParsedDocument& doc, const tokens::Tokenizer& tokenizer,
                                  const ChunkOptions& options);

}  // namespace aas::knowledge
