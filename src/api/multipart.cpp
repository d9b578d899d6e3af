#include "api/multipart.hpp"

#include <algorithm>
#include <cctype>

namespace aas::api {

namespace {

Error bad(std::string what) { return make_error(errc::invalid_request, "malformed multipart body: " + what); }

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The value of `key` among "; key=value" or "; key=\"value\"" parameters (nullopt when absent).
std::optional<std::string> parameter(std::string_view header, std::string_view key) {
  std::size_t pos = header.find(';');
  while (pos != std::string_view::npos) {
    std::string_view rest = trim(header.substr(pos + 1));
    const std::size_t eq = rest.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    const std::string name = lower(trim(rest.substr(0, eq)));
    std::string_view value = rest.substr(eq + 1);
    std::string out;
    std::size_t used = 0;
    if (!value.empty() && value.front() == '"') {
      std::size_t i = 1;
      for (; i < value.size() && value[i] != '"'; ++i) {
        if (value[i] == '\\' && i + 1 < value.size()) ++i;
        out += value[i];
      }
      used = std::min(i + 1, value.size());
    } else {
      used = std::min(value.find(';'), value.size());
      out = std::string(trim(value.substr(0, used)));
    }
    if (name == key) return out;
    const std::size_t next = value.find(';', used);
    if (next == std::string_view::npos) return std::nullopt;
    pos = static_cast<std::size_t>((value.data() + next) - header.data());
  }
  return std::nullopt;
}

}  // namespace

Result<std::vector<MultipartPart>> parse_multipart(std::string_view content_type, std::string_view body) {
  auto boundary = parameter(content_type, "boundary");
  if (!boundary || boundary->empty() || boundary->size() > 70) return bad("no valid boundary in Content-Type");
  const std::string delimiter = "--" + *boundary;
  std::size_t pos = body.find(delimiter);
  if (pos == std::string_view::npos) return bad("the boundary does not occur in the body");
  std::vector<MultipartPart> parts;
  for (;;) {
    pos += delimiter.size();
    if (body.substr(pos, 2) == "--") return parts;  // the closing delimiter
    if (body.substr(pos, 2) != "\r\n") return bad("a boundary line does not end in CRLF");
    pos += 2;
    if (parts.size() == kMaxMultipartParts)
      return bad("more than " + std::to_string(kMaxMultipartParts) + " parts");
    const std::size_t headers_end = body.find("\r\n\r\n", pos);
    if (headers_end == std::string_view::npos || headers_end - pos > 8192) return bad("a part's headers do not end");
    MultipartPart part;
    bool disposition = false;
    std::string_view headers = body.substr(pos, headers_end - pos);
    while (!headers.empty()) {
      const std::size_t eol = std::min(headers.find("\r\n"), headers.size());
      const std::string_view line = headers.substr(0, eol);
      headers.remove_prefix(std::min(eol + 2, headers.size()));
      const std::size_t colon = line.find(':');
      if (colon == std::string_view::npos) return bad("a part's header has no colon");
      const std::string name = lower(trim(line.substr(0, colon)));
      const std::string_view value = trim(line.substr(colon + 1));
      if (name == "content-disposition") {
        // "form-data ; name=..." is as valid as "form-data; name=..." (whitespace around ';').
        if (lower(trim(value.substr(0, std::min(value.find(';'), value.size())))) != "form-data")
          return bad("a part is not form-data");
        auto n = parameter(value, "name");
        if (!n) return bad("a part has no name");
        part.name = std::move(*n);
        part.filename = parameter(value, "filename");
        disposition = true;
      } else if (name == "content-type") {
        part.content_type = std::string(value);
      }
    }
    if (!disposition) return bad("a part has no Content-Disposition");
    const std::size_t start = headers_end + 4;
    const std::size_t end = body.find("\r\n" + delimiter, start);
    if (end == std::string_view::npos) return bad("the body ends before its closing boundary");
    part.body = std::string(body.substr(start, end - start));
    parts.push_back(std::move(part));
    pos = end + 2;
  }
}

}  // namespace aas::api
