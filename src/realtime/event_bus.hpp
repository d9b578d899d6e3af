#pragma once
// Events between the replicas of one deployment (and to the monolith, which may listen on the
// same Redis channel to push them to its Socket.IO clients). One replica publishes; every
// replica's subscribers receive it, the publisher's included. The embedded default delivers in
// this process; RedisEventBus (production mode) goes through Redis pub/sub. Delivery is at most
// once, as Redis pub/sub promises: events are notices, never the record (the store is).
#include <cstdint>
#include <functional>
#include <optional>
#include <memory>
#include <string>

namespace aas::realtime {

struct Event {
  // "message.completed": an assistant answer was recorded (status complete, interrupted, error);
  // "answer.stop": the user asked to stop the answer streaming in a conversation;
  // "key.revoked": a service key was revoked or rotated (user_id "key:<id>"): every replica
  // forgets it (keys/key_authenticator.hpp);
  // "limits.changed": a user's limit override was written or deleted: every replica forgets the
  // copy its admission keeps (limits/override_cache.hpp).
  std::string type;
  std::string user_id;
  std::string conversation_id;
  std::string message_id;  // empty for answer.stop
  std::string status;      // message.completed only
  // message.completed, for the Socket.IO `ai-message` event: the answer's text, the model the user
  // asked for, and its tokens. Empty / nullopt when the publisher does not fill them.
  std::string content;
  std::string model;
  std::optional<std::int64_t> input_tokens;
  std::optional<std::int64_t> output_tokens;
  // knowledge.vectors.changed: the base whose vectors changed (the other replicas rebuild their
  // in-process index of it).
  std::string knowledge_base_id;
};

class EventBus {
 public:
  using Handler = std::function<void(const Event&)>;
  virtual ~EventBus() = default;
  // May block on the network (Redis): call it off the I/O threads.
  virtual void publish(const Event& event) = 0;
  // Handlers run on the bus's own thread (or the publisher's, in-process) and must not block;
  // subscribe before the first publish.
  virtual void subscribe(Handler handler) = 0;
};

// The in-process bus of a single replica: publish calls every handler at once.
class LocalEventBus final : public EventBus {
 public:
  LocalEventBus();
  ~LocalEventBus() override;
  void publish(const Event& event) override;
  void subscribe(Handler handler) override;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace aas::realtime
