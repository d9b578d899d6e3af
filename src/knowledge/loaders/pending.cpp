// Loaders still being written on this branch (kbparse): each answers a clear 415 until it lands.
#include "knowledge/loaders/loaders.hpp"

namespace aas::knowledge::loaders {
namespace {
Error pending(std::string_view what) {
  return make_error(errc::unsupported_media_type, std::string(what) + " documents are not supported yet");
}
}  // namespace

Result<ParsedDocument> load_markdown(std::string_view bytes, const ParseLimits& limits) { return load_text(bytes, limits); }
Result<ParsedDocument> load_html(std::string_view, const ParseLimits&) { return pending("HTML"); }
Result<ParsedDocument> load_docx(std::string_view, const ParseLimits&) { return pending("DOCX"); }
Result<ParsedDocument> load_pdf(std::string_view, const ParseLimits&) { return pending("PDF"); }

}  // namespace aas::knowledge::loaders
