#pragma once
// MCP servers' tools kept current while the service runs: every `every` (MCP_REFRESH_MS) each
// server is listed again through its session; when what it offers changed (a tool added, dropped,
// or with another description or schema), its group in the Toolbox is replaced, so the next turn
// is offered the new set (a turn already running keeps the tools it found). A server down at
// start is reached this way too. A listing that fails leaves the server's tools as they were.
// Why a timer rather than notifications/tools/list_changed: docs/agent.md, "MCP servers".
#include "agent/mcp.hpp"
#include "agent/toolbox.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <map>

namespace aas::agent {

class McpRefresher {
 public:
  McpRefresher(Toolbox& toolbox, std::chrono::milliseconds every);

  // The servers as listed at start: their tools put in the toolbox, each server's group named
  // after it. Before start().
  void install(std::vector<McpServerTools> servers);
  // The listing loop on `ex` (nothing when `every` is 0 or there is no server).
  void start(const boost::asio::any_io_executor& ex);
  void stop();

  // Every server listed once more now; its group replaced when what it offers changed. Not to be
  // run twice at once (the loop is its only caller, tests aside).
  boost::asio::awaitable<void> refresh_all();

 private:
  boost::asio::awaitable<void> loop(std::shared_ptr<boost::asio::steady_timer> timer);
  // Replaces the server's group when `tools` differ from what it offered; true when they did.
  bool offer(const std::string& server, std::vector<std::unique_ptr<Tool>> tools);

  Toolbox& toolbox_;
  std::chrono::milliseconds every_;
  std::vector<std::shared_ptr<McpSession>> sessions_;
  std::map<std::string, std::string> offered_;  // server -> what it offers, as compared
  std::map<std::string, bool> failing_;         // server -> its last listing failed (warned once)
  std::shared_ptr<boost::asio::steady_timer> timer_;
  std::atomic<bool> stopped_{false};
};

}  // namespace aas::agent
