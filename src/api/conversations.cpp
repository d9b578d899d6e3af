// /api/ai/conversations and /api/ai/conversations/:id
#include "api/api.hpp"
#include "api/json_io.hpp"
#include "chat/chat_service.hpp"
#include "chat/conversation_service.hpp"

namespace aas::api {

namespace {

using Reply = boost::asio::awaitable<Result<http::Response>>;

// ?archived=false (default) | true | all, ?pinned=true|false, ?tag=, ?q= (full-text search).
Result<domain::ConversationFilter> list_filter(const http::Request& req) {
  domain::ConversationFilter f;
  const auto boolean = [&](std::string_view name, std::optional<bool>& out, bool allow_all) -> Result<void> {
    auto v = req.query(name);
    if (!v) return {};
    if (*v == "true") out = true;
    else if (*v == "false") out = false;
    else if (allow_all && *v == "all") out.reset();
    else
      return make_error(errc::invalid_request, std::string(name) + " must be true or false" +
                                                   (allow_all ? " or all" : ""));
    return {};
  };
  if (auto r = boolean("archived", f.archived, true); !r) return r.error();
  if (auto r = boolean("pinned", f.pinned, false); !r) return r.error();
  if (auto tag = req.query("tag")) f.tag = std::move(*tag);
  if (auto q = req.query("q")) f.query = std::move(*q);
  return f;
}

Reply list(Services& s, http::Context& ctx) {
  auto page = page_request(ctx.request, 20);
  if (!page) co_return page.error();
  auto filter = list_filter(ctx.request);
  if (!filter) co_return filter.error();
  auto result = co_await s.conversations.list(ctx.user().user_id, *page, *filter);
  if (!result) co_return result.error();
  co_return ok(page_to_json(*result));
}

Reply create(Services& s, http::Context& ctx) {
  auto body = parse_object(ctx.request);
  if (!body) co_return body.error();
  if (auto r = allow_only(*body, {"title", "systemPrompt", "model", "metadata", "promptId", "knowledgeBaseIds"}); !r)
    co_return r.error();
  auto kb_ids = optional_string_array(*body, "knowledgeBaseIds");
  if (!kb_ids) co_return kb_ids.error();
  domain::NewConversation nc;
  nc.user_id = ctx.user().user_id;
  auto title = optional_string(*body, "title");
  if (!title) co_return title.error();
  auto system_prompt = optional_string(*body, "systemPrompt");
  if (!system_prompt) co_return system_prompt.error();
  auto model = optional_string(*body, "model");
  if (!model) co_return model.error();
  auto metadata = optional_object_text(*body, "metadata");
  if (!metadata) co_return metadata.error();
  nc.title = std::move(*title);
  nc.system_prompt = std::move(*system_prompt);
  nc.model = std::move(*model);
  if (*metadata) nc.metadata = std::move(**metadata);
  auto prompt_id = optional_string(*body, "promptId");
  if (!prompt_id) co_return prompt_id.error();
  nc.prompt_id = std::move(*prompt_id);
  if (*kb_ids) nc.knowledge_base_ids = std::move(**kb_ids);

  auto created = co_await s.conversations.create(nc);
  if (!created) co_return created.error();
  co_return ok(to_json(*created), 201);
}

Reply get(Services& s, http::Context& ctx) {
  auto page = page_request(ctx.request, 50);
  if (!page) co_return page.error();
  const std::string id(ctx.param("id"));
  auto result = co_await s.conversations.read(ctx.user().user_id, id, *page);
  if (!result) co_return result.error();
  co_return ok(json::object{{"conversation", to_json(result->conversation)},
                            {"messages", page_to_json(result->messages)}});
}

Reply patch(Services& s, http::Context& ctx) {
  auto body = parse_object(ctx.request);
  if (!body) co_return body.error();
  if (auto r = allow_only(*body, {"title", "systemPrompt", "model", "metadata", "pinned", "archived", "tags",
                                  "promptId", "knowledgeBaseIds"});
      !r)
    co_return r.error();
  domain::ConversationPatch p;
  auto kb_ids = optional_string_array(*body, "knowledgeBaseIds");
  if (!kb_ids) co_return kb_ids.error();
  p.knowledge_base_ids = std::move(*kb_ids);
  auto prompt_id = nullable_string(*body, "promptId");
  if (!prompt_id) co_return prompt_id.error();
  p.prompt_id = prompt_id->value;
  p.clear_prompt_id = prompt_id->present && !prompt_id->value;
  auto pinned = optional_bool(*body, "pinned");
  if (!pinned) co_return pinned.error();
  auto archived = optional_bool(*body, "archived");
  if (!archived) co_return archived.error();
  p.pinned = *pinned;
  p.archived = *archived;
  if (const json::value* tags = body->if_contains("tags"); tags && !tags->is_null()) {
    if (!tags->is_array()) co_return make_error(errc::invalid_request, "tags must be an array of strings");
    std::vector<std::string> list;
    for (const json::value& t : tags->as_array()) {
      if (!t.is_string()) co_return make_error(errc::invalid_request, "tags must be an array of strings");
      list.emplace_back(t.as_string());
    }
    p.tags = std::move(list);
  }
  auto title = nullable_string(*body, "title");
  if (!title) co_return title.error();
  auto system_prompt = nullable_string(*body, "systemPrompt");
  if (!system_prompt) co_return system_prompt.error();
  auto model = nullable_string(*body, "model");
  if (!model) co_return model.error();
  auto metadata = optional_object_text(*body, "metadata");
  if (!metadata) co_return metadata.error();
  p.title = title->value;
  p.clear_title = title->present && !title->value;
  p.system_prompt = system_prompt->value;
  p.clear_system_prompt = system_prompt->present && !system_prompt->value;
  p.model = model->value;
  p.clear_model = model->present && !model->value;
  p.metadata = std::move(*metadata);

  const std::string id(ctx.param("id"));
  auto updated = co_await s.conversations.update(ctx.user().user_id, id, p);
  if (!updated) co_return updated.error();
  co_return ok(to_json(*updated));
}

Reply remove(Services& s, http::Context& ctx) {
  const std::string id(ctx.param("id"));
  auto removed = co_await s.conversations.remove(ctx.user().user_id, id);
  if (!removed) co_return removed.error();
  co_return ok(json::object{{"id", id}, {"deleted", true}});
}

// POST /api/ai/conversations/:id/summarize {keep?}: fold the turns not yet summarized (all but
// the last `keep` messages) into the conversation's summary now.
Reply summarize(Services& s, http::Context& ctx) {
  int keep = 0;
  if (!ctx.request.body.empty()) {
    auto body = parse_object(ctx.request);
    if (!body) co_return body.error();
    if (auto r = allow_only(*body, {"keep"}); !r) co_return r.error();
    if (const json::value* k = body->if_contains("keep"); k && !k->is_null()) {
      if (!k->is_int64() || k->get_int64() < 0 || k->get_int64() > 1000)
        co_return make_error(errc::invalid_request, "keep must be an integer from 0 to 1000");
      keep = static_cast<int>(k->get_int64());
    }
  }
  auto result = co_await s.chat.summarize(ctx.user().user_id, std::string(ctx.param("id")), keep);
  if (!result) co_return result.error();
  co_return ok(to_json(*result));
}

}  // namespace

void add_conversation_routes(http::Router& router, Services& s) {
  using http::Access;
  const auto bind = [&s](Reply (*fn)(Services&, http::Context&)) {
    return [&s, fn](http::Context& ctx) { return fn(s, ctx); };
  };
  router.add({"GET", "/api/ai/conversations", Access::user, bind(list)});
  router.add({"POST", "/api/ai/conversations", Access::user, bind(create)});
  router.add({"GET", "/api/ai/conversations/:id", Access::user, bind(get)});
  router.add({"PATCH", "/api/ai/conversations/:id", Access::user, bind(patch)});
  router.add({"DELETE", "/api/ai/conversations/:id", Access::user, bind(remove)});
  router.add({"POST", "/api/ai/conversations/:id/summarize", Access::user, bind(summarize)});
}

}  // namespace aas::api
