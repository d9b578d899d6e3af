// Usage and limits: GET /api/ai/usage/me (a user's own usage and what is left of their limits),
// the admin reports GET /api/ai/admin/usage and /api/ai/admin/costs (totals and a paginated
// breakdown by user, model or day over a date range; ?format=csv streams every row as CSV), and per-user limit overrides under
// /api/ai/admin/limits/:userId. Reports read the store's daily rollup, so they stay fast on a
// large ledger; days are UTC.
#include "api/api.hpp"
#include "api/json_io.hpp"
#include "api/csv.hpp"
#include "api/limits_json.hpp"
#include "chat/usage_service.hpp"
#include "http/error_response.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/thread_pool.hpp>

#include <charconv>
#include <chrono>

namespace aas::api {

namespace {

namespace asio = boost::asio;
using Reply = asio::awaitable<Result<http::Response>>;
using domain::parse_day;

constexpr int kMaxRangeDays = 366;

Error bad(std::string message) { return make_error(errc::invalid_request, std::move(message)); }

// ?from=&to= (YYYY-MM-DD, UTC, inclusive); default: this month so far.
Result<std::pair<std::string, std::string>> date_range(const http::Request& req) {
  const auto today = std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now());
  const std::chrono::year_month_day ymd{today};
  std::chrono::sys_days from = std::chrono::sys_days{ymd.year() / ymd.month() / 1};
  std::chrono::sys_days to = today;
  if (auto f = req.query("from")) {
    auto d = parse_day(*f);
    if (!d) return bad("from must be a date YYYY-MM-DD");
    from = *d;
  }
  if (auto t = req.query("to")) {
    auto d = parse_day(*t);
    if (!d) return bad("to must be a date YYYY-MM-DD");
    to = *d;
  }
  if (from > to) return bad("from must not be after to");
  if ((to - from).count() >= kMaxRangeDays) return bad("a range covers at most 366 days");
  return std::pair{domain::utc_day(from), domain::utc_day(to)};
}

json::object totals_json(const domain::UsageTotals& t) {
  return json::object{{"requests", t.requests},
                      {"inputTokens", t.input_tokens},
                      {"outputTokens", t.output_tokens},
                      {"cachedInputTokens", t.cached_input_tokens},
                      {"cacheWriteTokens", t.cache_write_tokens},
                      {"reasoningTokens", t.reasoning_tokens},
                      {"cost", cost_to_json(t.cost_micros)},
                      {"unpricedRequests", t.unpriced_requests},
                      {"estimatedRequests", t.estimated_requests}};
}

// Report pages are offsets into a sorted aggregate; the cursor is "o<offset>".
Result<std::int64_t> report_offset(const std::optional<std::string>& cursor) {
  if (!cursor) return 0;
  std::int64_t n = 0;
  const std::string& c = *cursor;
  if (c.size() < 2 || c[0] != 'o') return bad("invalid cursor");
  auto [p, ec] = std::from_chars(c.data() + 1, c.data() + c.size(), n);
  if (ec != std::errc() || p != c.data() + c.size() || n < 0) return bad("invalid cursor");
  return n;
}

// ?format=csv: every row of the report (limit and cursor do not apply), fetched a page at a time
// and streamed as it comes (chunked): a header row naming the columns, then one record per row, in
// the report's order. The figures are the JSON report's; cost is USD with six decimals (exact).
// A failure before the first byte answers the error as JSON; after it, the download ends short
// and the log says why.
constexpr int kCsvPage = 100;

asio::awaitable<void> stream_csv(Services& s, domain::UsageQuery q, std::string group, std::string request_id,
                                 http::BodyWriter& out) {
  std::string chunk;
  csv::Record(chunk)
      .text(group)
      .text("requests")
      .text("inputTokens")
      .text("outputTokens")
      .text("cachedInputTokens")
      .text("cacheWriteTokens")
      .text("reasoningTokens")
      .text("costUsd")
      .text("unpricedRequests")
      .text("estimatedRequests")
      .end();
  q.limit = kCsvPage;
  q.offset = 0;
  for (bool first = true;; first = false) {
    auto report = co_await s.usage.report(q);
    if (!report) {
      spdlog::error("csv usage report failed{}: {}", first ? "" : " part way", report.error().detail);
      if (first) co_await out.replace(http::error_response(report.error(), request_id));
      co_return;
    }
    for (const domain::UsageRow& row : report->rows) {
      const domain::UsageTotals& t = row.totals;
      csv::Record(chunk)
          .text(row.key)
          .integer(t.requests)
          .integer(t.input_tokens)
          .integer(t.output_tokens)
          .integer(t.cached_input_tokens)
          .integer(t.cache_write_tokens)
          .integer(t.reasoning_tokens)
          .usd(t.cost_micros)
          .integer(t.unpriced_requests)
          .integer(t.estimated_requests)
          .end();
    }
    if (!co_await out.write(chunk)) co_return;  // the client left
    chunk.clear();
    if (!report->more) co_return;
    q.offset += q.limit;
  }
}

Result<http::Response> csv_report(Services& s, const http::Context& ctx, domain::UsageQuery q, const std::string& group,
                                  bool costs) {
  http::Response res;
  res.content_type = "text/csv; charset=utf-8; header=present";
  res.headers.push_back({"content-disposition", "attachment; filename=\"" + std::string(costs ? "costs" : "usage") +
                                                    "-" + q.from_day + "-" + q.to_day + ".csv\""});
  res.stream = [&s, q = std::move(q), group, id = ctx.request_id](http::BodyWriter& out) {
    return stream_csv(s, q, group, id, out);
  };
  return res;
}

// GET /api/ai/admin/usage and /costs: the same report, ordered by key or by cost.
Reply admin_report(Services& s, http::Context& ctx, bool costs) {
  auto range = date_range(ctx.request);
  if (!range) co_return range.error();
  auto page = page_request(ctx.request, 50);
  if (!page) co_return page.error();
  auto offset = report_offset(page->cursor);
  if (!offset) co_return offset.error();

  domain::UsageQuery q;
  q.from_day = range->first;
  q.to_day = range->second;
  q.limit = page->limit;
  q.offset = *offset;
  q.by_cost = costs;
  const std::string group = ctx.request.query("groupBy").value_or(costs ? "user" : "day");
  if (group == "user") q.group = domain::UsageGroup::user;
  else if (group == "model") q.group = domain::UsageGroup::model;
  else if (group == "day") q.group = domain::UsageGroup::day;
  else co_return bad("groupBy must be user, model or day");
  if (auto u = ctx.request.query("userId"); u && !u->empty()) q.user_id = std::move(*u);
  if (auto m = ctx.request.query("model"); m && !m->empty()) q.model = std::move(*m);

  const std::string format = ctx.request.query("format").value_or("json");
  if (format == "csv") co_return csv_report(s, ctx, std::move(q), group, costs);
  if (format != "json") co_return bad("format must be json or csv");

  auto report = co_await s.usage.report(q);
  if (!report) co_return report.error();
  json::array items;
  for (const domain::UsageRow& row : report->rows) {
    json::object item = totals_json(row.totals);
    item["key"] = row.key;
    items.push_back(std::move(item));
  }
  co_return ok(json::object{
      {"from", q.from_day},
      {"to", q.to_day},
      {"groupBy", group},
      {"orderBy", costs ? "cost" : "key"},
      {"totals", totals_json(report->totals)},
      {"items", std::move(items)},
      {"nextCursor", report->more ? json::value("o" + std::to_string(q.offset + q.limit)) : json::value(nullptr)}});
}

json::value window_json(const limits::Window& w) {
  if (w.limit <= 0) return nullptr;
  return json::object{{"limit", w.limit}, {"remaining", w.remaining}, {"resetSeconds", w.reset_seconds}};
}

json::value budget_json(const limits::BudgetState& b) {
  json::object o{{"spent", cost_to_json(b.spent_micros)},
                 {"reserved", cost_to_json(b.reserved_micros)},
                 {"resetSeconds", b.reset_seconds}};
  if (b.limit_micros) {
    o["limit"] = cost_to_json(*b.limit_micros);
    o["remaining"] = cost_to_json(std::max<std::int64_t>(0, *b.limit_micros - b.spent_micros - b.reserved_micros));
  } else {
    o["limit"] = nullptr;
    o["remaining"] = nullptr;
  }
  return o;
}

// GET /api/ai/usage/me
Reply my_usage(Services& s, http::Context& ctx) {
  auto range = date_range(ctx.request);
  if (!range) co_return range.error();
  const auth::Principal& user = ctx.user();
  auto found = co_await s.usage.mine(user.user_id, user.roles, range->first, range->second);
  if (!found) co_return found.error();
  json::array by_model;
  for (const domain::UsageRow& row : found->by_model.rows) {
    json::object item = totals_json(row.totals);
    item["model"] = row.key;
    by_model.push_back(std::move(item));
  }
  const limits::Status& st = found->status;
  co_return ok(json::object{
      {"userId", user.user_id},
      {"from", range->first},
      {"to", range->second},
      {"totals", totals_json(found->by_model.totals)},
      {"byModel", std::move(by_model)},
      {"limits",
       json::object{{"requestsPerMinute", window_json(st.requests_per_minute)},
                    {"tokensPerMinute", window_json(st.tokens_per_minute)},
                    {"concurrentStreams",
                     st.concurrent_streams_limit > 0
                         ? json::value(json::object{{"limit", st.concurrent_streams_limit},
                                                    {"active", st.active_streams}})
                         : json::value(nullptr)},
                    {"dailyBudget", budget_json(st.daily)},
                    {"monthlyBudget", budget_json(st.monthly)}}}});
}

Result<std::string> target_user(const http::Context& ctx) {
  std::string user(ctx.param("userId"));
  if (user.empty() || user.size() > 256) return bad("userId must be 1 to 256 characters");
  return user;
}

Reply put_limits(Services& s, http::Context& ctx) {
  auto user = target_user(ctx);
  if (!user) co_return user.error();
  auto body = parse_object(ctx.request);
  if (!body) co_return body.error();
  auto o = limit_override_from_json(*body);
  if (!o) co_return o.error();
  o->user_id = *user;
  auto saved = co_await s.usage.put_override(*o);
  if (!saved) co_return saved.error();
  co_return ok(limit_override_to_json(*saved));
}

Reply get_limits(Services& s, http::Context& ctx) {
  auto user = target_user(ctx);
  if (!user) co_return user.error();
  auto found = co_await s.usage.get_override(*user);
  if (!found) co_return found.error();
  if (!*found) co_return make_error(errc::not_found, "no limits set for this user");
  co_return ok(limit_override_to_json(**found));
}

Reply delete_limits(Services& s, http::Context& ctx) {
  auto user = target_user(ctx);
  if (!user) co_return user.error();
  auto deleted = co_await s.usage.delete_override(*user);
  if (!deleted) co_return deleted.error();
  co_return ok(json::object{{"userId", *user}, {"deleted", true}});
}

}  // namespace

