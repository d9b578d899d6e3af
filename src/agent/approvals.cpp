#include "agent/approvals.hpp"

#include "core/ids.hpp"
#include "core/offload.hpp"
#include "realtime/event_bus.hpp"
#include "store/store.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <mutex>
#include <optional>
#include <unordered_map>

namespace aas::agent {

namespace asio = boost::asio;

struct Approvals::Waiter {
  Waiter(asio::any_io_executor ex, std::string user, std::string call)
      : user_id(std::move(user)), call_id(std::move(call)), timer(std::move(ex)) {}
  std::string user_id;
  std::string call_id;
  asio::steady_timer timer;
  std::optional<bool> approved;  // only touched on the turn's strand
};

struct Approvals::State {
  std::mutex mu;
  std::unordered_map<std::string, std::shared_ptr<Waiter>> by_call;

  void deliver(const std::string& user_id, const std::string& call_id, bool approve) {
    std::lock_guard lock(mu);
    auto it = by_call.find(call_id);
    if (it == by_call.end() || it->second->user_id != user_id) return;
    asio::post(it->second->timer.get_executor(), [w = it->second, approve] {
      if (!w->approved) w->approved = approve;
      w->timer.cancel();
    });
  }
};

Approvals::Approvals(realtime::EventBus& bus, store::Store& store, asio::thread_pool& blocking, const Toolbox& tools,
                     std::chrono::milliseconds confirm_timeout)
    : bus_(bus),
      store_(store),
      blocking_(blocking),
      tools_(tools),
      confirm_timeout_(confirm_timeout),
      state_(std::make_shared<State>()) {
  bus_.subscribe([weak = std::weak_ptr<State>(state_)](const realtime::Event& e) {
    if (e.type != "tool.decision") return;
    if (auto state = weak.lock()) state->deliver(e.user_id, e.message_id, e.status == "approved");
  });
}

Approvals::~Approvals() = default;

std::shared_ptr<Approvals::Waiter> Approvals::expect(const asio::any_io_executor& ex, const std::string& user_id,
                                                     const std::string& call_id) {
  auto waiter = std::make_shared<Waiter>(ex, user_id, call_id);
  std::lock_guard lock(state_->mu);
  state_->by_call[call_id] = waiter;
  return waiter;
}

namespace {

// Takes a waiter out of the table when its wait ends, however it ends: decided, expired, or its
// coroutine ended by an exception (a cancelled co_await throws) or destroyed. The waiter's timer
// belongs to the turn's executor: left in the table, it would be leaked, and a later decision
// would post to an executor that may be gone.
template <class State, class Waiter>
class Forget {
 public:
  Forget(State& state, std::shared_ptr<Waiter> waiter) : state_(state), waiter_(std::move(waiter)) {}
  Forget(const Forget&) = delete;
  Forget& operator=(const Forget&) = delete;
  ~Forget() {
    std::lock_guard lock(state_.mu);
    if (auto it = state_.by_call.find(waiter_->call_id); it != state_.by_call.end() && it->second == waiter_)
      state_.by_call.erase(it);
  }

 private:
  State& state_;
  std::shared_ptr<Waiter> waiter_;
};

}  // namespace

asio::awaitable<Decision> Approvals::wait(std::shared_ptr<Waiter> waiter, std::chrono::milliseconds timeout) {
  const auto state = state_;  // the table outlives this wait even if Approvals goes first
  const Forget<State, Waiter> forget(*state, waiter);
  waiter->timer.expires_after(timeout);
  // A decision delivered meanwhile is posted to this strand: it runs once this coroutine waits,
  // sets the answer and wakes it.
  if (!waiter->approved) co_await waiter->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  if (!waiter->approved) co_return Decision::expired;
  co_return *waiter->approved ? Decision::approved : Decision::rejected;
}

asio::awaitable<Result<void>> Approvals::decide(std::string user_id, std::string conversation_id,
                                                std::string call_id, bool approve) {
  if (!is_uuid(conversation_id)) co_return make_error(errc::not_found, "conversation not found");
  co_return co_await offload(blocking_, [&]() -> Result<void> {
    auto conv = store_.get_conversation(user_id, conversation_id);
    if (!conv) return conv.error();
    // The call is found among the conversation's latest messages: a pending call is always part
    // of the turn in progress.
    auto recent = store_.recent_messages(user_id, conversation_id, 200);
    if (!recent) return recent.error();
    const domain::ToolCall* call = nullptr;
    bool answered = false;
    for (const domain::Message& m : *recent) {
      for (const domain::ToolCall& c : m.tool_calls)
        if (c.id == call_id) call = &c;
      if (m.tool_call_id == call_id) answered = true;
    }
    if (!call) return make_error(errc::not_found, "tool call not found");
    const auto entry = tools_.find(call->name, {});
    if (entry && !entry->tool->needs_confirmation())
      return make_error(errc::conflict, "this tool call needs no approval");
    if (answered) return make_error(errc::conflict, "this tool call is no longer waiting for approval");
    realtime::Event e{"tool.decision", user_id, conversation_id, call_id, approve ? "approved" : "rejected"};
    bus_.publish(e);
    return {};
  });
}

asio::awaitable<Result<std::vector<Approvals::PendingCall>>> Approvals::pending(std::string user_id,
                                                                               std::string conversation_id) {
  if (!is_uuid(conversation_id)) co_return make_error(errc::not_found, "conversation not found");
  co_return co_await offload(blocking_, [&]() -> Result<std::vector<PendingCall>> {
    auto conv = store_.get_conversation(user_id, conversation_id);
    if (!conv) return conv.error();
    auto recent = store_.recent_messages(user_id, conversation_id, 200);
    if (!recent) return recent.error();
    std::vector<PendingCall> out;
    // The latest step: the last assistant message with tool calls, and what follows it.
    auto step = std::find_if(recent->rbegin(), recent->rend(),
                             [](const domain::Message& m) { return m.role == domain::Role::assistant && !m.tool_calls.empty(); });
    if (step == recent->rend()) return out;
    const auto started = step->created_at + std::chrono::milliseconds(step->latency_ms.value_or(0));
    const auto expires_at = std::chrono::time_point_cast<std::chrono::system_clock::duration>(started + confirm_timeout_);
    if (expires_at <= std::chrono::system_clock::now()) return out;
    for (const domain::ToolCall& c : step->tool_calls) {
      const bool answered = std::any_of(recent->rbegin(), step, [&](const domain::Message& m) { return m.tool_call_id == c.id; });
      const auto entry = tools_.find(c.name, {});
      if (answered || !entry || !entry->tool->needs_confirmation()) continue;
      out.push_back({step->id, c.id, c.name, c.arguments, expires_at});
    }
    return out;
  });
}

}  // namespace aas::agent
