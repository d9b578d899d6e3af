#pragma once
// The event bus over Redis pub/sub: events are JSON on one channel, <prefix>events, e.g.
//   {"type":"message.completed","userId":"u1","conversationId":"…","messageId":"…","status":"complete"}
// which the monolith can also SUBSCRIBE to (and forward to the user's Socket.IO room). A
// subscriber thread receives them; while Redis is down, publish delivers to this replica only.
#include "realtime/event_bus.hpp"
#include "redis/client.hpp"

#include <atomic>
#include <mutex>
#include <vector>

namespace aas::realtime {

class RedisEventBus final : public EventBus {
 public:
  RedisEventBus(redis::Client& redis, std::string channel);
  ~RedisEventBus() override;
  void publish(const Event& event) override;
  void subscribe(Handler handler) override;
  bool subscribed() const { return subscriber_ && subscriber_->subscribed(); }

 private:
  void deliver(const Event& event);

  redis::Client& redis_;
  std::string channel_;
  std::mutex mu_;
  std::vector<Handler> handlers_;
  std::atomic<bool> degraded_{false};
  std::unique_ptr<redis::Subscriber> subscriber_;  // last: stopped before the rest goes
};

// The wire form, shared with the tests.
std::string to_json(const Event& event);
std::optional<Event> from_json(std::string_view text);

}  // namespace aas::realtime
