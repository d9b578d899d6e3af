#pragma once
// Assembles ParsedDocument::text and its blocks for the loaders that extract text from markup
// (Markdown, HTML, DOCX, PDF): blocks are separated by a blank line; outside code blocks, runs of
// whitespace collapse to one space and are trimmed at the block's ends. Internal to src/knowledge.

#include "knowledge/document.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace aas::knowledge::loaders {

class DocBuilder {
 public:
  explicit DocBuilder(std::size_t max_text_bytes) : max_text_bytes_(max_text_bytes) {}

  // Starts a block, ending the open one first. An empty block (whitespace only) leaves no trace.
  void begin(BlockKind kind, int level = 0, int page = 0);
  void end();
  bool in_block() const { return open_; }
  BlockKind kind() const { return kind_; }

  // Text of the open block (a block of `fallback` kind is begun when none is open). Code blocks
  // keep it verbatim; other blocks collapse its whitespace.
  void text(std::string_view s, BlockKind fallback = BlockKind::paragraph);
  // A line break inside the open block (list item paragraphs, <br>, table rows).
  void line_break();
  // Appended verbatim, e.g. a table's " | " cell separator.
  void raw(std::string_view s);

  // Whether the text has grown beyond max_text_bytes (the loader then fails the document).
  bool over_limit() const { return doc_.text.size() > max_text_bytes_; }

  ParsedDocument finish(std::string_view media_type, std::string title) &&;

 private:
  void open_content();
  void append(std::string_view s);

  std::size_t max_text_bytes_;
  ParsedDocument doc_;
  bool open_ = false;
  bool started_ = false;       // the open block has content (its separator is written)
  bool pending_space_ = false; // collapsed whitespace waiting for the next visible character
  BlockKind kind_ = BlockKind::paragraph;
  int level_ = 0;
  int page_ = 0;
  std::size_t start_ = 0;
};

}  // namespace aas::knowledge::loaders
