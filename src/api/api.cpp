#include "api/api.hpp"

#include "realtime/socketio/mount.hpp"
#include "realtime/socketio/server.hpp"

namespace aas::api {

http::Router make_router(Services& services) {
  http::Router router;
  add_health_routes(router, services);
  add_chat_routes(router, services);
  add_tool_call_routes(router, services);
  add_conversation_routes(router, services);
  add_openai_routes(router, services);
  add_anthropic_routes(router, services);
  add_responses_routes(router, services);
  add_usage_routes(router, services);
  add_admin_key_routes(router, services);
  add_admin_webhook_routes(router, services);
  add_export_routes(router, services);
  add_prompt_routes(router, services);
  add_knowledge_routes(router, services);
  add_metrics_routes(router, services);
  add_socketio_routes(router, services);
  add_ui_routes(router, services);
  return router;
}

void add_socketio_routes(http::Router& router, Services& services) {
  if (!services.socketio) return;
  for (http::Route& r : realtime::engineio::polling_routes(services.socketio->engine(), services.socketio_path))
    router.add(std::move(r));
}

}  // namespace aas::api
