#pragma once
// The HTTP side of an Engine.IO server mounted at a path (socket.io's `path` option, e.g.
// "/api/ai/socket.io"; clients request it with a trailing slash): the long-polling routes for the
// router, and the upgrade decision for http::Server.
#include "http/router.hpp"
#include "http/websocket.hpp"

#include <string>
#include <vector>

namespace aas::realtime::engineio {

class Server;

// GET and POST at <path>/ (open access: Socket.IO authenticates in its CONNECT packet).
std::vector<http::Route> polling_routes(Server& engine, const std::string& path);
// Upgrades at <path>/ go to the engine; anything else is refused with 404.
http::UpgradeHandler upgrade_handler(Server& engine, const std::string& path);

}  // namespace aas::realtime::engineio