json::value limit_override_to_json(const domain::LimitOverride& o) {
  const auto n = [](const std::optional<std::int64_t>& v) { return v ? json::value(*v) : json::value(nullptr); };
  const auto usd = [](const std::optional<std::int64_t>& v) { return v ? cost_to_json(*v) : json::value(nullptr); };
  return json::object{{"userId", o.user_id},
                      {"requestsPerMinute", n(o.requests_per_minute)},
                      {"tokensPerMinute", n(o.tokens_per_minute)},
                      {"concurrentStreams", n(o.concurrent_streams)},
                      {"dailyBudgetUsd", usd(o.daily_budget_micros)},
                      {"monthlyBudgetUsd", usd(o.monthly_budget_micros)},
                      {"updatedAt", format_rfc3339(o.updated_at)}};
}

// A non-negative integer (or USD amount) field; absent or null: not overridden.
static Result<std::optional<std::int64_t>> count_field(const json::object& body, std::string_view key, bool usd) {
  const json::value* v = body.if_contains(key);
  if (!v || v->is_null()) return std::optional<std::int64_t>();
  const std::string k(key);
  if (usd) {
    if (!v->is_number()) return bad(k + " must be a number of USD or null");
    const double d = v->to_number<double>();
    if (!(d >= 0) || d > 1e9) return bad(k + " must be from 0 to 1000000000");
    return std::optional<std::int64_t>(static_cast<std::int64_t>(d * 1e6 + 0.5));
  }
  if (!v->is_int64() && !v->is_uint64()) return bad(k + " must be an integer or null");
  const std::int64_t n = v->is_int64() ? v->get_int64() : static_cast<std::int64_t>(v->get_uint64());
  if (n < 0 || n > 1'000'000'000'000) return bad(k + " must be 0 (no limit) or more");
  return std::optional<std::int64_t>(n);
}

