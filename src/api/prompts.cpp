// /api/ai/prompts and /api/ai/prompts/:id: the system-prompt library (own prompts, and global
// ones that admins manage). Conversations and chat turns refer to a prompt by `promptId`.
#include "api/api.hpp"
#include "api/json_io.hpp"
#include "chat/prompt_service.hpp"

#include <boost/asio/thread_pool.hpp>

namespace aas::api {

namespace {

using Reply = boost::asio::awaitable<Result<http::Response>>;

chat::Caller caller_of(const http::Context& ctx) { return {ctx.user().user_id, ctx.user().is_admin}; }

json::value prompt_json(const domain::Prompt& p) {
  return json::object{{"id", p.id},
                      {"name", p.name},
                      {"content", p.content},
                      {"global", !p.owner_user_id.has_value()},
                      {"createdAt", format_rfc3339(p.created_at)},
                      {"updatedAt", format_rfc3339(p.updated_at)}};
}

Reply list(Services& s, http::Context& ctx) {
  auto page = page_request(ctx.request, 50);
  if (!page) co_return page.error();
  auto found = co_await s.prompts.list(caller_of(ctx), *page);
  if (!found) co_return found.error();
  json::array items;
  for (const domain::Prompt& p : found->items) items.push_back(prompt_json(p));
  co_return ok(json::object{{"items", std::move(items)},
                            {"nextCursor", found->next_cursor ? json::value(*found->next_cursor) : json::value(nullptr)}});
}

Reply create(Services& s, http::Context& ctx) {
  auto body = parse_object(ctx.request);
  if (!body) co_return body.error();
  if (auto r = allow_only(*body, {"name", "content", "global"}); !r) co_return r.error();
  auto name = optional_string(*body, "name");
  if (!name) co_return name.error();
  auto content = optional_string(*body, "content");
  if (!content) co_return content.error();
  auto global = optional_bool(*body, "global");
  if (!global) co_return global.error();
  if (!*name || !*content) co_return make_error(errc::invalid_request, "name and content are required");
  auto created = co_await s.prompts.create(caller_of(ctx), std::move(**name), std::move(**content), global->value_or(false));
  if (!created) co_return created.error();
  co_return ok(prompt_json(*created), 201);
}

Reply get(Services& s, http::Context& ctx) {
  const std::string id(ctx.param("id"));
  auto found = co_await s.prompts.get(caller_of(ctx), id);
  if (!found) co_return found.error();
  co_return ok(prompt_json(*found));
}

Reply patch(Services& s, http::Context& ctx) {
  auto body = parse_object(ctx.request);
  if (!body) co_return body.error();
  if (auto r = allow_only(*body, {"name", "content"}); !r) co_return r.error();
  domain::PromptPatch p;
  auto name = optional_string(*body, "name");
  if (!name) co_return name.error();
  auto content = optional_string(*body, "content");
  if (!content) co_return content.error();
  p.name = std::move(*name);
  p.content = std::move(*content);
  const std::string id(ctx.param("id"));
  auto updated = co_await s.prompts.update(caller_of(ctx), id, p);
  if (!updated) co_return updated.error();
  co_return ok(prompt_json(*updated));
}

Reply remove(Services& s, http::Context& ctx) {
  const std::string id(ctx.param("id"));
  auto removed = co_await s.prompts.remove(caller_of(ctx), id);
  if (!removed) co_return removed.error();
  co_return ok(json::object{{"id", id}, {"deleted", true}});
}

}  // namespace

void add_prompt_routes(http::Router& router, Services& s) {
  using http::Access;
  const auto bind = [&s](Reply (*fn)(Services&, http::Context&)) {
    return [&s, fn](http::Context& ctx) { return fn(s, ctx); };
  };
  router.add({"GET", "/api/ai/prompts", Access::user, bind(list)});
  router.add({"POST", "/api/ai/prompts", Access::user, bind(create)});
  router.add({"GET", "/api/ai/prompts/:id", Access::user, bind(get)});
  router.add({"PATCH", "/api/ai/prompts/:id", Access::user, bind(patch)});
  router.add({"DELETE", "/api/ai/prompts/:id", Access::user, bind(remove)});
}

}  // namespace aas::api
