#include "api/csv.hpp"

#include <fmt/format.h>

namespace aas::api::csv {

void Record::separate() {
  if (started_) out_.push_back(',');
  started_ = true;
}

Record& Record::text(std::string_view field) {
  separate();
  const bool formula = !field.empty() && (field.front() == '=' || field.front() == '+' || field.front() == '-' ||
                                          field.front() == '@' || field.front() == '\t' || field.front() == '\r');
  const bool quote = field.find_first_of(",\"\r\n") != std::string_view::npos;
  if (quote) out_.push_back('"');
  if (formula) out_.push_back('\'');
  for (const char c : field) {
    if (c == '"') out_.push_back('"');
    out_.push_back(c);
  }
  if (quote) out_.push_back('"');
  return *this;
}

Record& Record::integer(std::int64_t value) {
  separate();
  out_ += std::to_string(value);
  return *this;
}

Record& Record::usd(const std::optional<std::int64_t>& micros) {
  separate();
  if (!micros) return *this;
  const std::int64_t v = *micros;
  const std::uint64_t magnitude = v < 0 ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
  out_ += fmt::format("{}{}.{:06}", v < 0 ? "-" : "", magnitude / 1'000'000, magnitude % 1'000'000);
  return *this;
}

}  // namespace aas::api::csv
