#include "llm/providers/wire_common.hpp"

#include "llm/token_estimate.hpp"

#include <boost/json/parse.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <iterator>
#include <limits>
#include <utility>

namespace aas::llm::wire {

namespace json = boost::json;

namespace {

// Upstreams ask for at most minutes; anything beyond a day is noise we refuse to act on.
constexpr int max_retry_after_seconds = 24 * 60 * 60;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<int> ceil_seconds(double seconds) {
  if (!(seconds >= 0)) return std::nullopt;  // also rejects NaN
  if (seconds > max_retry_after_seconds) return max_retry_after_seconds;
  return static_cast<int>(std::ceil(seconds));
}

// IMF-fixdate, the one form of HTTP-date that servers send: "Sun, 06 Nov 1994 08:49:37 GMT".
std::optional<TimePoint> parse_http_date(std::string_view value) {
  const std::string s(value);
  int day = 0, year = 0, hour = 0, minute = 0, second = 0;
  char month_name[4] = {};
  char zone[4] = {};
  if (std::sscanf(s.c_str(), "%*3s, %2d %3s %4d %2d:%2d:%2d %3s", &day, month_name, &year, &hour,
                  &minute, &second, zone) != 7)
    return std::nullopt;
  if (std::string_view(zone) != "GMT") return std::nullopt;
  static constexpr std::array<std::string_view, 12> months = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const auto it = std::find(months.begin(), months.end(), std::string_view(month_name));
  if (it == months.end()) return std::nullopt;
  const auto month = static_cast<unsigned>(it - months.begin() + 1);
  const std::chrono::year_month_day ymd{std::chrono::year(year), std::chrono::month(month),
                                        std::chrono::day(static_cast<unsigned>(day))};
  if (!ymd.ok() || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  return std::chrono::sys_days(ymd) + std::chrono::hours(hour) + std::chrono::minutes(minute) +
         std::chrono::seconds(second);
}

bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

bool is_key_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '*';
}

std::string truncate(std::string s, std::size_t max) {
  if (s.size() > max) {
    s.resize(max);
    s += "...";
  }
  return s;
}

}  // namespace

Error error_from_status(std::string_view vendor, int status,
                        const std::vector<http::Header>& headers, const VendorError& v,
                        TimePoint now) {
  Error e;
  e.upstream_status = status;

  std::string detail = std::string(vendor) + " answered HTTP " + std::to_string(status);
  if (!v.type.empty() || !v.code.empty()) {
    detail += " (" + v.type;
    if (!v.code.empty()) detail += (v.type.empty() ? "" : "/") + v.code;
    detail += ")";
  }
  if (!v.message.empty()) detail += ": " + redact_secrets(truncate(v.message, 500));
  // The vendor's request id is what their support asks for.
  if (auto id = find_header(headers, "x-request-id")) {
    detail += " [request-id " + std::string(*id) + "]";
  } else if (auto rid = find_header(headers, "request-id")) {
    detail += " [request-id " + std::string(*rid) + "]";
  }
  e.detail = std::move(detail);

  // Honoured on any status: 503 and 529 carry it too.
  if (auto ms = find_header(headers, "retry-after-ms")) {
    char* end = nullptr;
    const std::string text(trim(*ms));
    const double value = std::strtod(text.c_str(), &end);
    if (!text.empty() && end == text.c_str() + text.size())
      e.retry_after_seconds = ceil_seconds(value / 1000);
  }
  if (!e.retry_after_seconds) {
    if (auto ra = find_header(headers, "retry-after"))
      e.retry_after_seconds = parse_retry_after(*ra, now);
  }

  if (status == 429) {
    e.code = errc::rate_limited;
    e.message = "the model provider is rate limiting requests; try again later";
  } else if (status == 408) {
    e.code = errc::upstream_timeout;
    e.message = "the model provider timed out";
  } else if (status == 401) {
    // Our credentials, not the caller's: never say which key, never echo the vendor text.
    e.code = errc::upstream_error;
    e.message = "the model provider rejected the service's credentials";
  } else if (status == 403) {
    e.code = errc::upstream_error;
    e.message = "the model provider denied access";
  } else if (status >= 400 && status < 500) {
    // A request the upstream refuses is ours to fix (or the configured model name's).
    e.code = errc::upstream_error;
    e.message = "the model provider rejected the request";
  } else if (status == 503) {
    e.code = errc::unavailable;
    e.message = "the model provider is unavailable";
  } else if (status == 529) {
    e.code = errc::upstream_error;
    e.message = "the model provider is overloaded";
  } else {
    e.code = errc::upstream_error;
    e.message = "the model provider failed";
  }
  return e;
}

Error malformed(std::string_view vendor, std::string_view what) {
  return make_error(errc::upstream_error, "the model provider sent an invalid response",
                    std::string(vendor) + ": " + std::string(what));
}

std::optional<int> parse_retry_after(std::string_view value, TimePoint now) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), is_digit)) {
    if (value.size() > 9) return max_retry_after_seconds;
    return std::min(std::stoi(std::string(value)), max_retry_after_seconds);
  }
  const auto when = parse_http_date(value);
  if (!when) return std::nullopt;
  const auto delta = std::chrono::duration<double>(*when - now).count();
  return ceil_seconds(std::max(0.0, delta));
}

