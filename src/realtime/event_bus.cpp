#include "realtime/event_bus.hpp"

#include <mutex>
#include <vector>

namespace aas::realtime {

struct LocalEventBus::State {
  std::mutex mu;
  std::vector<Handler> handlers;
};

LocalEventBus::LocalEventBus() : state_(std::make_unique<State>()) {}
LocalEventBus::~LocalEventBus() = default;

void LocalEventBus::publish(const Event& event) {
  std::vector<Handler> handlers;
  {
    std::lock_guard lock(state_->mu);
    handlers = state_->handlers;
  }
  for (const auto& h : handlers) h(event);
}

void LocalEventBus::subscribe(Handler handler) {
  std::lock_guard lock(state_->mu);
  state_->handlers.push_back(std::move(handler));
}

}  // namespace aas::realtime
