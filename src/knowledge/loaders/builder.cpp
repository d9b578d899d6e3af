#include "knowledge/loaders/builder.hpp"

#include "knowledge/utf8.hpp"

namespace aas::knowledge::loaders {

using detail::is_ascii_space;

void DocBuilder::begin(BlockKind kind, int level, int page) {
  end();
  open_ = true;
  started_ = false;
  pending_space_ = false;
  kind_ = kind;
  level_ = level;
  page_ = page;
}

void DocBuilder::end() {
  if (!open_) return;
  open_ = false;
  if (!started_) return;
  auto& text = doc_.text;
  while (text.size() > start_ && is_ascii_space(text.back())) text.pop_back();
  if (text.size() == start_) {  // only whitespace after all: take the separator back too
    text.resize(start_ == 0 ? 0 : start_ - 2);
    return;
  }
  doc_.blocks.push_back(Block{kind_, level_, start_, text.size(), page_});
}

void DocBuilder::open_content() {
  if (started_) return;
  started_ = true;
  if (!doc_.text.empty()) doc_.text += "\n\n";
  start_ = doc_.text.size();
}

void DocBuilder::append(std::string_view s) {
  if (s.empty()) return;
  open_content();
  doc_.text.append(s);
}

void DocBuilder::text(std::string_view s, BlockKind fallback) {
  if (!open_) begin(fallback, 0, page_);
  if (kind_ == BlockKind::code) {
    // Verbatim, with "\r\n" and "\r" as "\n"; leading blank lines dropped.
    std::string out(s);
    detail::normalise_newlines(out);
    if (!started_) {
      const auto first = out.find_first_not_of('\n');
      if (first == std::string::npos) return;
      out.erase(0, first);
    }
    append(out);
    return;
  }
  std::size_t i = 0;
  while (i < s.size()) {
    if (is_ascii_space(s[i])) {
      pending_space_ = true;
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < s.size() && !is_ascii_space(s[j])) ++j;
    if (pending_space_ && started_ && !doc_.text.empty() && !is_ascii_space(doc_.text.back())) doc_.text += ' ';
    pending_space_ = false;
    append(s.substr(i, j - i));
    i = j;
  }
}

void DocBuilder::line_break() {
  if (!open_ || !started_) return;
  auto& text = doc_.text;
  while (text.size() > start_ && (text.back() == ' ' || text.back() == '\t')) text.pop_back();
  if (text.size() > start_ && text.back() != '\n') text += '\n';
  pending_space_ = false;
}

void DocBuilder::raw(std::string_view s) {
  if (!open_) begin(BlockKind::paragraph, 0, page_);
  pending_space_ = false;
  append(s);
}

ParsedDocument DocBuilder::finish(std::string_view media_type, std::string title) && {
  end();
  doc_.media_type = std::string(media_type);
  doc_.title = std::move(title);
  return std::move(doc_);
}

}  // namespace aas::knowledge::loaders
