// The Redis client against a real server (scripts/with-redis.sh): URLs, commands and replies,
// scripts, authentication, an unreachable server, and subscriptions.
#include "redis/client.hpp"
#include "testing/redis_server.hpp"

#include <gtest/gtest.h>
#include <spdlog/details/null_mutex.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace aas::redis {
namespace {

using namespace std::chrono_literals;

TEST(RedisUrl, ParsesHostPortPasswordUserAndDatabase) {
  auto plain = parse_url("redis://cache:6380");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->host, "cache");
  EXPECT_EQ(plain->port, 6380);
  EXPECT_EQ(plain->database, 0);
  EXPECT_TRUE(plain->password.empty());

  auto full = parse_url("redis://ai:s%40cret@10.0.0.5/3");
  ASSERT_TRUE(full);
  EXPECT_EQ(full->host, "10.0.0.5");
  EXPECT_EQ(full->port, 6379);
  EXPECT_EQ(full->username, "ai");
  EXPECT_EQ(full->password, "s@cret");
  EXPECT_EQ(full->database, 3);

  auto password_only = parse_url("redis://:pw@localhost");
  ASSERT_TRUE(password_only);
  EXPECT_TRUE(password_only->username.empty());
  EXPECT_EQ(password_only->password, "pw");

  EXPECT_FALSE(parse_url("rediss://host"));
  EXPECT_FALSE(parse_url("redis://host/x"));
  EXPECT_FALSE(parse_url("not a url"));
}

TEST(RedisClient, RunsCommandsAndCopiesReplies) {
  AAS_REQUIRE_REDIS(options);
  Client c(options);
  const std::string key = testing::fresh_prefix() + "k";
  auto set = c.command({"SET", key, std::string("a\0b", 3), "EX", "60"});
  ASSERT_TRUE(set);
  EXPECT_EQ(set->type, Reply::Type::status);
  auto get = c.command({"GET", key});
  ASSERT_TRUE(get);
  EXPECT_EQ(get->str, std::string("a\0b", 3)) << "binary safe";
  auto missing = c.command({"GET", key + "-none"});
  ASSERT_TRUE(missing);
  EXPECT_TRUE(missing->is_nil());
  auto wrong = c.command({"INCR", key});
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, errc::internal);
  EXPECT_NE(wrong.error().detail.find("not an integer"), std::string::npos);
  EXPECT_TRUE(c.ping());
}

// A pooled connection that the server closed while it sat idle (Redis restarted, or killed it)
// is not the next call's failure: the call goes out on a fresh connection.
TEST(RedisClient, AnIdleConnectionClosedByTheServerIsReplacedBeforeUse) {
  AAS_REQUIRE_REDIS(options);
  Client c(options);
  auto id = c.command({"CLIENT", "ID"});  // the one connection, idle in the pool afterwards
  ASSERT_TRUE(id);
  Client other(options);
  auto killed = other.command({"CLIENT", "KILL", "ID", std::to_string(id->integer)});
  ASSERT_TRUE(killed);
  ASSERT_EQ(killed->integer, 1);
  auto after = c.command({"CLIENT", "ID"});
  ASSERT_TRUE(after) << after.error().detail;
  EXPECT_NE(after->integer, id->integer);
  EXPECT_TRUE(c.command({"PING"}));
}

TEST(RedisClient, RunsScriptsByDigestAndLoadsThemWhenMissing) {
  AAS_REQUIRE_REDIS(options);
  Client c(options);
  const Script script("return {tonumber(ARGV[1]) * 2, KEYS[1]}");
  ASSERT_TRUE(c.command({"SCRIPT", "FLUSH"}));
  for (int i = 0; i < 2; ++i) {  // the first run loads it, the second finds it
    auto r = c.eval(script, {"key"}, {"21"});
    ASSERT_TRUE(r) << r.error().detail;
    ASSERT_EQ(r->elements.size(), 2u);
    EXPECT_EQ(r->elements[0].integer, 42);
    EXPECT_EQ(r->elements[1].str, "key");
  }
  auto exists = c.command({"SCRIPT", "EXISTS", script.sha1()});
  ASSERT_TRUE(exists);
  EXPECT_EQ(exists->elements.at(0).integer, 1);
}

TEST(RedisClient, AuthenticatesAndNeverEchoesThePassword) {
  AAS_REQUIRE_REDIS(options);
  Client admin(options);
  const std::string user = "u" + testing::fresh_prefix().substr(5, 8);
  ASSERT_TRUE(admin.command({"ACL", "SETUSER", user, "on", ">right-password", "~*", "+@all"}));
  Options good = options;
  good.username = user;
  good.password = "right-password";
  good.database = 1;
  Client ok(good);
  auto who = ok.command({"ACL", "WHOAMI"});
  ASSERT_TRUE(who) << who.error().detail;
  EXPECT_EQ(who->str, user);

  Options bad = good;
  bad.password = "wrong-password";
  Client refused(bad);
  auto r = refused.command({"PING"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::unavailable);
  EXPECT_EQ(r.error().detail.find("wrong-password"), std::string::npos);
  ASSERT_TRUE(admin.command({"ACL", "DELUSER", user}));
}

TEST(RedisClient, AnUnreachableServerFailsFastAfterTheFirstFailureUntilAPingSucceeds) {
  Options o;
  o.port = 9;  // nothing listens
  o.connect_timeout = 200ms;
  o.retry_after_failure = 60s;
  Client c(o);
  auto first = c.command({"PING"});
  ASSERT_FALSE(first);
  EXPECT_EQ(first.error().code, errc::unavailable);
  EXPECT_NE(first.error().detail.find("connect"), std::string::npos);
  auto second = c.command({"PING"});
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().detail, first.error().detail) << "inside the window: the last failure, no new attempt";
  EXPECT_FALSE(c.ping()) << "a probe tries again, and fails again";
}

