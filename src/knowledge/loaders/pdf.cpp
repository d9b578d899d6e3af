// PDF through poppler's pdftotext, run as a separate process: poppler is GPL, and a process keeps
// both its licence and a hostile PDF's crashes and memory away from the service. The text comes per
// page (pages end with a form feed), paragraphs separated by blank lines; the title from pdfinfo.
#include "knowledge/loaders/builder.hpp"
#include "knowledge/loaders/loaders.hpp"
#include "knowledge/loaders/subprocess.hpp"
#include "knowledge/utf8.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace aas::knowledge::loaders {
namespace {

Error unreadable(std::string detail) {
  return make_error(errc::invalid_request, "the PDF could not be read: it is corrupt, encrypted or not a PDF",
                    std::move(detail));
}

// The PDF in a private temporary file for the converter, removed when this goes.
class TempFile {
 public:
  static Result<TempFile> write(std::string_view bytes) {
    std::string path = (std::filesystem::temp_directory_path() / "aas-pdf-XXXXXX").string();
    const int fd = mkstemp(path.data());
    if (fd < 0) return make_error(errc::unavailable, "could not store the PDF for conversion", "mkstemp failed");
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (n <= 0) {
        close(fd);
        unlink(path.c_str());
        return make_error(errc::unavailable, "could not store the PDF for conversion", "write failed");
      }
      done += static_cast<std::size_t>(n);
    }
    close(fd);
    return TempFile(std::move(path));
  }
  TempFile(TempFile&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }
  TempFile& operator=(TempFile&&) = delete;
  ~TempFile() {
    if (!path_.empty()) unlink(path_.c_str());
  }
  const std::string& path() const { return path_; }

 private:
  explicit TempFile(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

}  // namespace

Result<ParsedDocument> load_pdf(std::string_view bytes, const ParseLimits& limits) {
  auto file = TempFile::write(bytes);
  if (!file) return file.error();
  ProcessLimits process;
  process.timeout = limits.timeout;
  process.max_output = limits.max_text_bytes + limits.max_text_bytes / 4;  // before whitespace collapses
  auto run = run_process({"pdftotext", "-q", "-enc", "UTF-8", "-eol", "unix", file->path(), "-"}, process);
  if (!run) return run.error();
  if (run->timed_out) {
    return make_error(errc::invalid_request, "the PDF took too long to read (over " +
                                                 std::to_string(limits.timeout.count() / 1000) + " s)");
  }
  if (run->output_too_large) return text_too_large(limits);
  if (run->exit_code != 0) return unreadable("pdftotext exit code " + std::to_string(run->exit_code));

  DocBuilder doc(limits.max_text_bytes);
  const std::string text = detail::invalid_utf8_bytes(run->out) ? detail::replace_invalid_utf8(run->out) : run->out;
  std::string_view rest = text;
  int page = 0;
  while (!rest.empty()) {
    ++page;
    const auto ff = rest.find('\f');
    const std::string_view content = rest.substr(0, ff);
    rest = ff == std::string_view::npos ? std::string_view() : rest.substr(ff + 1);
    // Paragraphs: runs of non-blank lines, their lines joined (whitespace collapses).
    std::size_t pos = 0;
    while (pos <= content.size()) {
      auto nl = content.find('\n', pos);
      if (nl == std::string_view::npos) nl = content.size();
      const std::string_view line = content.substr(pos, nl - pos);
      if (line.find_first_not_of(" \t\r") == std::string_view::npos) {
        doc.end();
      } else {
        if (!doc.in_block()) doc.begin(BlockKind::paragraph, 0, page);
        doc.text(line);
        doc.text(" ");
      }
      pos = nl + 1;
    }
    doc.end();
  }
  if (doc.over_limit()) return text_too_large(limits);

  // pdfinfo only for the title and page count; a failure there costs only those.
  std::string title;
  int pages = page;
  ProcessLimits info = process;
  info.max_output = 1u << 20;
  if (auto meta = run_process({"pdfinfo", "-enc", "UTF-8", file->path()}, info); meta && meta->exit_code == 0) {
    std::string_view m = meta->out;
    while (!m.empty()) {
      const auto nl = m.find('\n');
      const std::string_view line = m.substr(0, nl);
      m = nl == std::string_view::npos ? std::string_view() : m.substr(nl + 1);
      auto value = [&](std::string_view key) -> std::optional<std::string_view> {
        if (!line.starts_with(key)) return std::nullopt;
        std::string_view v = line.substr(key.size());
        const auto first = v.find_first_not_of(' ');
        return first == std::string_view::npos ? std::string_view() : v.substr(first);
      };
      if (auto t = value("Title:")) title = detail::replace_invalid_utf8(*t);
      if (auto p = value("Pages:")) pages = std::atoi(std::string(*p).c_str());
    }
  }
  auto parsed = std::move(doc).finish(media::pdf, std::move(title));
  parsed.pages = pages;
  return parsed;
}

}  // namespace aas::knowledge::loaders
