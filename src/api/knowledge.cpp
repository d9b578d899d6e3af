// /api/ai/knowledge: knowledge bases, their documents (upload, ingestion status, cancel) and search.
#include "api/api.hpp"
#include "api/json_io.hpp"
#include "api/multipart.hpp"
#include "knowledge/service.hpp"

namespace aas::api {

namespace {

using Reply = boost::asio::awaitable<Result<http::Response>>;
using knowledge::KnowledgeService;

json::value text_or_null(const std::optional<std::string>& s) { return s ? json::value(*s) : json::value(nullptr); }

json::value to_json(const knowledge::KnowledgeBase& b) {
  json::object o;
  o["id"] = b.id;
  o["name"] = b.name;
  o["description"] = text_or_null(b.description);
  o["embeddingModel"] = text_or_null(b.embedding_model);
  o["embeddingDimensions"] = b.embedding_dim ? json::value(*b.embedding_dim) : json::value(nullptr);
  // A model change under way: searches use embeddingModel's vectors until every chunk has one of this model.
  o["reindexingTo"] = text_or_null(b.next_embedding_model);
  o["documentCount"] = b.document_count;
  o["chunkCount"] = b.chunk_count;
  o["bytes"] = b.bytes;
  o["createdAt"] = format_rfc3339(b.created_at);
  o["updatedAt"] = format_rfc3339(b.updated_at);
  return o;
}

json::value to_json(const knowledge::Job& j) {
  json::object o;
  o["id"] = j.id;
  o["kind"] = j.kind;
  o["stage"] = knowledge::to_string(j.stage);
  o["chunksDone"] = j.chunks_done;
  o["chunksTotal"] = j.chunks_total;
  o["error"] = text_or_null(j.error);
  o["attempts"] = j.attempts;
  o["createdAt"] = format_rfc3339(j.created_at);
  o["updatedAt"] = format_rfc3339(j.updated_at);
  return o;
}

json::value to_json(const knowledge::Document& d) {
  json::object o;
  o["id"] = d.id;
  o["knowledgeBaseId"] = d.knowledge_base_id;
  o["title"] = d.title;
  o["mediaType"] = d.media_type;
  o["contentHash"] = d.content_hash;
  o["bytes"] = d.bytes;
  o["chunkCount"] = d.chunk_count;
  // The document's state is its latest job's stage; its error says why it failed.
  o["status"] = knowledge::to_string(d.job.stage);
  o["error"] = text_or_null(d.job.error);
  o["job"] = to_json(d.job);
  o["createdAt"] = format_rfc3339(d.created_at);
  o["updatedAt"] = format_rfc3339(d.updated_at);
  return o;
}

json::value to_json(const knowledge::Passage& p) {
  json::object o;
  o["chunkId"] = p.chunk_id;
  o["documentId"] = p.document_id;
  o["knowledgeBaseId"] = p.knowledge_base_id;
  o["title"] = p.title;
  o["text"] = p.text;
  o["score"] = p.score;
  o["start"] = p.start;
  o["end"] = p.end;
  o["page"] = p.page ? json::value(*p.page) : json::value(nullptr);
  json::array path;
  for (const auto& h : p.heading_path) path.emplace_back(h);
  o["headingPath"] = std::move(path);
  return o;
}

template <class T>
json::value items_page(const domain::Page<T>& page) {
  json::array items;
  for (const T& item : page.items) items.push_back(to_json(item));
  return json::object{{"items", std::move(items)},
                      {"nextCursor", page.next_cursor ? json::value(*page.next_cursor) : json::value(nullptr)}};
}

KnowledgeService& svc(Services& s) { return *s.knowledge; }

Reply list(Services& s, http::Context& ctx) {
  auto page = page_request(ctx.request, 20);
  if (!page) co_return page.error();
  auto r = co_await svc(s).list_bases(ctx.user().user_id, *page);
  if (!r) co_return r.error();
  co_return ok(items_page(*r));
}

Reply create(Services& s, http::Context& ctx) {
  auto body = parse_object(ctx.request);
  if (!body) co_return body.error();
  if (auto r = allow_only(*body, {"name", "description", "embeddingModel"}); !r) co_return r.error();
  auto name = optional_string(*body, "name");
  if (!name) co_return name.error();
  if (!*name) co_return make_error(errc::invalid_request, "name is required");
  auto description = optional_string(*body, "description");
  if (!description) co_return description.error();
  auto model = optional_string(*body, "embeddingModel");
  if (!model) co_return model.error();
  // A named value, not a braced temporary, goes into co_await (g++ 12 destroys such temporaries twice).
  knowledge::NewKnowledgeBase nb{ctx.user().user_id, std::move(**name), std::move(*description), std::move(*model)};
  auto r = co_await svc(s).create_base(std::move(nb));
  if (!r) co_return r.error();
  co_return ok(to_json(*r), 201);
}

Reply get(Services& s, http::Context& ctx) {
  auto r = co_await svc(s).get_base(ctx.user().user_id, std::string(ctx.param("id")));
  if (!r) co_return r.error();
  co_return ok(to_json(*r));
}

Reply patch(Services& s, http::Context& ctx) {
  auto body = parse_object(ctx.request);
  if (!body) co_return body.error();
  if (auto r = allow_only(*body, {"name", "description", "embeddingModel"}); !r) co_return r.error();
  knowledge::KnowledgeBasePatch p;
  auto name = optional_string(*body, "name");
  if (!name) co_return name.error();
  p.name = std::move(*name);
  auto model = optional_string(*body, "embeddingModel");
  if (!model) co_return model.error();
  p.embedding_model = std::move(*model);
  auto description = nullable_string(*body, "description");
  if (!description) co_return description.error();
  p.description = description->value;
  p.clear_description = description->present && !description->value;
  auto r = co_await svc(s).update_base(ctx.user().user_id, std::string(ctx.param("id")), std::move(p));
  if (!r) co_return r.error();
  co_return ok(to_json(*r));
}

Reply remove(Services& s, http::Context& ctx) {
  const std::string id(ctx.param("id"));
  auto r = co_await svc(s).delete_base(ctx.user().user_id, id);
  if (!r) co_return r.error();
  co_return ok(json::object{{"id", id}, {"deleted", true}});
}

// POST .../reindex {embeddingModel?}: 202 with the base (reindexingTo set until the switch).
Reply reindex(Services& s, http::Context& ctx) {
  std::optional<std::string> model;
  if (!ctx.request.body.empty()) {
    auto body = parse_object(ctx.request);
    if (!body) co_return body.error();
    if (auto r = allow_only(*body, {"embeddingModel"}); !r) co_return r.error();
    auto m = optional_string(*body, "embeddingModel");
    if (!m) co_return m.error();
    model = std::move(*m);
  }
  auto r = co_await svc(s).reindex(ctx.user().user_id, std::string(ctx.param("id")), std::move(model));
  if (!r) co_return r.error();
  co_return ok(to_json(*r), 202);
}

json::object added_json(const knowledge::AddedDocument& a) {
  json::object o = to_json(a.document).as_object();
  o["existing"] = a.existing;
  return o;
}

// POST .../documents: JSON {title, text}, or multipart/form-data with one or more files (each
// part with a filename; an optional `title` field names a single file). 202 with the documents
// and their jobs; in a multipart upload a file that cannot be taken fails on its own (its entry
// carries the error) and the others go on.
Reply add_documents(Services& s, http::Context& ctx) {
  const std::string user = ctx.user().user_id;
  const std::string kb(ctx.param("id"));
  const std::string_view type = ctx.request.header("content-type").value_or("");
  if (type.starts_with("multipart/form-data")) {
    auto parts = parse_multipart(type, ctx.request.body);
    if (!parts) co_return parts.error();
    std::optional<std::string> title;
    std::vector<const MultipartPart*> files;
    for (const MultipartPart& p : *parts) {
      if (p.filename) files.push_back(&p);
      else if (p.name == "title") title = p.body;
    }
    if (files.empty())
      co_return make_error(errc::invalid_request, "no file in the upload (a part with a filename is expected)");
    json::array docs;
    for (const MultipartPart* f : files) {
      std::string name = files.size() == 1 && title ? *title : *f->filename;
      if (name.empty()) name = "untitled";
      knowledge::Upload upload{name, f->body};
      auto added = co_await svc(s).add_document(user, kb, std::move(upload));
      if (added) {
        docs.push_back(added_json(*added));
        continue;
      }
      // The base itself not being the user's fails the request as a whole.
      if (added.error().code == errc::not_found) co_return added.error();
      docs.push_back(json::object{{"title", name},
                                  {"status", "failed"},
                                  {"error", json::object{{"code", code_name(added.error().code)},
                                                         {"message", added.error().message}}}});
    }
    co_return ok(json::object{{"documents", std::move(docs)}}, 202);
  }
  if (!type.starts_with("application/json"))
    co_return make_error(errc::unsupported_media_type,
                         "send application/json {title, text} or multipart/form-data with files");
  auto body = parse_object(ctx.request);
  if (!body) co_return body.error();
  if (auto r = allow_only(*body, {"title", "text"}); !r) co_return r.error();
  auto title = optional_string(*body, "title");
  if (!title) co_return title.error();
  auto text = optional_string(*body, "text");
  if (!text) co_return text.error();
  if (!*text) co_return make_error(errc::invalid_request, "text is required");
  if (!*title) co_return make_error(errc::invalid_request, "title is required");
  knowledge::Upload upload{std::move(**title), std::move(**text)};
  auto added = co_await svc(s).add_document(user, kb, std::move(upload));
  if (!added) co_return added.error();
  json::array docs;
  docs.push_back(added_json(*added));
  co_return ok(json::object{{"documents", std::move(docs)}}, 202);
}

Reply list_documents(Services& s, http::Context& ctx) {
  auto page = page_request(ctx.request, 50);
  if (!page) co_return page.error();
  auto r = co_await svc(s).list_documents(ctx.user().user_id, std::string(ctx.param("id")), *page);
  if (!r) co_return r.error();
  co_return ok(items_page(*r));
}

Reply get_document(Services& s, http::Context& ctx) {
  auto r = co_await svc(s).get_document(ctx.user().user_id, std::string(ctx.param("id")),
                                        std::string(ctx.param("docId")));
  if (!r) co_return r.error();
  co_return ok(to_json(*r));
}

Reply delete_document(Services& s, http::Context& ctx) {
  const std::string id(ctx.param("docId"));
  auto r = co_await svc(s).delete_document(ctx.user().user_id, std::string(ctx.param("id")), id);
  if (!r) co_return r.error();
  co_return ok(json::object{{"id", id}, {"deleted", true}});
}

Reply cancel(Services& s, http::Context& ctx) {
  auto r = co_await svc(s).cancel(ctx.user().user_id, std::string(ctx.param("id")), std::string(ctx.param("docId")));
  if (!r) co_return r.error();
  co_return ok(to_json(*r));
}

// GET .../search?q=&k=&mode=lexical|vector|hybrid
Reply search(Services& s, http::Context& ctx) {
  auto q = ctx.request.query("q");
  if (!q) co_return make_error(errc::invalid_request, "q is required");
  int k = 10;
  if (auto kv = ctx.request.query("k")) {
    try {
      std::size_t used = 0;
      k = std::stoi(*kv, &used);
      if (used != kv->size()) k = 0;
    } catch (const std::exception&) {
      k = 0;
    }
    if (k < 1 || k > svc(s).options().max_k)
      co_return make_error(errc::invalid_request,
                           "k must be an integer from 1 to " + std::to_string(svc(s).options().max_k));
  }
  auto mode = knowledge::SearchMode::hybrid;
  if (auto m = ctx.request.query("mode")) {
    auto parsed = knowledge::search_mode_from_string(*m);
    if (!parsed) co_return make_error(errc::invalid_request, "mode must be lexical, vector or hybrid");
    mode = *parsed;
  }
  std::vector<std::string> bases;
  bases.emplace_back(ctx.param("id"));
  auto r = co_await svc(s).search_ranked(ctx.user().user_id, std::move(bases), std::move(*q), k, mode);
  if (!r) co_return r.error();
  json::array items;
  for (const auto& p : r->passages) items.push_back(to_json(p));
  // Without an embedding model, hybrid ranks lexically: the answer says which ranking it is.
  json::object out;
  out["items"] = std::move(items);
  out["mode"] = knowledge::to_string(r->mode);
  co_return ok(out);
}

}  // namespace

void add_knowledge_routes(http::Router& router, Services& s) {
  if (!s.knowledge) return;
  using http::Access;
  const auto bind = [&s](Reply (*fn)(Services&, http::Context&)) {
    return [&s, fn](http::Context& ctx) { return fn(s, ctx); };
  };
  router.add({"GET", "/api/ai/knowledge", Access::user, bind(list)});
  router.add({"POST", "/api/ai/knowledge", Access::user, bind(create)});
  router.add({"GET", "/api/ai/knowledge/:id", Access::user, bind(get)});
  router.add({"PATCH", "/api/ai/knowledge/:id", Access::user, bind(patch)});
  router.add({"DELETE", "/api/ai/knowledge/:id", Access::user, bind(remove)});
  router.add({"POST", "/api/ai/knowledge/:id/documents", Access::user, bind(add_documents), false});
  router.add({"GET", "/api/ai/knowledge/:id/documents", Access::user, bind(list_documents)});
  router.add({"GET", "/api/ai/knowledge/:id/documents/:docId", Access::user, bind(get_document)});
  router.add({"DELETE", "/api/ai/knowledge/:id/documents/:docId", Access::user, bind(delete_document)});
  router.add({"POST", "/api/ai/knowledge/:id/documents/:docId/cancel", Access::user, bind(cancel)});
  router.add({"GET", "/api/ai/knowledge/:id/search", Access::user, bind(search)});
  router.add({"POST", "/api/ai/knowledge/:id/reindex", Access::user, bind(reindex)});
}

}  // namespace aas::api
