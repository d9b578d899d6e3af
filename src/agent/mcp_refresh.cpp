#include "agent/mcp_refresh.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

namespace aas::agent {

namespace asio = boost::asio;

namespace {

// What the model is offered by a server's tools, in one string: equal means nothing changed.
std::string signature(const std::vector<std::unique_ptr<Tool>>& tools) {
  std::string out;
  for (const auto& t : tools) {
    const llm::ToolDefinition& d = t->definition();
    for (const std::string* part : {&d.name, &d.description, &d.parameters}) {
      out += std::to_string(part->size());
      out += ':';
      out += *part;
    }
  }
  return out;
}

}  // namespace

McpRefresher::McpRefresher(Toolbox& toolbox, std::chrono::milliseconds every) : toolbox_(toolbox), every_(every) {}

bool McpRefresher::offer(const std::string& server, std::vector<std::unique_ptr<Tool>> tools) {
  std::string now = signature(tools);
  auto known = offered_.find(server);
  if (known != offered_.end() && known->second == now) return false;
  offered_[server] = std::move(now);
  for (const std::string& w : toolbox_.replace_group(server, std::move(tools))) spdlog::warn("mcp[{}]: {}", server, w);
  return true;
}

void McpRefresher::install(std::vector<McpServerTools> servers) {
  for (McpServerTools& s : servers) {
    const std::string name = s.session->spec().name;
    sessions_.push_back(s.session);
    failing_[name] = !s.listed;
    if (s.listed) offer(name, std::move(s.tools));
  }
}

void McpRefresher::start(const asio::any_io_executor& ex) {
  if (every_.count() <= 0 || sessions_.empty()) return;
  timer_ = std::make_shared<asio::steady_timer>(ex);
  asio::co_spawn(ex, loop(timer_), asio::detached);
}

void McpRefresher::stop() {
  stopped_ = true;
  if (auto timer = timer_) asio::post(timer->get_executor(), [timer] { timer->cancel(); });
}

asio::awaitable<void> McpRefresher::loop(std::shared_ptr<asio::steady_timer> timer) {
  while (!stopped_) {
    timer->expires_after(every_);
    auto [ec] = co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec || stopped_) break;
    co_await refresh_all();
  }
}

asio::awaitable<void> McpRefresher::refresh_all() {
  for (const std::shared_ptr<McpSession>& session : sessions_) {
    const McpServerSpec& spec = session->spec();
    auto listed = co_await session->list_tools();
    if (!listed) {
      if (!failing_[spec.name])
        spdlog::warn("mcp[{}]: listing its tools again failed ({}): they stay as they were", spec.name,
                     listed.error().message);
      failing_[spec.name] = true;
      continue;
    }
    failing_[spec.name] = false;
    std::vector<std::string> warnings;
    auto tools = offered_tools(*listed, session, warnings);
    const std::size_t count = tools.size();
    if (offer(spec.name, std::move(tools))) {
      for (const std::string& w : warnings) spdlog::warn("{}", w);
      spdlog::info("mcp[{}]: tools listed again: {} offered of {} listed", spec.name, count, listed->size());
    }
  }
}

}  // namespace aas::agent
