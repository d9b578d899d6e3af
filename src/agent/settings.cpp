#include "agent/settings.hpp"

#include "agent/schema.hpp"

#include <boost/json/parse.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <cctype>
#include <set>

namespace aas::agent {

namespace {

bool valid_name(std::string_view n) {
  return !n.empty() && n.size() <= 64 && std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

// The {placeholders} of a path template.
std::vector<std::string> placeholders(std::string_view path) {
  std::vector<std::string> out;
  for (std::size_t open = path.find('{'); open != std::string_view::npos; open = path.find('{', open + 1)) {
    const std::size_t close = path.find('}', open);
    if (close == std::string_view::npos) break;
    out.emplace_back(path.substr(open + 1, close - open - 1));
  }
  return out;
}

}  // namespace

std::string tool_base_url(std::string_view backend_url, std::string_view path) {
  if (path.rfind("http://", 0) == 0 || path.rfind("https://", 0) == 0) return std::string(path);
  std::string base(backend_url);
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + std::string(path);
}

Result<void> validate_tools(const std::vector<HttpToolSpec>& tools, std::string_view backend_url) {
  std::set<std::string> seen;
  for (std::size_t i = 0; i < tools.size(); ++i) {
    const HttpToolSpec& t = tools[i];
    const std::string where = "tools[" + (t.name.empty() ? std::to_string(i) : t.name) + "]";
    const auto bad = [&](std::string_view field, std::string_view what) -> Result<void> {
      return make_error(errc::invalid_request, where + "." + std::string(field) + ": " + std::string(what));
    };
    if (!valid_name(t.name)) return bad("name", "required: letters, digits, _ and - (at most 64)");
    if (t.name == "current_time" || t.name == "knowledge_search") return bad("name", "is a built-in tool's");
    if (!seen.insert(t.name).second) return bad("name", "declared twice");
    if (backend_url.empty()) return bad("path", "HTTP tools need MAIN_BACKEND_URL (the monolith they call)");
    static const std::set<std::string> methods{"GET", "POST", "PUT", "PATCH", "DELETE"};
    if (!methods.count(t.method)) return bad("method", "one of GET, POST, PUT, PATCH, DELETE");
    // The path must stay under the monolith: relative and clean, or a URL under MAIN_BACKEND_URL.
    const std::string url = tool_base_url(backend_url, t.path);
    std::string base(backend_url);
    while (!base.empty() && base.back() == '/') base.pop_back();
    if (t.path.empty()) return bad("path", "required");
    const bool absolute = t.path.rfind("http://", 0) == 0 || t.path.rfind("https://", 0) == 0;
    if (absolute && url.rfind(base + "/", 0) != 0)
      return bad("path", "outside MAIN_BACKEND_URL (" + base + "): tools call the monolith only");
    if (!absolute && t.path.front() != '/') return bad("path", "must start with / (under MAIN_BACKEND_URL)");
    const std::string_view rest = std::string_view(url).substr(base.size());
    if (rest.find("..") != std::string_view::npos || rest.find("//") != std::string_view::npos ||
        rest.find_first_of("?#@\\ ") != std::string_view::npos)
      return bad("path", "must be a plain path under MAIN_BACKEND_URL (no .., //, ?, #, @)");
    // Checked with each {placeholder} filled, as the calls will be.
    std::string sample = url;
    for (std::size_t open = sample.find('{'); open != std::string::npos; open = sample.find('{')) {
      const std::size_t close = sample.find('}', open);
      if (close == std::string::npos) return bad("path", "a { without its }");
      sample.replace(open, close - open + 1, "x");
    }
    auto parsed = boost::urls::parse_uri(sample);
    if (!parsed) return bad("path", "not a valid URL once joined with MAIN_BACKEND_URL");
    {
      boost::system::error_code ec;
      const boost::json::value fixed = boost::json::parse(t.fixed, ec);
      if (ec || !fixed.is_object()) return bad("fixed", "must be an object of body fields");
      if (!fixed.get_object().empty() && (t.method == "GET" || t.method == "DELETE"))
        return bad("fixed", "a " + t.method + " request has no body");
    }
    auto schema = ArgumentSchema::compile(t.parameters);
    if (!schema) return bad("parameters", schema.error().message);
    const auto* top = schema->json().if_object();
    const auto* type = top ? top->if_contains("type") : nullptr;
    if (!type || *type != "object") return bad("parameters", "the arguments' schema must be {\"type\": \"object\", ...}");
    const auto* props = top->if_contains("properties");
    const auto declared = [&](const std::string& arg) {
      return props && props->is_object() && props->get_object().contains(arg);
    };
    for (const std::string& p : placeholders(t.path))
      if (!declared(p)) return bad("path", "{" + p + "} is not a property of parameters");
    for (const std::string& q : t.query)
      if (!declared(q)) return bad("query", q + " is not a property of parameters");
    for (const std::string& b : t.body)
      if (!declared(b)) return bad("body", b + " is not a property of parameters");
  }
  return {};
}

Result<void> validate_mcp(const std::vector<McpServerSpec>& servers, const std::vector<HttpToolSpec>& tools) {
  std::set<std::string> seen;
  for (std::size_t i = 0; i < servers.size(); ++i) {
    const McpServerSpec& m = servers[i];
    const std::string where = "mcp[" + (m.name.empty() ? std::to_string(i) : m.name) + "]";
    const auto bad = [&](std::string_view field, std::string_view what) -> Result<void> {
      return make_error(errc::invalid_request, where + "." + std::string(field) + ": " + std::string(what));
    };
    if (!valid_name(m.name) || m.name.find("__") != std::string::npos)
      return bad("name", "required: letters, digits, _ and - (at most 64, no \"__\")");
    if (!seen.insert(m.name).second) return bad("name", "declared twice");
    const bool web = m.url.rfind("http://", 0) == 0 || m.url.rfind("https://", 0) == 0;
    if (!web || !boost::urls::parse_uri(m.url)) return bad("url", "must be an http:// or https:// URL");
    if (m.allow.empty()) return bad("allow", "required: the tools of the server that may be offered");
    for (const std::string& t : m.allow) {
      const std::string full = m.name + "__" + t;
      if (!valid_name(t) || full.size() > 64) return bad("allow", "'" + t + "': letters, digits, _ and - (\"" + m.name + "__<tool>\" at most 64)");
      for (const HttpToolSpec& h : tools)
        if (h.name == full) return bad("allow", "'" + full + "' is also an HTTP tool's name");
    }
    static const std::set<std::string> reserved{"content-type", "accept", "mcp-session-id", "mcp-protocol-version",
                                                "content-length", "host", "connection", "transfer-encoding"};
    for (const auto& [name, value] : m.headers) {
      std::string lower = name;
      std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      const bool token = !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
        return std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
      });
      if (!token || reserved.count(lower)) return bad("headers", "'" + name + "' is not a header that may be set");
      if (value.find_first_of("\r\n") != std::string::npos) return bad("headers", "'" + name + "': a value on one line");
    }
  }
  return {};
}

}  // namespace aas::agent