TEST(RedisClient, ReportsWhenRedisBecomesReachableOrUnreachable) {
  AAS_REQUIRE_REDIS(options);
  std::vector<bool> seen;
  Client up(options);
  up.on_availability([&](bool ok) { seen.push_back(ok); });
  ASSERT_TRUE(up.command({"PING"}));
  ASSERT_TRUE(up.command({"PING"}));
  EXPECT_EQ(seen, std::vector<bool>{true}) << "changes only";

  Options gone;
  gone.port = 9;  // nothing listens
  gone.connect_timeout = 200ms;
  gone.retry_after_failure = 0ms;
  std::vector<bool> down_seen;
  Client down(gone);
  down.on_availability([&](bool ok) { down_seen.push_back(ok); });
  EXPECT_FALSE(down.command({"PING"}));
  EXPECT_FALSE(down.command({"PING"}));
  EXPECT_EQ(down_seen, std::vector<bool>{false});
}

TEST(RedisSubscriber, ReceivesWhatIsPublishedOnItsChannels) {
  AAS_REQUIRE_REDIS(options);
  const std::string channel = testing::fresh_prefix() + "events";
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> got;
  Subscriber sub(options, {channel}, [&](const std::string& ch, const std::string& payload) {
    std::lock_guard lock(mu);
    got.push_back(ch + "=" + payload);
    cv.notify_all();
  });
  for (int i = 0; i < 3000 && !sub.subscribed(); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(sub.subscribed());
  Client c(options);
  ASSERT_TRUE(c.command({"PUBLISH", channel, "one"}));
  ASSERT_TRUE(c.command({"PUBLISH", channel + "-other", "ignored"}));
  ASSERT_TRUE(c.command({"PUBLISH", channel, "two"}));
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return got.size() >= 2; }));
  EXPECT_EQ(got, (std::vector<std::string>{channel + "=one", channel + "=two"}));
}

// Hands each logged line to a function (spdlog 1.10 has no callback sink).
class LineSink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 public:
  explicit LineSink(std::function<void(std::string)> f) : f_(std::move(f)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& m) override { f_(std::string(m.payload.data(), m.payload.size())); }
  void flush_() override {}

 private:
  std::function<void(std::string)> f_;
};

// A handler that throws loses only its own message; a subscription Redis drops (a restart, a
// CLIENT KILL) is said once in the log, comes back, and receives again.
TEST(RedisSubscriber, SurvivesAThrowingHandlerAndALostConnection) {
  AAS_REQUIRE_REDIS(options);
  const std::string channel = testing::fresh_prefix() + "events";
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> got, logged;
  // The log is how the subscriber says it lost and restored its connection: the test waits on it.
  auto sink = std::make_shared<LineSink>([&](std::string line) {
    std::lock_guard lock(mu);
    logged.push_back(std::move(line));
    cv.notify_all();
  });
  spdlog::default_logger()->sinks().push_back(sink);
  // Taken out again however the test ends (an ASSERT returns early), before what it refers to goes.
  const std::unique_ptr<void, std::function<void(void*)>> unhook(
      sink.get(), [&](void*) { std::erase(spdlog::default_logger()->sinks(), sink); });
  const auto logged_has = [&](std::string_view what) {
    return std::any_of(logged.begin(), logged.end(),
                       [&](const std::string& l) { return l.find(what) != std::string::npos; });
  };
  {
    Subscriber sub(options, {channel}, [&](const std::string&, const std::string& payload) {
      if (payload == "boom") throw std::runtime_error("handler exploded");
      std::lock_guard lock(mu);
      got.push_back(payload);
      cv.notify_all();
    });
    for (int i = 0; i < 3000 && !sub.subscribed(); ++i) std::this_thread::sleep_for(10ms);
    ASSERT_TRUE(sub.subscribed());
    Client c(options);
    ASSERT_TRUE(c.command({"PUBLISH", channel, "boom"}));
    ASSERT_TRUE(c.command({"PUBLISH", channel, "after"}));
    {
      std::unique_lock lock(mu);
      ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return !got.empty(); }));
      EXPECT_EQ(got, std::vector<std::string>{"after"});
      EXPECT_TRUE(logged_has("redis message handler failed: handler exploded"));
    }

    auto killed = c.command({"CLIENT", "KILL", "TYPE", "pubsub"});
    ASSERT_TRUE(killed);
    EXPECT_EQ(killed->integer, 1);
    {
      std::unique_lock lock(mu);
      ASSERT_TRUE(cv.wait_for(lock, 30s, [&] { return logged_has("redis subscription restored"); }));
      EXPECT_TRUE(logged_has("redis subscription lost"));
    }
    // Restored means SUBSCRIBE was sent; publish until the server has it (NUMSUB), then once.
    for (int i = 0; i < 3000; ++i) {
      auto n = c.command({"PUBSUB", "NUMSUB", channel});
      if (n && n->elements.size() == 2 && n->elements[1].integer == 1) break;
      std::this_thread::sleep_for(10ms);
    }
    ASSERT_TRUE(c.command({"PUBLISH", channel, "again"}));
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return got.size() >= 2; }));
    EXPECT_EQ(got, (std::vector<std::string>{"after", "again"}));
  }
}

}  // namespace
}  // namespace aas::redis
