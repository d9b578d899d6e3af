// POST /api/ai/conversations/:id/tool-calls/:callId/approve | reject — the user's answer to a
// tool_confirmation: the waiting turn (on whichever replica runs it) runs the call, or tells the
// model it was rejected. GET /api/ai/conversations/:id/tool-calls/pending — the confirmations
// still waiting, for a client that reloads during a wait.
#include "agent/approvals.hpp"
#include "api/api.hpp"
#include "api/json_io.hpp"
#include "api/turn_events.hpp"

namespace aas::api {

namespace {

boost::asio::awaitable<Result<http::Response>> decide(Services& s, http::Context& ctx, bool approve) {
  const std::string id(ctx.param("id"));
  const std::string call_id(ctx.param("callId"));
  if (!s.approvals) co_return make_error(errc::not_found, "tool call not found");
  auto decided = co_await s.approvals->decide(ctx.user().user_id, id, call_id, approve);
  if (!decided) co_return decided.error();
  co_return ok(json::object{{"conversationId", id}, {"callId", call_id}, {"decision", approve ? "approved" : "rejected"}},
               202);
}

// Each as the tool_confirmation event tells it, with the step's message id.
boost::asio::awaitable<Result<http::Response>> pending(Services& s, http::Context& ctx) {
  const std::string id(ctx.param("id"));
  if (!s.approvals) co_return make_error(errc::not_found, "conversation not found");
  auto calls = co_await s.approvals->pending(ctx.user().user_id, id);
  if (!calls) co_return calls.error();
  json::array items;
  for (const agent::Approvals::PendingCall& c : *calls) {
    chat::ToolEvent e{chat::ToolEvent::Kind::confirmation, c.call_id, c.name, c.arguments};
    e.expires_at = c.expires_at;
    json::object item = tool_event(e).second;
    item["messageId"] = c.message_id;
    items.push_back(std::move(item));
  }
  co_return ok(json::object{{"items", std::move(items)}});
}

}  // namespace

void add_tool_call_routes(http::Router& router, Services& s) {
  router.add({"POST", "/api/ai/conversations/:id/tool-calls/:callId/approve", http::Access::user,
              [&s](http::Context& ctx) { return decide(s, ctx, true); }});
  router.add({"POST", "/api/ai/conversations/:id/tool-calls/:callId/reject", http::Access::user,
              [&s](http::Context& ctx) { return decide(s, ctx, false); }});
  router.add({"GET", "/api/ai/conversations/:id/tool-calls/pending", http::Access::user,
              [&s](http::Context& ctx) { return pending(s, ctx); }});
}

}  // namespace aas::api
