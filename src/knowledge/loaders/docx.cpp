// DOCX (Office Open XML): libzip opens the archive, libxml2 reads word/document.xml (paragraphs,
// heading styles, list paragraphs, tables), word/styles.xml (which styles are headings) and
// docProps/core.xml (the title).
//
// Zip-bomb guard: at most max_docx_entries entries; every entry's declared uncompressed size, and their
// sum, within limits.max_archive_bytes; a part's compression ratio at most max_docx_ratio; and the bytes
// actually inflated counted against the same budget (a lying header stops at the budget, not after).
#include "knowledge/loaders/builder.hpp"
#include "knowledge/loaders/libs.hpp"
#include "knowledge/loaders/loaders.hpp"


#include <cctype>
#include <map>
#include <memory>
#include <optional>

namespace aas::knowledge::loaders {
namespace {

constexpr zip_int64_t max_docx_entries = 10'000;
constexpr std::uint64_t max_docx_ratio = 200;  // deflate reaches ~1000:1 only on degenerate input

Error corrupt(std::string detail) {
  return make_error(errc::invalid_request, "the Word document (DOCX) is corrupt and could not be read",
                    std::move(detail));
}
Error bomb(const ParseLimits& limits) {
  return make_error(errc::payload_too_large, "the Word document (DOCX) expands to more than " +
                                                 std::to_string(limits.max_archive_bytes) +
                                                 " bytes or is compressed suspiciously well (a zip bomb?)");
}

struct ZipCloser {
  void operator()(zip_t* z) const { libzip().zip_discard(z); }
};
struct FileCloser {
  void operator()(zip_file_t* f) const { libzip().zip_fclose(f); }
};
struct DocFree {
  void operator()(xmlDoc* d) const { libxml2().xmlFreeDoc(d); }
};
using XmlDoc = std::unique_ptr<xmlDoc, DocFree>;

class Archive {
 public:
  Archive(zip_t* zip, const ParseLimits& limits) : zip_(zip), limits_(limits) {}

  // The entry's bytes, nullopt when it is absent; an error when reading it breaks a limit.
  Result<std::optional<std::string>> read(const char* name) {
    const zip_int64_t index = libzip().zip_name_locate(zip_.get(), name, 0);
    if (index < 0) return std::optional<std::string>();
    zip_stat_t st;
    libzip().zip_stat_init(&st);
    if (libzip().zip_stat_index(zip_.get(), static_cast<zip_uint64_t>(index), 0, &st) != 0) return corrupt(libzip().zip_strerror(zip_.get()));
    if (st.size > budget()) return bomb(limits_);
    if (st.size > (1u << 20) && st.size / std::max<zip_uint64_t>(st.comp_size, 1) > max_docx_ratio) return bomb(limits_);
    std::unique_ptr<zip_file_t, FileCloser> file(libzip().zip_fopen_index(zip_.get(), static_cast<zip_uint64_t>(index), 0));
    if (!file) return corrupt(std::string(name) + ": " + libzip().zip_strerror(zip_.get()));
    std::string out;
    char buf[64 * 1024];
    for (;;) {
      const zip_int64_t n = libzip().zip_fread(file.get(), buf, sizeof buf);
      if (n < 0) return corrupt(std::string(name) + ": " + libzip().zip_file_strerror(file.get()));
      if (n == 0) break;
      out.append(buf, static_cast<std::size_t>(n));
      // Counted as inflated, whatever the header declared.
      if (out.size() > st.size || out.size() > budget()) return bomb(limits_);
    }
    read_ += out.size();
    return std::optional<std::string>(std::move(out));
  }

 private:
  std::size_t budget() const { return limits_.max_archive_bytes - std::min(read_, limits_.max_archive_bytes); }

