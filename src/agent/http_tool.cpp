#include "agent/http_tool.hpp"

#include "chat/chat_service.hpp"
#include "http/client.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include <algorithm>

namespace aas::agent {

namespace json = boost::json;

namespace {

bool listed(const std::vector<std::string>& list, std::string_view name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

// An argument as it goes into a URL: strings as they are, anything else as its JSON text.
std::string url_text(const json::value& v) {
  if (const auto* s = v.if_string()) return std::string(*s);
  return json::serialize(v);
}

std::string encode(std::string_view s) { return boost::urls::encode(s, boost::urls::unreserved_chars); }

}  // namespace

Result<PlannedRequest> plan_request(const HttpToolSpec& spec, std::string_view backend_url,
                                    const json::object& args) {
  PlannedRequest out;
  out.method = spec.method;
  const std::string base = tool_base_url(backend_url, spec.path);
  std::vector<std::string> in_path;
  std::string url;
  for (std::size_t i = 0; i < base.size();) {
    if (base[i] != '{') {
      url += base[i++];
      continue;
    }
    const std::size_t close = base.find('}', i);
    const std::string name = base.substr(i + 1, close - i - 1);
    const json::value* v = args.if_contains(name);
    if (!v || v->is_null()) return make_error(errc::invalid_request, name + ": required");
    const std::string text = url_text(*v);
    // One whole segment each: "/" is encoded; "." and ".." would move the request elsewhere.
    if (text.empty() || text == "." || text == "..")
      return make_error(errc::invalid_request, name + ": not a valid identifier");
    url += encode(text);
    in_path.push_back(name);
    i = close + 1;
  }
  std::string query;
  for (const std::string& q : spec.query) {
    const json::value* v = args.if_contains(q);
    if (!v || v->is_null()) continue;
    query += (query.empty() ? "?" : "&") + encode(q) + "=" + encode(url_text(*v));
  }
  const bool has_body = spec.method == "POST" || spec.method == "PUT" || spec.method == "PATCH";
  if (has_body) {
    json::object body;
    for (const auto& [key, value] : args) {
      const bool goes = spec.body.empty() ? !listed(in_path, key) && !listed(spec.query, key) : listed(spec.body, key);
      if (goes) body[key] = value;
    }
    boost::system::error_code ec;  // checked at start (validate_tools)
    if (json::value fixed = json::parse(spec.fixed, ec); !ec && fixed.is_object())
      for (const auto& [key, value] : fixed.get_object()) body[key] = value;
    out.body = json::serialize(body);
  }
  out.url = url + query;
  return out;
}

ToolOutput describe_response(int status, std::string_view content_type, std::string_view body) {
  std::string type(content_type.substr(0, content_type.find(';')));
  std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  while (!type.empty() && type.back() == ' ') type.pop_back();
  const bool jsonish = type.empty() || type == "application/json" || type.ends_with("+json");
  const bool textual = jsonish || type.rfind("text/", 0) == 0 || type.ends_with("xml");
  std::string text;
  boost::system::error_code ec;
  json::value parsed;
  if (jsonish && !body.empty()) parsed = json::parse(body, ec);
  if (jsonish && !body.empty() && !ec) {
    text = json::serialize(parsed);
  } else if (textual && chat::is_valid_utf8(body) && body.find('\0') == std::string_view::npos) {
    text = std::string(body);  // not JSON, but text: passed on as it is (as data, never instructions)
  } else if (!body.empty()) {
    // Binary (an image, a file): the model gets a description, never the bytes.
    text = "[binary response: " + std::to_string(body.size()) + " bytes of " + (type.empty() ? "unknown type" : type) + "]";
  }
  if (status >= 200 && status < 300) return {text.empty() ? std::string("(no content)") : text, false};
  return {"the app refused the request (HTTP " + std::to_string(status) + ")" + (text.empty() ? "" : ": " + text), true};
}

HttpTool::HttpTool(HttpToolSpec spec, std::string backend_url, std::shared_ptr<http::HttpClient> client)
    : spec_(std::move(spec)), backend_url_(std::move(backend_url)), client_(std::move(client)) {
  definition_.name = spec_.name;
  definition_.description = spec_.description;
  definition_.parameters = spec_.parameters;
}

bool HttpTool::allowed_for(const std::vector<std::string>& roles) const {
  if (spec_.roles.empty()) return true;
  return std::any_of(roles.begin(), roles.end(), [&](const std::string& r) { return listed(spec_.roles, r); });
}

boost::asio::awaitable<ToolOutput> HttpTool::call(const json::object& args, const ToolContext& ctx) {
  auto planned = plan_request(spec_, backend_url_, args);
  if (!planned) co_return ToolOutput{"invalid arguments: " + planned.error().message, true};
  http::ClientRequest req;
  req.method = planned->method;
  req.url = planned->url;
  req.body = planned->body;
  req.headers.push_back({"authorization", "Bearer " + ctx.bearer_token});
  req.headers.push_back({"accept", "application/json"});
  if (!req.body.empty()) req.headers.push_back({"content-type", "application/json"});
  if (!ctx.request_id.empty()) req.headers.push_back({"x-request-id", ctx.request_id});
  auto res = co_await client_->request(std::move(req));
  if (!res) {
    // The model learns that the app could not be reached, not our network's details.
    const bool timeout = res.error().code == errc::upstream_timeout;
    co_return ToolOutput{timeout ? "the app did not answer in time" : "the app could not be reached", true};
  }
  co_return describe_response(res->status, res->header("content-type").value_or(""), res->body);
}

}  // namespace aas::agent
