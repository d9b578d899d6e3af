// Markdown through md4c (CommonMark + GitHub's tables, strikethrough, task lists): the text is the
// rendered text without the marks; raw HTML in the Markdown is dropped.
#include "knowledge/loaders/builder.hpp"
#include "knowledge/loaders/libs.hpp"
#include "knowledge/loaders/loaders.hpp"
#include "knowledge/utf8.hpp"


#include <charconv>

namespace aas::knowledge::loaders {
namespace {

struct MarkdownState {
  explicit MarkdownState(std::size_t max_text) : doc(max_text) {}
  DocBuilder doc;
  std::string title;
  bool in_h1 = false;
  int li_depth = 0;
  bool first_row = true;
  bool first_cell = true;
  int skip = 0;  // inside a raw HTML block
};

// "&amp;", "&#233;", "&#xE9;" -> UTF-8; an unknown name stays as written.
std::string decode_entity(std::string_view e) {
  std::string out;
  if (e.size() >= 3 && e[1] == '#') {
    unsigned value = 0;
    const bool hex = e[2] == 'x' || e[2] == 'X';
    const char* first = e.data() + (hex ? 3 : 2);
    const auto [ptr, ec] = std::from_chars(first, e.data() + e.size() - 1, value, hex ? 16 : 10);
    if (ec == std::errc() && value > 0 && value <= 0x10FFFF && !(value >= 0xD800 && value <= 0xDFFF)) {
      detail::append_utf8(out, value);
    } else {
      detail::append_utf8(out, 0xFFFD);
    }
    return out;
  }
  const std::string name(e.substr(1, e.size() >= 2 ? e.size() - 2 : 0));
  if (const htmlEntityDesc* d = libxml2().htmlEntityLookup(reinterpret_cast<const xmlChar*>(name.c_str()))) {
    detail::append_utf8(out, d->value);
    return out;
  }
  return std::string(e);
}

int enter_block(MD_BLOCKTYPE type, void* detail, void* user) {
  auto& s = *static_cast<MarkdownState*>(user);
  switch (type) {
    case MD_BLOCK_H: {
      const int level = static_cast<int>(static_cast<MD_BLOCK_H_DETAIL*>(detail)->level);
      s.doc.begin(BlockKind::heading, level);
      s.in_h1 = level == 1 && s.title.empty();
      break;
    }
    case MD_BLOCK_P:
      if (s.li_depth > 0 && s.doc.in_block() && s.doc.kind() == BlockKind::list_item) {
        s.doc.line_break();  // a list item's second paragraph stays in the item
      } else {
        s.doc.begin(BlockKind::paragraph);
      }
      break;
    case MD_BLOCK_LI:
      ++s.li_depth;
      s.doc.begin(BlockKind::list_item);
      break;
    case MD_BLOCK_CODE: s.doc.begin(BlockKind::code); break;
    case MD_BLOCK_TABLE:
      s.doc.begin(BlockKind::table);
      s.first_row = true;
      break;
    case MD_BLOCK_TR:
      if (!s.first_row) s.doc.line_break();
      s.first_row = false;
      s.first_cell = true;
      break;
    case MD_BLOCK_TH:
    case MD_BLOCK_TD:
      if (!s.first_cell) s.doc.raw(" | ");
      s.first_cell = false;
      break;
    case MD_BLOCK_HTML: ++s.skip; break;
    case MD_BLOCK_HR: s.doc.end(); break;
    default: break;
  }
  return s.doc.over_limit() ? 1 : 0;
}

int leave_block(MD_BLOCKTYPE type, void*, void* user) {
  auto& s = *static_cast<MarkdownState*>(user);
  switch (type) {
    case MD_BLOCK_H:
      s.doc.end();
      s.in_h1 = false;
      break;
    case MD_BLOCK_P:
      if (!(s.li_depth > 0 && s.doc.in_block() && s.doc.kind() == BlockKind::list_item)) s.doc.end();
      break;
    case MD_BLOCK_LI:
      --s.li_depth;
      s.doc.end();
      break;
    case MD_BLOCK_CODE:
    case MD_BLOCK_TABLE: s.doc.end(); break;
    case MD_BLOCK_HTML: --s.skip; break;
    default: break;
  }
  return 0;
}

int on_span(MD_SPANTYPE, void*, void*) { return 0; }

int on_text(MD_TEXTTYPE type, const MD_CHAR* text, MD_SIZE size, void* user) {
  auto& s = *static_cast<MarkdownState*>(user);
  if (s.skip > 0) return 0;
  const std::string_view t(text, size);
  std::string piece;
  switch (type) {
    case MD_TEXT_NORMAL:
    case MD_TEXT_CODE:
    case MD_TEXT_LATEXMATH: piece = std::string(t); break;
    case MD_TEXT_ENTITY: piece = decode_entity(t); break;
    case MD_TEXT_NULLCHAR: piece = "\xEF\xBF\xBD"; break;
    case MD_TEXT_SOFTBR: piece = " "; break;
    case MD_TEXT_BR: s.doc.line_break(); return 0;
    case MD_TEXT_HTML: return 0;  // inline tags: their text, if any, comes as normal text
  }
  s.doc.text(piece);
  if (s.in_h1) s.title += piece;
  return s.doc.over_limit() ? 1 : 0;
}

}  // namespace

Result<ParsedDocument> load_markdown(std::string_view bytes, const ParseLimits& limits) {
  auto text = normalise_text(bytes);
  if (!text) return text.error();
  MarkdownState state(limits.max_text_bytes);
  MD_PARSER parser{};
  parser.flags = MD_DIALECT_GITHUB;
  parser.enter_block = enter_block;
  parser.leave_block = leave_block;
  parser.enter_span = on_span;
  parser.leave_span = on_span;
  parser.text = on_text;
  const int rc = md4c().md_parse(text->data(), static_cast<MD_SIZE>(text->size()), &parser, &state);
  if (state.doc.over_limit()) return text_too_large(limits);
  if (rc != 0) return make_error(errc::internal, "the Markdown could not be parsed", "md_parse returned " + std::to_string(rc));
  return std::move(state.doc).finish(media::markdown, std::move(state.title));
}

}  // namespace aas::knowledge::loaders