std::optional<int> parse_duration_seconds(std::string_view value) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  double total_ms = 0;
  std::size_t i = 0;
  while (i < value.size()) {
    const std::size_t start = i;
    while (i < value.size() && (is_digit(value[i]) || value[i] == '.')) ++i;
    if (i == start) return std::nullopt;
    const std::string number(value.substr(start, i - start));
    char* end = nullptr;
    const double n = std::strtod(number.c_str(), &end);
    if (end != number.c_str() + number.size()) return std::nullopt;
    const std::size_t unit_start = i;
    while (i < value.size() && std::isalpha(static_cast<unsigned char>(value[i]))) ++i;
    const std::string_view unit = value.substr(unit_start, i - unit_start);
    static constexpr std::pair<std::string_view, double> units_ms[] = {
        {"h", 3'600'000}, {"m", 60'000}, {"s", 1000}, {"ms", 1}, {"us", 1e-3}, {"ns", 1e-6}};
    const auto* u = std::find_if(std::begin(units_ms), std::end(units_ms),
                                 [&](const auto& entry) { return entry.first == unit; });
    if (u == std::end(units_ms)) return std::nullopt;
    total_ms += n * u->second;
  }
  return ceil_seconds(total_ms / 1000);
}

std::optional<std::string_view> find_header(const std::vector<http::Header>& headers,
                                            std::string_view name) {
  for (const http::Header& h : headers) {
    if (iequals(h.name, name)) return std::string_view(h.value);
  }
  return std::nullopt;
}

std::string redact_secrets(std::string text) {
  // A word that starts like a vendor key, or any long run of key characters (keys of other
  // OpenAI-compatible vendors), is replaced whole.
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    if (!is_key_char(text[i]) || (i > 0 && is_key_char(text[i - 1]))) {
      out.push_back(text[i++]);
      continue;
    }
    std::size_t end = i;
    while (end < text.size() && is_key_char(text[end])) ++end;
    const std::string_view word(text.data() + i, end - i);
    const bool key_like = word.starts_with("sk-") || word.starts_with("sk_") ||
                          word.starts_with("gsk_") || word.size() >= 32;
    out.append(key_like ? std::string_view("[redacted]") : word);
    i = end;
  }
  return out;
}

Usage complete_usage(const StreamProgress& p, const ChatRequest& req, std::string_view content,
                     const std::vector<ToolCall>& tool_calls) {
  Usage u = p.usage;
  if (!p.input_reported) {
    u.input_tokens = estimate_request_tokens(req);
    u.estimated = true;
  }
  if (!p.output_reported) {
    u.output_tokens = estimate_tokens(content) + estimate_tool_call_tokens(tool_calls);
    u.estimated = true;
  }
  return u;
}

std::string join_url(std::string_view base_url, std::string_view path) {
  while (!base_url.empty() && base_url.back() == '/') base_url.remove_suffix(1);
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  std::string url(base_url);
  url += '/';
  url += path;
  return url;
}

std::optional<json::value> parse_json_object(std::string_view body, json::storage_ptr sp) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec, std::move(sp));
  if (ec || !v.is_object()) return std::nullopt;
  return v;
}

namespace {
struct ChunkBuffer {
  alignas(std::max_align_t) unsigned char bytes[4096];
  bool in_use = false;
};
thread_local ChunkBuffer chunk_buffer;
}  // namespace

ChunkMemory::ChunkMemory() {
  if (!chunk_buffer.in_use) {
    chunk_buffer.in_use = owns_buffer_ = true;
    resource_.emplace(chunk_buffer.bytes, sizeof chunk_buffer.bytes);
  } else {
    resource_.emplace();
  }
}

ChunkMemory::~ChunkMemory() {
  resource_.reset();
  if (owns_buffer_) chunk_buffer.in_use = false;
}

const json::object* get_object(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v ? v->if_object() : nullptr;
}

const json::array* get_array(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v ? v->if_array() : nullptr;
}

std::optional<std::string_view> get_string(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v || !v->is_string()) return std::nullopt;
  return std::string_view(v->get_string());
}

std::optional<std::int64_t> get_int(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64() &&
      v->get_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    return static_cast<std::int64_t>(v->get_uint64());
  if (v->is_double() && std::isfinite(v->get_double()))
    return static_cast<std::int64_t>(v->get_double());
  return std::nullopt;
}

}  // namespace aas::llm::wire
