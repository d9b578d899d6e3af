#pragma once
// The chat UI's files (ui/: the <ai-chat> bundle and the page), compiled into the binary by the
// generated assets.cpp that ui/build.mjs writes at build time. Plain data: serving them is
// api/ui.cpp's job.
#include <span>
#include <string_view>

namespace aas::ui {

struct Asset {
  std::string_view name;          // "index.html", "ai-chat.<hash>.js", "ai-chat.js"
  std::string_view content_type;
  std::string_view body;
  std::string_view gzip;          // the same bytes, gzip-compressed
  std::string_view etag;          // strong, quoted: a hash of `body`
  bool immutable = false;         // a hashed name: its bytes never change
};

std::span<const Asset> assets();

}  // namespace aas::ui
