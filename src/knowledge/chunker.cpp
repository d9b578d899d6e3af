#include "knowledge/chunker.hpp"

#include "knowledge/utf8.hpp"
#include "tokens/tokenizer.hpp"

namespace aas::knowledge {

// First version: whole blocks packed greedily up to max_tokens, a heading starts a chunk.
// Sentence splitting and overlap follow.
std::vector<Chunk> chunk_document(const ParsedDocument& doc, const tokens::Tokenizer& tokenizer,
                                  const ChunkOptions& options) {
  std::vector<Chunk> chunks;
  std::vector<std::string> path;
  std::vector<int> levels;
  const std::string_view text = doc.text;
  std::size_t cur_start = 0, cur_end = 0;
  bool open = false;
  int page = 0;
  std::vector<std::string> cur_path;
  auto flush = [&] {
    if (!open) return;
    Chunk c;
    c.ordinal = static_cast<int>(chunks.size());
    c.byte_start = cur_start;
    c.byte_end = cur_end;
    c.text = std::string(text.substr(cur_start, cur_end - cur_start));
    c.start = detail::code_points(text.substr(0, cur_start));
    c.end = c.start + detail::code_points(c.text);
    c.page = page;
    c.heading_path = cur_path;
    c.tokens = static_cast<int>(tokenizer.count(c.text));
    chunks.push_back(std::move(c));
    open = false;
  };
  for (const Block& b : doc.blocks) {
    if (b.kind == BlockKind::heading) {
      flush();
      while (!levels.empty() && levels.back() >= b.level) levels.pop_back(), path.pop_back();
      levels.push_back(b.level);
      path.emplace_back(text.substr(b.start, b.end - b.start));
    }
    if (open && tokenizer.count(text.substr(cur_start, b.end - cur_start)) <= static_cast<std::size_t>(options.max_tokens)) {
      cur_end = b.end;
      continue;
    }
    flush();
    open = true;
    cur_start = b.start;
    cur_end = b.end;
    page = b.page;
    cur_path = path;
  }
  flush();
  return chunks;
}

}  // namespace aas::knowledge
