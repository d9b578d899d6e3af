#include "api/api.hpp"

namespace aas::api {

http::Router make_router(Services& services) {
  http::Router router;
  add_health_routes(router, services);
  add_chat_routes(router, services);
  add_conversation_routes(router, services);
  add_openai_routes(router, services);
  add_usage_routes(router, services);
  add_export_routes(router, services);
  add_prompt_routes(router, services);
  add_metrics_routes(router, services);
  return router;
}

}  // namespace aas::api
