// Plain text: the text is the file itself (UTF-8, "\n" line ends), so offsets point into what the
// user uploaded; paragraphs are the runs of non-blank lines.
#include "knowledge/loaders/loaders.hpp"

namespace aas::knowledge::loaders {
namespace {

bool blank(std::string_view line) { return line.find_first_not_of(" \t\f\v") == std::string_view::npos; }

}  // namespace

Result<ParsedDocument> load_text(std::string_view bytes, const ParseLimits& limits) {
  auto text = normalise_text(bytes);
  if (!text) return text.error();
  if (text->size() > limits.max_text_bytes) return text_too_large(limits);
  ParsedDocument doc;
  doc.media_type = std::string(media::plain);
  doc.text = std::move(*text);
  const std::string_view all = doc.text;
  std::size_t pos = 0;
  std::size_t para_start = std::string_view::npos;
  std::size_t para_end = 0;
  while (pos <= all.size()) {
    auto nl = all.find('\n', pos);
    if (nl == std::string_view::npos) nl = all.size();
    const std::string_view line = all.substr(pos, nl - pos);
    if (blank(line)) {
      if (para_start != std::string_view::npos) {
        doc.blocks.push_back(Block{BlockKind::paragraph, 0, para_start, para_end, 0});
        para_start = std::string_view::npos;
      }
    } else {
      const std::size_t lead = line.find_first_not_of(" \t\f\v");
      const std::size_t trail = line.find_last_not_of(" \t\f\v");
      if (para_start == std::string_view::npos) para_start = pos + lead;
      para_end = pos + trail + 1;
    }
    pos = nl + 1;
  }
  if (para_start != std::string_view::npos) doc.blocks.push_back(Block{BlockKind::paragraph, 0, para_start, para_end, 0});
  return doc;
}

}  // namespace aas::knowledge::loaders