Result<domain::LimitOverride> limit_override_from_json(const json::object& body) {
  if (auto r = allow_only(body, {"requestsPerMinute", "tokensPerMinute", "concurrentStreams", "dailyBudgetUsd",
                                 "monthlyBudgetUsd"});
      !r)
    return r.error();
  domain::LimitOverride o;
  for (auto [key, field, usd] :
       {std::tuple{"requestsPerMinute", &o.requests_per_minute, false},
        std::tuple{"tokensPerMinute", &o.tokens_per_minute, false},
        std::tuple{"concurrentStreams", &o.concurrent_streams, false},
        std::tuple{"dailyBudgetUsd", &o.daily_budget_micros, true},
        std::tuple{"monthlyBudgetUsd", &o.monthly_budget_micros, true}}) {
    auto v = count_field(body, key, usd);
    if (!v) return v.error();
    *field = *v;
  }
  return o;
}

void add_usage_routes(http::Router& router, Services& s) {
  router.add({"GET", "/api/ai/usage/me", http::Access::user,
              [&s](http::Context& ctx) { return my_usage(s, ctx); }});
  router.add({"GET", "/api/ai/admin/usage", http::Access::admin,
              [&s](http::Context& ctx) { return admin_report(s, ctx, false); }});
  router.add({"GET", "/api/ai/admin/costs", http::Access::admin,
              [&s](http::Context& ctx) { return admin_report(s, ctx, true); }});
  router.add({"GET", "/api/ai/admin/limits/:userId", http::Access::admin,
              [&s](http::Context& ctx) { return get_limits(s, ctx); }});
  router.add({"PUT", "/api/ai/admin/limits/:userId", http::Access::admin,
              [&s](http::Context& ctx) { return put_limits(s, ctx); }});
  router.add({"DELETE", "/api/ai/admin/limits/:userId", http::Access::admin,
              [&s](http::Context& ctx) { return delete_limits(s, ctx); }});
}

}  // namespace aas::api
