#include "http/router.hpp"

#include <algorithm>
#include <stdexcept>

namespace aas::http {

namespace {

// Walks the '/'-separated segments of a path or pattern without allocating. The leading '/' is
// skipped, so "/" has one empty segment and "/a/" has two ("a" and "").
class Segments {
 public:
  explicit Segments(std::string_view path)
      : rest_(path.empty() ? path : path.substr(1)), done_(path.empty()) {}

  bool next(std::string_view& segment) {
    if (done_) return false;
    const std::size_t slash = rest_.find('/');
    segment = rest_.substr(0, slash);
    if (slash == std::string_view::npos) {
      done_ = true;
    } else {
      rest_.remove_prefix(slash + 1);
    }
    return true;
  }

 private:
  std::string_view rest_;
  bool done_;
};

// How many segments Segments yields for a path or pattern.
std::size_t segment_count(std::string_view path) {
  return path.empty() ? 0 : 1 + static_cast<std::size_t>(std::count(path.begin() + 1, path.end(), '/'));
}

bool is_param(std::string_view segment) { return !segment.empty() && segment.front() == ':'; }

// Same number of segments, statics equal, params non-empty.
bool matches(std::string_view pattern, std::string_view path) {
  Segments p(pattern);
  Segments s(path);
  std::string_view ps;
  std::string_view ss;
  for (;;) {
    const bool has_p = p.next(ps);
    const bool has_s = s.next(ss);
    if (has_p != has_s) return false;
    if (!has_p) return true;
    if (is_param(ps) ? ss.empty() : ps != ss) return false;
  }
}

// Of two patterns matching the same path, the one with a static segment where the other has a
// parameter, at the first position where they differ in kind, wins: "/a/new" beats "/a/:id".
bool more_specific(std::string_view a, std::string_view b) {
  Segments sa(a);
  Segments sb(b);
  std::string_view x;
  std::string_view y;
  while (sa.next(x) && sb.next(y)) {
    if (is_param(x) != is_param(y)) return !is_param(x);
  }
  return false;
}

std::vector<std::pair<std::string, std::string>> extract_params(std::string_view pattern,
                                                                std::string_view path) {
  std::vector<std::pair<std::string, std::string>> params;
  Segments p(pattern);
  Segments s(path);
  std::string_view ps;
  std::string_view ss;
  while (p.next(ps) && s.next(ss)) {
    if (is_param(ps)) params.emplace_back(ps.substr(1), ss);
  }
  return params;
}

}  // namespace

std::string_view Context::param(std::string_view name) const {
  for (const auto& [key, value] : params) {
    if (key == name) return value;
  }
  return {};
}

void Router::add(Route route) {
  // A bad table is a programming error, found at start-up rather than on some request.
  if (route.pattern.empty() || route.pattern.front() != '/') {
    throw std::invalid_argument("route pattern must start with '/': " + route.pattern);
  }
  for (const Route& r : routes_) {
    if (r.method == route.method && r.pattern == route.pattern) {
      throw std::invalid_argument("duplicate route: " + route.method + " " + route.pattern);
    }
  }
  segment_counts_.push_back(segment_count(route.pattern));
  routes_.push_back(std::move(route));
}

Router::Match Router::match(std::string_view method, std::string_view path) const {
  Match result;
  // The path belongs to its most specific pattern(s), whatever the method: with GET
  // /items/export and PATCH /items/:id, PATCH /items/export is a 405 (Allow: GET), not a PATCH of
  // an item called "export".
  // Only patterns with as many segments as the path can match it: one comparison rules out most
  // of the table before any segment is looked at (matching runs on every request).
  const std::size_t segments = segment_count(path);
  const auto candidate = [&](std::size_t i) {
    return segment_counts_[i] == segments && matches(routes_[i].pattern, path);
  };
  const Route* best = nullptr;
  for (std::size_t i = 0; i < routes_.size(); ++i)
    if (candidate(i) && (!best || more_specific(routes_[i].pattern, best->pattern))) best = &routes_[i];
  if (!best) return result;
  const auto owns_path = [&](std::size_t i) {
    return candidate(i) && !more_specific(best->pattern, routes_[i].pattern);
  };

  // HEAD is answered by the GET route unless one is registered for HEAD itself.
  const Route* head_fallback = nullptr;
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    if (!owns_path(i)) continue;
    const Route& r = routes_[i];
    if (r.method == method) result.route = &r;
    else if (method == "HEAD" && r.method == "GET") head_fallback = &r;
  }
  if (!result.route) result.route = head_fallback;

  if (result.route) {
    result.params = extract_params(result.route->pattern, path);
    return result;
  }
  // Only computed on the unhappy path: the methods under which this path exists, for 405 + Allow
  // and for CORS preflight.
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    if (!owns_path(i)) continue;
    const Route& r = routes_[i];
    if (std::find(result.allowed_methods.begin(), result.allowed_methods.end(), r.method) ==
        result.allowed_methods.end()) {
      result.allowed_methods.push_back(r.method);
    }
  }
  return result;
}

}  // namespace aas::http
