#pragma once
// CSV for downloads (the admin usage and cost reports): RFC 4180 — fields separated by commas,
// records ended by CRLF, a field holding a comma, a quote, CR or LF enclosed in double quotes with
// its quotes doubled. A text field that a spreadsheet would take for a formula (it starts with
// =, +, -, @, a tab or CR) is prefixed with a single quote, as OWASP advises against CSV injection:
// user ids come from tokens the service does not choose. Numbers are written as they are.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace aas::api::csv {

// One record appended to `out`, field by field; end() writes the CRLF.
class Record {
 public:
  explicit Record(std::string& out) : out_(out) {}
  Record& text(std::string_view field);                     // quoted when needed, formulas defused
  Record& integer(std::int64_t value);
  Record& usd(const std::optional<std::int64_t>& micros);   // six decimal places (exact); none: empty
  void end() { out_ += "\r\n"; }

 private:
  void separate();
  std::string& out_;
  bool started_ = false;
};

}  // namespace aas::api::csv
