// The event buses: in-process delivery, and Redis pub/sub between two "replicas" (two buses on
// one real Redis from scripts/with-redis.sh), including the fallback while Redis is down.
#include "realtime/event_bus.hpp"
#include "realtime/redis_event_bus.hpp"
#include "testing/redis_server.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace aas::realtime {
namespace {

using namespace std::chrono_literals;

// Collects what a bus delivers, for a test to wait on.
struct Inbox {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Event> got;
  EventBus::Handler handler() {
    return [this](const Event& e) {
      std::lock_guard lock(mu);
      got.push_back(e);
      cv.notify_all();
    };
  }
  bool wait_for(std::size_t n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 10s, [&] { return got.size() >= n; });
  }
};

TEST(LocalEventBus, DeliversToEverySubscriberAtOnce) {
  LocalEventBus bus;
  Inbox a, b;
  bus.subscribe(a.handler());
  bus.subscribe(b.handler());
  bus.publish(Event{"answer.stop", "u", "c", {}, {}});
  ASSERT_EQ(a.got.size(), 1u);
  ASSERT_EQ(b.got.size(), 1u);
  EXPECT_EQ(a.got[0].conversation_id, "c");
}

TEST(EventJson, RoundTripsAndRefusesWhatIsNotAnEvent) {
  const Event e{"message.completed", "u1", "c1", "m1", "complete"};
  EXPECT_EQ(to_json(e),
            R"({"type":"message.completed","userId":"u1","conversationId":"c1","messageId":"m1","status":"complete"})");
  auto back = from_json(to_json(e));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->user_id, "u1");
  EXPECT_EQ(back->message_id, "m1");
  EXPECT_EQ(back->status, "complete");
  EXPECT_FALSE(from_json("not json"));
  EXPECT_FALSE(from_json(R"({"userId":"u"})")) << "no type";
}

TEST(RedisEventBus, AnEventPublishedByOneReplicaReachesEveryReplica) {
  AAS_REQUIRE_REDIS(options);
  const std::string channel = testing::fresh_prefix() + "events";
  redis::Client ca(options), cb(options);
  RedisEventBus a(ca, channel), b(cb, channel);
  Inbox at_a, at_b;
  a.subscribe(at_a.handler());
  b.subscribe(at_b.handler());
  for (int i = 0; i < 3000 && !(a.subscribed() && b.subscribed()); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(a.subscribed() && b.subscribed());

  a.publish(Event{"answer.stop", "u", "conv-1", {}, {}});
  ASSERT_TRUE(at_b.wait_for(1)) << "the other replica hears it";
  ASSERT_TRUE(at_a.wait_for(1)) << "and so does the publisher, through Redis";
  EXPECT_EQ(at_b.got[0].type, "answer.stop");
  EXPECT_EQ(at_b.got[0].conversation_id, "conv-1");
  EXPECT_EQ(at_a.got.size(), 1u) << "once, not also delivered locally";
}

TEST(RedisEventBus, WhileRedisIsUnreachableEventsReachThisReplica) {
  redis::Options o;
  o.port = 9;  // nothing listens
  o.connect_timeout = 200ms;
  redis::Client c(o);
  RedisEventBus bus(c, "aas:events");
  Inbox inbox;
  bus.subscribe(inbox.handler());
  bus.publish(Event{"answer.stop", "u", "c", {}, {}});
  ASSERT_EQ(inbox.got.size(), 1u);
  EXPECT_EQ(inbox.got[0].user_id, "u");
}

}  // namespace
}  // namespace aas::realtime
