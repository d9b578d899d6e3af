// POST /api/ai/conversations/:id/tool-calls/:callId/approve | reject — the user's answer to a
// tool_confirmation: the waiting turn (on whichever replica runs it) runs the call, or tells the
// model it was rejected.
#include "agent/approvals.hpp"
#include "api/api.hpp"
#include "api/json_io.hpp"

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

}  // namespace

void add_tool_call_routes(http::Router& router, Services& s) {
  router.add({"POST", "/api/ai/conversations/:id/tool-calls/:callId/approve", http::Access::user,
              [&s](http::Context& ctx) { return decide(s, ctx, true); }});
  router.add({"POST", "/api/ai/conversations/:id/tool-calls/:callId/reject", http::Access::user,
              [&s](http::Context& ctx) { return decide(s, ctx, false); }});
}

}  // namespace aas::api
