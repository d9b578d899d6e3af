// HTML through libxml2's HTML parser (tolerant of real-world markup): script, style, noscript,
// template and the like are dropped; headings, paragraphs, list items, <pre> and tables become blocks;
// the <title> (else the first <h1>) is the title.
#include "knowledge/loaders/builder.hpp"
#include "knowledge/loaders/libs.hpp"
#include "knowledge/loaders/loaders.hpp"
#include "knowledge/utf8.hpp"


#include <array>
#include <memory>

namespace aas::knowledge::loaders {
namespace {

bool is(const xmlNode* n, std::string_view name) {
  return n->name && std::string_view(reinterpret_cast<const char*>(n->name)) == name;
}

bool is_any(const xmlNode* n, std::initializer_list<std::string_view> names) {
  for (const auto name : names) {
    if (is(n, name)) return true;
  }
  return false;
}

std::string content(const xmlNode* n) {
  xmlChar* c = libxml2().xmlNodeGetContent(n);
  std::string out = c ? reinterpret_cast<const char*>(c) : "";
  libxml2().free_xml(c);
  return out;
}

class HtmlWalker {
 public:
  explicit HtmlWalker(std::size_t max_text) : doc_(max_text) {}

  void walk(const xmlNode* node) {
    for (const xmlNode* n = node; n && !doc_.over_limit(); n = n->next) visit(n);
  }

  ParsedDocument finish() && {
    std::string title = std::move(title_);
    if (title.empty()) title = std::move(first_h1_);
    return std::move(doc_).finish(media::html, std::move(title));
  }

 private:
  void visit(const xmlNode* n) {
    if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
      if (n->content) text(reinterpret_cast<const char*>(n->content));
      return;
    }
    if (n->type != XML_ELEMENT_NODE) return;
    if (is(n, "title")) {
      if (title_.empty()) title_ = collapse(content(n));
      return;
    }
    if (is_any(n, {"script", "style", "noscript", "template", "head", "svg", "math", "iframe", "object",
                   "canvas", "select", "button", "input", "textarea"})) {
      if (is(n, "head")) walk_head(n->children);
      return;
    }
    if (n->name && n->name[0] == 'h' && n->name[1] >= '1' && n->name[1] <= '6' && n->name[2] == 0 && !nested()) {
      const int level = n->name[1] - '0';
      doc_.begin(BlockKind::heading, level);
      walk(n->children);
      if (level == 1 && first_h1_.empty()) first_h1_ = collapse(content(n));
      doc_.end();
      return;
    }
    if (is(n, "pre") && !nested()) {
      doc_.begin(BlockKind::code);
      ++pre_;
      walk(n->children);
      --pre_;
      doc_.end();
      return;
    }
    if (is(n, "li") && table_ == 0) {
      ++li_;
      doc_.begin(BlockKind::list_item);
      walk(n->children);
      doc_.end();
      --li_;
      return;
    }
    if (is(n, "table") && table_ == 0) {
      doc_.begin(BlockKind::table);
      ++table_;
      first_row_ = true;
      walk(n->children);
      --table_;
      doc_.end();
      return;
    }
    if (table_ > 0 && is(n, "tr")) {
      if (!first_row_) doc_.line_break();
      first_row_ = false;
      first_cell_ = true;
      walk(n->children);
      return;
    }
    if (table_ > 0 && (is(n, "td") || is(n, "th"))) {
      if (!first_cell_) doc_.raw(" | ");
      first_cell_ = false;
      walk(n->children);
      return;
    }
    if (is(n, "br")) {
      if (pre_ > 0) {
        doc_.text("\n");
      } else if (table_ > 0) {
        doc_.text(" ");
      } else {
        doc_.line_break();
      }
      return;
    }
    if (is_any(n, {"p", "div", "section", "article", "main", "header", "footer", "aside", "nav", "blockquote",
                   "dl", "dd", "dt", "figure", "figcaption", "address", "details", "summary", "form", "fieldset",
                   "center", "ul", "ol", "hr", "body", "html", "h1", "h2", "h3", "h4", "h5", "h6", "pre"})) {
      // A block boundary: inside a list item a line break, inside a table a space (a heading or
      // <pre> nested in one of those comes here too, so its words do not run into the next).
      boundary();
      walk(n->children);
      boundary();
      return;
    }
    walk(n->children);  // inline elements: a, span, em, strong, code, …
  }

  void walk_head(const xmlNode* n) {
    for (; n; n = n->next) {
      if (n->type == XML_ELEMENT_NODE && is(n, "title") && title_.empty()) title_ = collapse(content(n));
    }
  }

  bool nested() const { return li_ > 0 || table_ > 0 || pre_ > 0; }

  void boundary() {
    if (table_ > 0) {
      doc_.text(" ");
    } else if (li_ > 0) {
      doc_.line_break();
    } else if (pre_ == 0) {
      doc_.end();
    }
  }

  void text(std::string_view s) {
    if (pre_ > 0) {
      doc_.text(s, BlockKind::code);
    } else {
      doc_.text(s);
    }
  }

  static std::string collapse(std::string_view s) {
    DocBuilder b(s.size() + 1);
    b.text(s);
    return std::move(b).finish("", "").text;
  }

  DocBuilder doc_;
  std::string title_;
  std::string first_h1_;
  int li_ = 0;
  int table_ = 0;
  int pre_ = 0;
  bool first_row_ = true;
  bool first_cell_ = true;
};

}  // namespace

Result<ParsedDocument> load_html(std::string_view bytes, const ParseLimits& limits) {
  // UTF-8 unless the page declares another charset (<meta charset>), which libxml2 then honours.
  const bool utf8 = detail::invalid_utf8_bytes(bytes) == 0;
  std::unique_ptr<xmlDoc, decltype(libxml2().xmlFreeDoc)> html(
      libxml2().htmlReadMemory(bytes.data(), static_cast<int>(bytes.size()), nullptr, utf8 ? "UTF-8" : nullptr,
                     HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_NONET),
      libxml2().xmlFreeDoc);
  if (!html) return make_error(errc::invalid_request, "the HTML document could not be parsed");
  HtmlWalker walker(limits.max_text_bytes);
  walker.walk(libxml2().xmlDocGetRootElement(html.get()));
  auto doc = std::move(walker).finish();
  if (doc.text.size() > limits.max_text_bytes) return text_too_large(limits);
  return doc;
}

}  // namespace aas::knowledge::loaders