  std::unique_ptr<zip_t, ZipCloser> zip_;
  const ParseLimits& limits_;
  std::size_t read_ = 0;
};

XmlDoc parse_xml(const std::string& xml) {
  // No network, no entity substitution (external entities never load; libxml2 caps entity expansion).
  return XmlDoc(libxml2().xmlReadMemory(xml.data(), static_cast<int>(xml.size()), nullptr, nullptr,
                              XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
}

bool is(const xmlNode* n, std::string_view local) {
  return n && n->type == XML_ELEMENT_NODE && std::string_view(reinterpret_cast<const char*>(n->name)) == local;
}

const xmlNode* child(const xmlNode* n, std::string_view local) {
  for (const xmlNode* c = n ? n->children : nullptr; c; c = c->next) {
    if (is(c, local)) return c;
  }
  return nullptr;
}

// The w:val (any prefix) of an element.
std::string val(const xmlNode* n) {
  if (!n) return {};
  for (const xmlAttr* a = n->properties; a; a = a->next) {
    if (std::string_view(reinterpret_cast<const char*>(a->name)) == "val" && a->children && a->children->content) {
      return reinterpret_cast<const char*>(a->children->content);
    }
  }
  return {};
}

std::string text_of(const xmlNode* n) {
  xmlChar* c = libxml2().xmlNodeGetContent(n);
  std::string out = c ? reinterpret_cast<const char*>(c) : "";
  libxml2().free_xml(c);
  return out;
}

// Paragraph style id -> heading level (1..9; "Title" is 1), from the style names Word writes in
// every language ("heading 1") and their outline levels.
std::map<std::string, int> heading_styles(const xmlDoc* styles) {
  std::map<std::string, int> out;
  if (!styles) return out;
  for (const xmlNode* s = libxml2().xmlDocGetRootElement(styles)->children; s; s = s->next) {
    if (!is(s, "style")) continue;
    std::string id;
    for (const xmlAttr* a = s->properties; a; a = a->next) {
      if (std::string_view(reinterpret_cast<const char*>(a->name)) == "styleId" && a->children && a->children->content) {
        id = reinterpret_cast<const char*>(a->children->content);
      }
    }
    std::string name = val(child(s, "name"));
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    int level = 0;
    if (name == "title") {
      level = 1;
    } else if (name.size() == 9 && name.starts_with("heading ") && name[8] >= '1' && name[8] <= '9') {
      level = name[8] - '0';
    } else if (const std::string outline = val(child(child(s, "pPr"), "outlineLvl")); !outline.empty()) {
      const int l = std::atoi(outline.c_str());
      if (l >= 0 && l <= 8) level = l + 1;
    }
    if (level > 0 && !id.empty()) out[id] = level;
  }
  return out;
}

class DocxWalker {
 public:
  DocxWalker(std::size_t max_text, std::map<std::string, int> headings)
      : doc_(max_text), headings_(std::move(headings)) {}

  void body(const xmlNode* body) {
    for (const xmlNode* n = body ? body->children : nullptr; n && !doc_.over_limit(); n = n->next) block(n);
  }

  DocBuilder& builder() { return doc_; }

 private:
  void block(const xmlNode* n) {
    if (is(n, "p")) {
      paragraph(n);
    } else if (is(n, "tbl")) {
      doc_.begin(BlockKind::table);
      bool first_row = true;
      for (const xmlNode* tr = n->children; tr; tr = tr->next) {
        if (!is(tr, "tr")) continue;
        if (!first_row) doc_.line_break();
        first_row = false;
        bool first_cell = true;
        for (const xmlNode* tc = tr->children; tc; tc = tc->next) {
          if (!is(tc, "tc")) continue;
          if (!first_cell) doc_.raw(" | ");
          first_cell = false;
          runs(tc, true);
        }
      }
      doc_.end();
    } else if (is(n, "sdt")) {  // a content control: its content is ordinary blocks
      if (const xmlNode* c = child(n, "sdtContent")) {
        for (const xmlNode* b = c->children; b; b = b->next) block(b);
      }
    }
  }

  void paragraph(const xmlNode* p) {
    const xmlNode* ppr = child(p, "pPr");
    int level = 0;
    if (const auto it = headings_.find(val(child(ppr, "pStyle"))); it != headings_.end()) level = it->second;
    if (const std::string outline = val(child(ppr, "outlineLvl")); level == 0 && !outline.empty()) {
      const int l = std::atoi(outline.c_str());
      if (l >= 0 && l <= 8) level = l + 1;
    }
    if (level > 0) {
      doc_.begin(BlockKind::heading, level);
    } else if (child(ppr, "numPr")) {
      doc_.begin(BlockKind::list_item);
    } else {
      doc_.begin(BlockKind::paragraph);
    }
    runs(p, false);
    doc_.end();
  }

  // The text of runs under n: w:t, tabs and breaks; deleted text and field codes left out. In a
  // table cell, paragraphs are separated by spaces.
  void runs(const xmlNode* n, bool in_cell) {
    for (const xmlNode* c = n->children; c; c = c->next) {
      if (c->type != XML_ELEMENT_NODE) continue;
      if (is(c, "t")) {
        doc_.text(text_of(c));
      } else if (is(c, "tab")) {
        doc_.text(" ");
      } else if (is(c, "br") || is(c, "cr")) {
        if (in_cell) {
          doc_.text(" ");
        } else {
          doc_.line_break();
        }
      } else if (is(c, "p") || is(c, "tbl") || is(c, "tr") || is(c, "tc")) {
        // Paragraphs, and a table in a cell (flattened into the cell), its rows and its cells,
        // are words apart (the builder drops a space where one is already, or nothing precedes).
        doc_.text(" ");
        runs(c, in_cell || is(c, "tbl"));
      } else if (is(c, "del") || is(c, "instrText") || is(c, "delText") || is(c, "pPr") || is(c, "rPr")) {
        continue;
      } else {
        runs(c, in_cell);  // r, hyperlink, ins, smartTag, sdt, sdtContent, fldSimple, …
      }
    }
  }

  DocBuilder doc_;
  std::map<std::string, int> headings_;
};

}  // namespace

Result<ParsedDocument> load_docx(std::string_view bytes, const ParseLimits& limits) {
  zip_error_t error;
  libzip().zip_error_init(&error);
  zip_source_t* source = libzip().zip_source_buffer_create(bytes.data(), bytes.size(), 0, &error);
  if (!source) return corrupt(libzip().zip_error_strerror(&error));
  zip_t* raw = libzip().zip_open_from_source(source, ZIP_RDONLY | ZIP_CHECKCONS, &error);
  if (!raw) {
    libzip().zip_source_free(source);
    const std::string detail = libzip().zip_error_strerror(&error);
    libzip().zip_error_fini(&error);
    return corrupt(detail);
  }
  Archive archive(raw, limits);
  const zip_int64_t entries = libzip().zip_get_num_entries(raw, 0);
  if (entries > max_docx_entries) return bomb(limits);
  std::uint64_t declared = 0;
  for (zip_int64_t i = 0; i < entries; ++i) {
    zip_stat_t st;
    libzip().zip_stat_init(&st);
    if (libzip().zip_stat_index(raw, static_cast<zip_uint64_t>(i), 0, &st) == 0 && (st.valid & ZIP_STAT_SIZE)) declared += st.size;
  }
  if (declared > limits.max_archive_bytes) return bomb(limits);

  auto document = archive.read("word/document.xml");
  if (!document) return document.error();
  if (!*document) return make_error(errc::unsupported_media_type, "the ZIP archive is not a Word document (DOCX)");
  auto styles_xml = archive.read("word/styles.xml");
  if (!styles_xml) return styles_xml.error();
  auto core_xml = archive.read("docProps/core.xml");
  if (!core_xml) return core_xml.error();

  const XmlDoc xml = parse_xml(**document);
  const xmlNode* root = xml ? libxml2().xmlDocGetRootElement(xml.get()) : nullptr;
  if (!root || !is(root, "document")) return corrupt("word/document.xml is not a WordprocessingML document");
  const XmlDoc styles = *styles_xml ? parse_xml(**styles_xml) : XmlDoc();
  DocxWalker walker(limits.max_text_bytes, heading_styles(styles.get()));
  walker.body(child(root, "body"));
  if (walker.builder().over_limit()) return text_too_large(limits);

  std::string title;
  if (*core_xml) {
    if (const XmlDoc core = parse_xml(**core_xml)) {
      for (const xmlNode* n = libxml2().xmlDocGetRootElement(core.get()); n && n->children; n = nullptr) {
        if (const xmlNode* t = child(n, "title")) title = text_of(t);
      }
    }
  }
  auto doc = std::move(walker.builder()).finish(media::docx, "");
  if (title.empty()) {
    for (const Block& b : doc.blocks) {
      if (b.kind == BlockKind::heading && b.level == 1) {
        title = doc.text.substr(b.start, b.end - b.start);
        break;
      }
    }
  }
  doc.title = std::move(title);
  return doc;
}

}  // namespace aas::knowledge::loaders
