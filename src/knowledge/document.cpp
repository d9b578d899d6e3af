#include "knowledge/document.hpp"

#include "core/shared_library.hpp"

#include "knowledge/loaders/loaders.hpp"
#include "knowledge/utf8.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace aas::knowledge {
namespace {

bool starts_with_icase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

// The WHATWG MIME Sniffing Standard's HTML signatures: after leading whitespace, one of these
// followed by a space or '>'.
bool looks_like_html(std::string_view s) {
  if (s.starts_with("\xEF\xBB\xBF")) s.remove_prefix(3);
  const auto first = s.find_first_not_of(" \t\n\r\f");
  if (first == std::string_view::npos) return false;
  s.remove_prefix(first);
  if (starts_with_icase(s, "<!--")) return true;
  static constexpr std::array tags{"<!doctype html", "<html", "<head", "<script", "<iframe", "<h1", "<div",
                                   "<font", "<table", "<a", "<style", "<title", "<b", "<body", "<br", "<p"};
  for (const std::string_view tag : tags) {
    if (starts_with_icase(s, tag) && s.size() > tag.size() && (s[tag.size()] == ' ' || s[tag.size()] == '>')) {
      return true;
    }
  }
  return false;
}

// Markdown is text with Markdown's marks: an ATX heading, a fence, or two other signs (lists,
// links, emphasis, block quotes, setext underlines). Plain text that happens to match parses
// as Markdown harmlessly; the reverse would keep the marks in the text.
bool looks_like_markdown(std::string_view s) {
  int signs = 0;
  std::size_t pos = 0;
  int lines = 0;
  while (pos < s.size() && lines < 2000) {
    auto nl = s.find('\n', pos);
    if (nl == std::string_view::npos) nl = s.size();
    std::string_view line = s.substr(pos, nl - pos);
    pos = nl + 1;
    ++lines;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const auto indent = line.find_first_not_of(' ');
    if (indent == std::string_view::npos || indent > 3) continue;
    line.remove_prefix(indent);
    if (line.starts_with("```") || line.starts_with("~~~")) return true;
    const auto hashes = line.find_first_not_of('#');
    if (hashes >= 1 && hashes <= 6 && hashes != std::string_view::npos && line[hashes] == ' ') return true;
    if (line.starts_with("- ") || line.starts_with("* ") || line.starts_with("+ ") || line.starts_with("> ")) ++signs;
    if (line.find("](") != std::string_view::npos) ++signs;
    if (line.find("**") != std::string_view::npos || line.find("__") != std::string_view::npos) ++signs;
    if (line.size() >= 3 && line.find_first_not_of('=') == std::string_view::npos) ++signs;
    if (line.starts_with("|") && line.find("---") != std::string_view::npos) ++signs;
    if (signs >= 2) return true;
  }
  return false;
}

}  // namespace

std::string_view name(BlockKind kind) {
  switch (kind) {
    case BlockKind::heading: return "heading";
    case BlockKind::paragraph: return "paragraph";
    case BlockKind::list_item: return "list_item";
    case BlockKind::code: return "code";
    case BlockKind::table: return "table";
  }
  return "paragraph";
}

std::string_view sniff_media_type(std::string_view bytes) {
  // PDF readers accept the header anywhere in the first KiB.
  if (bytes.substr(0, 1024).find("%PDF-") != std::string_view::npos) return media::pdf;
  if (bytes.starts_with("PK\x03\x04")) {
    // The central directory stores entry names uncompressed: a DOCX has word/document.xml.
    return bytes.find("word/document.xml") != std::string_view::npos ? media::docx : media::zip;
  }
  if (bytes.find('\0') != std::string_view::npos) return media::binary;
  const std::size_t invalid = detail::invalid_utf8_bytes(bytes);
  // A few stray bytes (a Latin-1 "é" in an otherwise UTF-8 file) are tolerated and replaced; more
  // means the file is not text.
  if (invalid > 8 + bytes.size() / 100) return media::binary;
  if (looks_like_html(bytes)) return media::html;
  if (looks_like_markdown(bytes)) return media::markdown;
  return media::plain;
}

namespace {

Result<ParsedDocument> parse_by_type(std::string_view type, std::string_view bytes, const ParseLimits& limits) {
  if (type == media::pdf) return loaders::load_pdf(bytes, limits);
  if (type == media::docx) return loaders::load_docx(bytes, limits);
  if (type == media::html) return loaders::load_html(bytes, limits);
  if (type == media::markdown) return loaders::load_markdown(bytes, limits);
  if (type == media::plain) return loaders::load_text(bytes, limits);
  if (type == media::zip) {
    return make_error(errc::unsupported_media_type, "the file is a ZIP archive but not a Word document (DOCX)");
  }
  return make_error(errc::unsupported_media_type,
                    "the file is not a supported document: plain text, Markdown, HTML, PDF or DOCX "
                    "(it looks binary)");
}

}  // namespace

Result<ParsedDocument> parse_document(std::string_view bytes, const ParseLimits& limits) {
  if (bytes.size() > limits.max_input_bytes) {
    return make_error(errc::payload_too_large,
                      "the file is larger than the limit of " + std::to_string(limits.max_input_bytes) + " bytes");
  }
  const std::string_view type = sniff_media_type(bytes);
  try {
    return parse_by_type(type, bytes, limits);
  } catch (const core::LibraryUnavailable& e) {
    // The parser's library is opened on first use (loaders/libs.hpp) and is not installed.
    return make_error(errc::unavailable, "this server cannot read " + std::string(type) + " documents",
                      e.what());
  }
}

namespace loaders {

Error text_too_large(const ParseLimits& limits) {
  return make_error(errc::payload_too_large, "the document's text is larger than the limit of " +
                                                 std::to_string(limits.max_text_bytes) + " bytes");
}

Result<std::string> normalise_text(std::string_view bytes) {
  if (bytes.starts_with("\xEF\xBB\xBF")) bytes.remove_prefix(3);
  if (bytes.find('\0') != std::string_view::npos) {
    return make_error(errc::unsupported_media_type, "the file is not text: it contains NUL bytes");
  }
  const std::size_t invalid = detail::invalid_utf8_bytes(bytes);
  if (invalid > 8 + bytes.size() / 100) {
    return make_error(errc::unsupported_media_type, "the file is not UTF-8 text");
  }
  std::string text = invalid ? detail::replace_invalid_utf8(bytes) : std::string(bytes);
  detail::normalise_newlines(text);
  return text;
}

}  // namespace loaders
}  // namespace aas::knowledge
