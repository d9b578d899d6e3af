// GET /v1/models (both vendors share the path; the anthropic-version header picks Anthropic's
// shape), and the mock's own GET /mock/stats and POST /mock/reset.
#include "mock.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <algorithm>

namespace aas::mockllm {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr std::int64_t kModelCreated = 1700000000;  // a fixed date keeps answers deterministic

// Listed when --models is not given (any model name is accepted then).
const std::vector<std::string>& listed_models(const Mock& mock) {
  static const std::vector<std::string> defaults{"gpt-4o-mini", "text-embedding-3-small",
                                                 "claude-3-5-haiku-latest"};
  return mock.settings.models.empty() ? defaults : mock.settings.models;
}

json::object openai_model(std::string_view id) {
  return json::object{{"id", id}, {"object", "model"}, {"created", kModelCreated}, {"owned_by", "mock-llm"}};
}

json::object anthropic_model(std::string_view id) {
  return json::object{{"type", "model"},
                      {"id", id},
                      {"display_name", fmt::format("{} (mock)", id)},
                      {"created_at", "2023-11-14T22:13:20Z"}};
}

http::Response json_ok(const json::value& body) {
  http::Response res;
  res.body = json::serialize(body);
  return res;
}

// The vendor's 401 when a key is required and missing, else nullopt.
std::optional<http::Response> refuse_key(Mock& mock, const http::Request& req, bool anthropic) {
  if (anthropic) {
    if (!anthropic_key_ok(mock, req)) return anthropic_error(mock, 401, "invalid x-api-key");
  } else if (!openai_key_ok(mock, req)) {
    return openai_error(401, "Incorrect API key provided.", "invalid_api_key");
  }
  return std::nullopt;
}

asio::awaitable<Result<http::Response>> list_models(Mock& mock, http::Context& ctx) {
  const http::Request& req = ctx.request;
  mock.stats.count_request(req.path, req.header("x-mock-key").value_or(""));
  const bool anthropic = req.header("anthropic-version").has_value();
  if (auto refused = refuse_key(mock, req, anthropic)) co_return std::move(*refused);
  const auto& ids = listed_models(mock);
  json::array data;
  for (const std::string& id : ids) data.push_back(anthropic ? anthropic_model(id) : openai_model(id));
  if (anthropic) {
    co_return json_ok(json::object{{"data", std::move(data)},
                                   {"has_more", false},
                                   {"first_id", ids.empty() ? json::value(nullptr) : json::value(ids.front())},
                                   {"last_id", ids.empty() ? json::value(nullptr) : json::value(ids.back())}});
  }
  co_return json_ok(json::object{{"object", "list"}, {"data", std::move(data)}});
}

asio::awaitable<Result<http::Response>> get_model(Mock& mock, http::Context& ctx) {
  const http::Request& req = ctx.request;
  mock.stats.count_request("/v1/models/:id", req.header("x-mock-key").value_or(""));
  const bool anthropic = req.header("anthropic-version").has_value();
  if (auto refused = refuse_key(mock, req, anthropic)) co_return std::move(*refused);
  const std::string_view id = ctx.param("id");
  const auto& ids = listed_models(mock);
  const bool known = mock.settings.models.empty() || std::find(ids.begin(), ids.end(), id) != ids.end();
  if (!known) {
    co_return anthropic ? anthropic_error(mock, 404, fmt::format("model: {}", id))
                        : openai_error(404, fmt::format("The model '{}' does not exist", id),
                                       "model_not_found", "model");
  }
  co_return json_ok(anthropic ? anthropic_model(id) : openai_model(id));
}

asio::awaitable<Result<http::Response>> stats(Mock& mock, http::Context&) {
  http::Response res;
  res.body = mock.stats.to_json();
  res.headers.push_back({"cache-control", "no-store"});
  co_return res;
}

asio::awaitable<Result<http::Response>> reset(Mock& mock, http::Context&) {
  mock.stats.reset();
  http::Response res;
  res.status = 204;
  res.content_type.clear();
  co_return res;
}

}  // namespace

void add_shared_routes(http::Router& router, Mock& mock) {
  router.add({"GET", "/v1/models", http::Access::open,
              [&mock](http::Context& ctx) { return list_models(mock, ctx); }});
  router.add({"GET", "/v1/models/:id", http::Access::open,
              [&mock](http::Context& ctx) { return get_model(mock, ctx); }});
  router.add({"GET", "/mock/stats", http::Access::open,
              [&mock](http::Context& ctx) { return stats(mock, ctx); }});
  router.add({"POST", "/mock/reset", http::Access::open,
              [&mock](http::Context& ctx) { return reset(mock, ctx); }});
}

}  // namespace aas::mockllm
