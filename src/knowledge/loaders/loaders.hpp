#pragma once
// One loader per media type, each turning the bytes into a ParsedDocument. Called by
// parse_document (document.cpp) once the type is sniffed and the input size checked.
// Internal to src/knowledge.

#include "knowledge/document.hpp"

#include <string_view>

namespace aas::knowledge::loaders {

Result<ParsedDocument> load_text(std::string_view bytes, const ParseLimits& limits);
Result<ParsedDocument> load_markdown(std::string_view bytes, const ParseLimits& limits);
Result<ParsedDocument> load_html(std::string_view bytes, const ParseLimits& limits);
Result<ParsedDocument> load_docx(std::string_view bytes, const ParseLimits& limits);
Result<ParsedDocument> load_pdf(std::string_view bytes, const ParseLimits& limits);

// Text input as UTF-8 with "\n" line ends and no BOM, or the unsupported_media_type error of a
// binary file posing as text (NUL bytes, or more than a few invalid UTF-8 bytes; the few are
// replaced by U+FFFD).
Result<std::string> normalise_text(std::string_view bytes);

// The error of extracted text over limits.max_text_bytes.
Error text_too_large(const ParseLimits& limits);

}  // namespace aas::knowledge::loaders
