// KeyAuthenticator: "aas_sk_" tokens are looked up in the key store (a real SQLite one), anything
// else goes to the next authenticator; a key is cached until forget() (the bus's key.revoked) or
// its TTL; the principal is the key's, never admin, limited to its models; the replica that revokes
// a key refuses it before the bus delivers (KeyService::set_local_forget).
#include "keys/key_authenticator.hpp"

#include "keys/key_service.hpp"
#include "keys/sql_key_store.hpp"
#include "limits/policies.hpp"
#include "realtime/event_bus.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "testing/fake_clock.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <vector>

namespace aas::keys {
namespace {

namespace asio = boost::asio;
using testing::FakeClock;

class NextAuthenticator final : public auth::Authenticator {
 public:
  boost::asio::awaitable<Result<auth::Principal>> authenticate(std::string_view token) const override {
    ++calls;
    if (token != "jwt") co_return make_error(errc::unauthorized, "invalid token");
    auth::Principal p;
    p.user_id = "alice";
    co_return p;
  }
  mutable int calls = 0;
};

class KeyAuthenticatorTest : public ::testing::Test {
 protected:
  KeyAuthenticatorTest()
      : path_((std::filesystem::temp_directory_path() / ("aas-keyauth-" + std::to_string(::getpid()) + ".db")).string()) {
    std::filesystem::remove(path_);
    EXPECT_TRUE(store::sqlite::open_sqlite_store(path_, clock_)->migrate());
    keys_ = open_sqlite_key_store(path_, clock_);
  }
  ~KeyAuthenticatorTest() override {
    keys_.reset();
    pool_.join();
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path_ + suffix);
  }
  Result<auth::Principal> check(const KeyAuthenticator& a, const std::string& token) {
    auto f = asio::co_spawn(ioc_, a.authenticate(token), asio::use_future);
    ioc_.restart();
    ioc_.run();
    return f.get();
  }
  std::pair<ServiceKey, std::string> issue(std::vector<std::string> models = {}, bool act = false) {
    const Secret s = new_secret();
    auto k = keys_->create(NewServiceKey{"svc", std::move(models), act}, s.prefix, s.hash);
    EXPECT_TRUE(k);
    return {*k, s.key};
  }

  FakeClock clock_;
  std::string path_;
  std::unique_ptr<KeyStore> keys_;
  NextAuthenticator next_;
  asio::thread_pool pool_{1};
  asio::io_context ioc_;
};

TEST_F(KeyAuthenticatorTest, OtherTokensGoToTheNextAuthenticator) {
  const KeyAuthenticator auth(next_, *keys_, pool_, clock_);
  auto p = check(auth, "jwt");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->user_id, "alice");
  EXPECT_EQ(next_.calls, 1);
}

TEST_F(KeyAuthenticatorTest, AKeyIsItsOwnPrincipalNeverAdmin) {
  const auto [key, secret] = issue({"mock"}, true);
  const KeyAuthenticator auth(next_, *keys_, pool_, clock_);
  auto p = check(auth, secret);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->user_id, "key:" + key.id);
  EXPECT_EQ(p->key_id, key.id);
  EXPECT_FALSE(p->is_admin);
  EXPECT_TRUE(p->may_act_for_users);
  EXPECT_TRUE(limits::model_allowed(p->roles, "mock"));
  EXPECT_FALSE(limits::model_allowed(p->roles, "gpt-4o"));
  EXPECT_EQ(next_.calls, 0) << "a key never reaches the JWT check";

  auto unknown = check(auth, std::string(kKeyPrefix) + std::string(64, '0'));
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, errc::unauthorized);
}

TEST_F(KeyAuthenticatorTest, AKeyWithoutModelsMayUseAny) {
  const auto [key, secret] = issue();
  const KeyAuthenticator auth(next_, *keys_, pool_, clock_);
  auto p = check(auth, secret);
  ASSERT_TRUE(p);
  EXPECT_TRUE(limits::model_allowed(p->roles, "anything"));
  EXPECT_FALSE(p->may_act_for_users);
  EXPECT_TRUE(limits::model_allowed({"member"}, "anything")) << "a user without model roles";
}

TEST_F(KeyAuthenticatorTest, ForgetEndsACachedKeyAtOnce) {
  const auto [key, secret] = issue();
  const KeyAuthenticator auth(next_, *keys_, pool_, clock_);
  ASSERT_TRUE(check(auth, secret));
  ASSERT_TRUE(keys_->revoke(key.id));
  EXPECT_TRUE(check(auth, secret)) << "cached: the store is not read again within the TTL";
  auth.forget(key.id);
  auto refused = check(auth, secret);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, errc::unauthorized);
}

TEST_F(KeyAuthenticatorTest, TheCacheEndsAfterItsTtlWithoutAnyEvent) {
  const auto [key, secret] = issue();
  const KeyAuthenticator auth(next_, *keys_, pool_, clock_);
  ASSERT_TRUE(check(auth, secret));
  ASSERT_TRUE(keys_->revoke(key.id));
  clock_.advance(KeyAuthenticator::kCacheTtl);
  EXPECT_FALSE(check(auth, secret)) << "a lost key.revoked message is bounded by the TTL";
}

// A bus that never delivers: what a replica knows before Redis brings its own announcement back.
class SilentBus final : public realtime::EventBus {
 public:
  void publish(const realtime::Event& e) override { published.push_back(e); }
  void subscribe(Handler) override {}
  std::vector<realtime::Event> published;
};

TEST_F(KeyAuthenticatorTest, TheReplicaThatRevokesAKeyRefusesItBeforeTheBusDelivers) {
  // keys-cluster.test.mjs saw the revoking replica itself accept the key once under load: it
  // waited for its own key.revoked to come back through Redis.
  const auto [key, secret] = issue();
  const KeyAuthenticator auth(next_, *keys_, pool_, clock_);
  ASSERT_TRUE(check(auth, secret));
  auto store = store::sqlite::open_sqlite_store(path_, clock_);
  SilentBus bus;
  KeyService service(*keys_, *store, pool_, bus);
  service.set_local_forget([&auth](std::string_view id) { auth.forget(id); });
  auto revoked = asio::co_spawn(ioc_, service.revoke(key.id), asio::use_future);
  ioc_.restart();
  ioc_.run();
  ASSERT_TRUE(revoked.get());
  ASSERT_EQ(bus.published.size(), 1u) << "the other replicas are told too";
  EXPECT_EQ(bus.published[0].user_id, "key:" + key.id);
  auto refused = check(auth, secret);
  ASSERT_FALSE(refused) << "refused at once, without the bus's delivery";
  EXPECT_EQ(refused.error().code, errc::unauthorized);
}

}  // namespace
}  // namespace aas::keys
