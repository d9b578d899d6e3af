#pragma once
// multipart/form-data (RFC 7578) bodies, read strictly: the boundary from the Content-Type, each
// part's Content-Disposition name and filename, its body as bytes. Anything malformed is a 400
// naming what is wrong; more than kMaxParts parts is a 400 too.
#include "core/error.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aas::api {

struct MultipartPart {
  std::string name;
  std::optional<std::string> filename;  // present for a file
  std::string content_type;             // as the client said (documents are sniffed anyway)
  std::string body;
};

inline constexpr std::size_t kMaxMultipartParts = 32;

// `content_type`: the request's Content-Type header (multipart/form-data; boundary=...).
Result<std::vector<MultipartPart>> parse_multipart(std::string_view content_type, std::string_view body);

}  // namespace aas::api
