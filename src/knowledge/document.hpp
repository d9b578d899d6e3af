#pragma once
// A document as the knowledge base sees it after loading: its extracted text (UTF-8) and the
// structure the chunker needs (headings, paragraphs, list items, code, tables; PDF pages).
//
// Offsets: Block::start/end are UTF-8 BYTE offsets into ParsedDocument::text, always on code point
// boundaries (so text.substr(start, end - start) is valid UTF-8). What users see as "character
// offsets" are Unicode code points; Chunk (chunker.hpp) carries both.
//
// The media type is decided from the bytes, never from a file name or a client's Content-Type.

#include "core/error.hpp"

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace aas::knowledge {

enum class BlockKind { heading, paragraph, list_item, code, table };

std::string_view name(BlockKind kind);

struct Block {
  BlockKind kind = BlockKind::paragraph;
  int level = 0;          // headings: 1..6 (DOCX: 1..9); 0 otherwise
  std::size_t start = 0;  // byte offsets into ParsedDocument::text, [start, end)
  std::size_t end = 0;
  int page = 0;           // 1-based for PDF, 0 otherwise
};

// The media types parse_document reads.
namespace media {
inline constexpr std::string_view plain = "text/plain";
inline constexpr std::string_view markdown = "text/markdown";
inline constexpr std::string_view html = "text/html";
inline constexpr std::string_view pdf = "application/pdf";
inline constexpr std::string_view docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
// What sniff_media_type answers for content none of the loaders reads.
inline constexpr std::string_view zip = "application/zip";
inline constexpr std::string_view binary = "application/octet-stream";
}  // namespace media

struct ParsedDocument {
  std::string media_type;  // one of media::plain … media::docx
  std::string title;       // from the document when it has one (<title>, first # heading, DOCX/PDF metadata); else empty
  std::string text;        // the extracted text, valid UTF-8, "\n" line ends; blocks are separated by blank lines
  std::vector<Block> blocks;  // in document order, non-overlapping, non-empty
  int pages = 0;           // PDF: page count; 0 otherwise
};

struct ParseLimits {
  std::size_t max_input_bytes = 50u << 20;     // the uploaded bytes (413 above)
  std::size_t max_text_bytes = 20u << 20;      // the extracted text (413 above)
  std::size_t max_archive_bytes = 100u << 20;  // DOCX: uncompressed bytes read from the archive (zip-bomb guard)
  std::chrono::milliseconds timeout{30'000};   // PDF: the pdftotext subprocess, killed after this
};

// The media type of `bytes` from their content: one of the media:: constants. Text that is not
// valid UTF-8 (beyond a few stray bytes), or holds NUL bytes, is media::binary.
std::string_view sniff_media_type(std::string_view bytes);

// Sniffs and loads a document. A file that cannot be read fails with a clear message for the user:
// unsupported_media_type (binary, an unknown archive), payload_too_large (over a limit, a zip bomb),
// invalid_request (a corrupt PDF/DOCX, a PDF that timed out).
Result<ParsedDocument> parse_document(std::string_view bytes, const ParseLimits& limits);

}  // namespace aas::knowledge
