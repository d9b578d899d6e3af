// The chat UI: GET / (the page), GET /api/ai/ui/:file (the embedded bundle, ui/assets.hpp),
// GET /api/ai/ui/config (what the page needs to know before signing in), and the development
// sign-in POST /api/ai/dev/token, routed only when the service runs on its development secret.
#include "api/api.hpp"
#include "api/json_io.hpp"
#include "ui/assets.hpp"

#include <algorithm>
#include <cctype>
#include <string>

namespace aas::api {

namespace {

using Reply = boost::asio::awaitable<Result<http::Response>>;

// The page runs only the bundle this service serves: no inline script, nothing from elsewhere,
// so markup that slipped into a message could not run even if the sanitiser missed it. Lit's
// styles are constructable stylesheets, which style-src does not restrict; 'self' covers the
// same-origin WebSocket of Socket.IO.
constexpr std::string_view kPagePolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'";

const ui::Asset* find_asset(std::string_view name) {
  const auto all = ui::assets();
  const auto it = std::find_if(all.begin(), all.end(), [&](const ui::Asset& a) { return a.name == name; });
  return it == all.end() ? nullptr : &*it;
}

// If-None-Match: a list of entity tags, or "*". Weak comparison, as RFC 9110 asks for this header.
bool etag_matches(std::string_view header, std::string_view etag) {
  while (!header.empty()) {
    const std::size_t comma = header.find(',');
    std::string_view tag = header.substr(0, comma);
    while (!tag.empty() && (tag.front() == ' ' || tag.front() == '\t')) tag.remove_prefix(1);
    while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) tag.remove_suffix(1);
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == "*" || tag == etag) return true;
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return false;
}

bool accepts_gzip(const http::Request& req) {
  const auto accept = req.header("accept-encoding");
  return accept && accept->find("gzip") != std::string_view::npos;
}

// The gzip variant is another representation, so it has its own tag.
std::string etag_of(const ui::Asset& asset, bool gzip) {
  if (!gzip) return std::string(asset.etag);
  std::string tag(asset.etag.substr(0, asset.etag.size() - 1));
  return tag + "-gz\"";
}

http::Response serve(const http::Request& req, const ui::Asset& asset) {
  const bool gzip = accepts_gzip(req);
  http::Response res;
  res.content_type = std::string(asset.content_type);
  std::string etag = etag_of(asset, gzip);
  res.headers.push_back({"cache-control", asset.immutable ? "public, max-age=31536000, immutable" : "no-cache"});
  res.headers.push_back({"vary", "Accept-Encoding"});
  res.headers.push_back({"x-content-type-options", "nosniff"});
  if (asset.name == "index.html") {
    res.headers.push_back({"content-security-policy", std::string(kPagePolicy)});
    res.headers.push_back({"referrer-policy", "no-referrer"});
  }
  const auto if_none_match = req.header("if-none-match");
  if (if_none_match && etag_matches(*if_none_match, etag)) {
    res.status = 304;
  } else {
    res.body = std::string(gzip ? asset.gzip : asset.body);
    if (gzip) res.headers.push_back({"content-encoding", "gzip"});
  }
  res.headers.push_back({"etag", std::move(etag)});
  return res;
}

Reply file(http::Context& c, std::string name) {
  const ui::Asset* asset = find_asset(name);
  if (!asset) co_return make_error(errc::not_found, "no such file");
  co_return serve(c.request, *asset);
}

Reply config(Services& s, http::Context&) {
  co_return ok(json::object{{"devSignIn", static_cast<bool>(s.dev_token)}, {"socketioPath", s.socketio ? s.socketio_path : ""}});
}

// A user name as the CLI's `token --user` takes it, kept to characters that need no escaping
// anywhere they are shown or logged.
bool valid_user(std::string_view user) {
  return !user.empty() && user.size() <= 64 && std::all_of(user.begin(), user.end(), [](unsigned char ch) {
    return std::isalnum(ch) || ch == '.' || ch == '_' || ch == '-' || ch == '@';
  });
}

Reply dev_token(Services& s, http::Context& c) {
  auto body = parse_object(c.request);
  if (!body) co_return body.error();
  if (auto only = allow_only(*body, {"user"}); !only) co_return only.error();
  auto user = optional_string(*body, "user");
  if (!user) co_return user.error();
  if (!*user || !valid_user(**user))
    co_return make_error(errc::invalid_request, "user: 1 to 64 letters, digits or . _ - @");
  auto token = s.dev_token(**user);
  if (!token) co_return token.error();
  co_return ok(json::object{{"token", *token}, {"user", **user}});
}

}  // namespace

void add_ui_routes(http::Router& router, Services& s) {
  using http::Access;
  router.add({"GET", "/", Access::open, [](http::Context& c) { return file(c, "index.html"); }});
  router.add({"GET", "/api/ai/ui/:file", Access::open, [](http::Context& c) { return file(c, std::string(c.param("file"))); }});
  router.add({"GET", "/api/ai/ui/config", Access::open, [&s](http::Context& c) { return config(s, c); }});
  if (s.dev_token)
    router.add({"POST", "/api/ai/dev/token", Access::open, [&s](http::Context& c) { return dev_token(s, c); }});
}

}  // namespace aas::api
