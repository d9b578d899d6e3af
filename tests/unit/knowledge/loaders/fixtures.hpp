#pragma once
// Test documents written by the tests themselves: a PDF assembled by hand (objects, xref, trailer)
// and DOCX archives written with libzip, so no binary fixture is committed.

#include <unistd.h>
#include <zip.h>

#include "knowledge/document.hpp"

#include <atomic>
#include <stdexcept>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace aas::knowledge::testing {

// Each block's kind and text, to compare a parse with what it should give.
inline std::vector<std::pair<BlockKind, std::string>> blocks_of(const ParsedDocument& doc) {
  std::vector<std::pair<BlockKind, std::string>> out;
  for (const auto& b : doc.blocks) out.emplace_back(b.kind, doc.text.substr(b.start, b.end - b.start));
  return out;
}

// A PDF whose pages hold the given paragraphs (Helvetica, one line each, a wide gap between them).
inline std::string make_pdf(const std::vector<std::vector<std::string>>& pages, const std::string& title = "") {
  std::vector<std::string> objects;  // object i+1
  const std::size_t n_pages = pages.size();
  // 1 catalog, 2 pages, 3 font, 4 info, then per page: page, contents.
  std::string kids;
  for (std::size_t i = 0; i < n_pages; ++i) kids += std::to_string(5 + 2 * i) + " 0 R ";
  objects.push_back("<< /Type /Catalog /Pages 2 0 R >>");
  objects.push_back("<< /Type /Pages /Kids [" + kids + "] /Count " + std::to_string(n_pages) + " >>");
  objects.push_back("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
  objects.push_back("<< /Title (" + title + ") >>");
  for (std::size_t i = 0; i < n_pages; ++i) {
    objects.push_back("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
                      "/Contents " + std::to_string(6 + 2 * i) + " 0 R >>");
    std::string stream = "BT /F1 12 Tf 72 720 Td";
    for (std::size_t p = 0; p < pages[i].size(); ++p) stream += (p ? " 0 -48 Td (" : " (") + pages[i][p] + ") Tj";
    stream += " ET";
    objects.push_back("<< /Length " + std::to_string(stream.size()) + " >>\nstream\n" + stream + "\nendstream");
  }
  std::string pdf = "%PDF-1.4\n";
  std::vector<std::size_t> offsets;
  for (std::size_t i = 0; i < objects.size(); ++i) {
    offsets.push_back(pdf.size());
    pdf += std::to_string(i + 1) + " 0 obj\n" + objects[i] + "\nendobj\n";
  }
  const std::size_t xref = pdf.size();
  pdf += "xref\n0 " + std::to_string(objects.size() + 1) + "\n0000000000 65535 f \n";
  for (const auto off : offsets) {
    char line[32];
    std::snprintf(line, sizeof line, "%010zu 00000 n \n", off);
    pdf += line;
  }
  pdf += "trailer\n<< /Size " + std::to_string(objects.size() + 1) + " /Root 1 0 R /Info 4 0 R >>\nstartxref\n" +
         std::to_string(xref) + "\n%%EOF\n";
  return pdf;
}

// A ZIP archive of the given entries (name -> bytes), deflated.
inline std::string make_zip(const std::map<std::string, std::string>& entries) {
  static std::atomic<int> counter{0};
  const auto path = std::filesystem::temp_directory_path() /
                    ("aas-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".zip");
  int error = 0;
  zip_t* zip = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
  if (!zip) throw std::runtime_error("zip_open failed");
  for (const auto& [name, bytes] : entries) {
    zip_source_t* src = zip_source_buffer(zip, bytes.data(), bytes.size(), 0);
    if (zip_file_add(zip, name.c_str(), src, ZIP_FL_OVERWRITE) < 0) throw std::runtime_error("zip_file_add failed");
  }
  if (zip_close(zip) != 0) throw std::runtime_error("zip_close failed");
  std::ifstream in(path, std::ios::binary);
  std::stringstream out;
  out << in.rdbuf();
  std::filesystem::remove(path);
  return out.str();
}

inline const char* w_ns = "xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"";

// word/document.xml around the given body XML.
inline std::string docx_document(const std::string& body) {
  return std::string("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<w:document ") + w_ns +
         "><w:body>" + body + "</w:body></w:document>";
}

inline std::string w_p(const std::string& text, const std::string& style = "", bool list = false) {
  std::string ppr;
  if (!style.empty()) ppr += "<w:pStyle w:val=\"" + style + "\"/>";
  if (list) ppr += "<w:numPr><w:ilvl w:val=\"0\"/><w:numId w:val=\"1\"/></w:numPr>";
  return "<w:p>" + (ppr.empty() ? "" : "<w:pPr>" + ppr + "</w:pPr>") + "<w:r><w:t xml:space=\"preserve\">" + text +
         "</w:t></w:r></w:p>";
}

// A DOCX with that body, a styles.xml naming Heading1/Heading2 (and a localised id for level 2),
// and a core.xml title when one is given.
inline std::string make_docx(const std::string& body, const std::string& title = "") {
  std::map<std::string, std::string> files;
  files["[Content_Types].xml"] =
      "<?xml version=\"1.0\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"/>";
  files["word/document.xml"] = docx_document(body);
  files["word/styles.xml"] = std::string("<?xml version=\"1.0\"?><w:styles ") + w_ns +
                             "><w:style w:type=\"paragraph\" w:styleId=\"Heading1\"><w:name w:val=\"heading 1\"/></w:style>"
                             "<w:style w:type=\"paragraph\" w:styleId=\"berschrift2\"><w:name w:val=\"heading 2\"/></w:style>"
                             "<w:style w:type=\"paragraph\" w:styleId=\"Normal\"><w:name w:val=\"Normal\"/></w:style></w:styles>";
  if (!title.empty()) {
    files["docProps/core.xml"] =
        "<?xml version=\"1.0\"?><cp:coreProperties "
        "xmlns:cp=\"http://schemas.openxmlformats.org/package/2006/metadata/core-properties\" "
        "xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><dc:title>" + title + "</dc:title></cp:coreProperties>";
  }
  return make_zip(files);
}

}  // namespace aas::knowledge::testing
