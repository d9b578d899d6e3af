// Webhooks: the signature (Stripe's scheme, checked against Python's hmac), the retry schedule, the
// endpoint as the log shows it, and the delivery store on both adapters: SQLite (a temp file) and a
// real PostgreSQL (scripts/with-postgres.sh).
#include "webhooks/budget_watch.hpp"
#include "webhooks/delivery_store.hpp"
#include "webhooks/signature.hpp"
#include "webhooks/webhooks.hpp"

#include "http/client.hpp"
#include "testing/fake_clock.hpp"
#include "testing/migrated_database.hpp"

#include <boost/asio/thread_pool.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <map>
#include <set>

#include <memory>

namespace aas::webhooks {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;

TEST(Signature, IsHmacSha256OfTimestampDotBody) {
  // python3: hmac.new(b'whsec_test_secret_0123', b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
  EXPECT_EQ(signature_header("whsec_test_secret_0123", 1700000000, R"({"a":1})"),
            "t=1700000000,v1=b1e06771f9a20c020fc4b9be257996790d615bbe4d030159b6a5669fdada024c");
}

TEST(RetryDelay, DoublesFromTheBaseUpToTheCapWithJitterInTheUpperHalf) {
  Options o;
  o.retry_base = 1000ms;
  o.retry_max = 10'000ms;
  EXPECT_EQ(retry_delay(o, 1, 0.0), 500ms);
  EXPECT_EQ(retry_delay(o, 1, 0.999), 999ms);
  EXPECT_EQ(retry_delay(o, 2, 0.0), 1000ms);
  EXPECT_EQ(retry_delay(o, 3, 0.5), 3000ms);
  EXPECT_EQ(retry_delay(o, 4, 0.0), 4000ms);
  EXPECT_EQ(retry_delay(o, 5, 0.0), 5000ms) << "16 s capped at 10 s";
  EXPECT_EQ(retry_delay(o, 60, 0.0), 5000ms) << "no overflow after many attempts";
}

TEST(RedactedEndpoint, DropsCredentialsAndQuery) {
  EXPECT_EQ(redacted_endpoint("https://user:pw@hooks.example.com:8443/in/aas?token=abc"), "https://hooks.example.com:8443/in/aas");
  EXPECT_EQ(redacted_endpoint("http://127.0.0.1/x"), "http://127.0.0.1/x");
  EXPECT_EQ(redacted_endpoint("not a url"), "(invalid url)");
}

class DeliveryStoreTest : public ::testing::TestWithParam<testing::MigratedDatabase> {
 protected:
  void SetUp() override {
    const std::string where = GetParam().open(clock_, keep_);
    store_ = GetParam().name == "sqlite" ? open_sqlite_delivery_store(where, clock_)
                                         : open_postgres_delivery_store(where, clock_);
    endpoints_ = GetParam().name == "sqlite" ? open_sqlite_endpoint_store(where, clock_)
                                             : open_postgres_endpoint_store(where, clock_);
  }
  void TearDown() override {
    endpoints_.reset();
    store_.reset();
    keep_.reset();
  }
  // Webhooks sending every event to one global endpoint (WEBHOOK_URLS), on `blocking`.
  std::unique_ptr<Webhooks> global_hooks(boost::asio::thread_pool& blocking) {
    Options o;
    o.urls = {"http://a.example/hook"};
    o.secret = "whsec_0123456789abcdef";
    return std::make_unique<Webhooks>(
        *store_, nullptr, std::make_shared<http::HttpClient>(blocking.get_executor(), http::ClientOptions{}), blocking,
        clock_, o);
  }
  std::vector<Delivery> claim(std::chrono::milliseconds lease = 10s, int max = 10) {
    auto r = store_->claim(clock_.now(), clock_.now() + lease, max);
    EXPECT_TRUE(r) << (r ? "" : r.error().detail);
    return r ? *r : std::vector<Delivery>{};
  }

  FakeClock clock_;
  std::shared_ptr<void> keep_;
  std::unique_ptr<DeliveryStore> store_;
  std::unique_ptr<EndpointStore> endpoints_;
};

TEST_P(DeliveryStoreTest, AQueuedDeliveryIsClaimedOnceUntilItsLeaseEnds) {
  ASSERT_TRUE(store_->enqueue({{"http://a/hook", "evt_1", "message.completed", R"({"id":"evt_1"})"},
                               {"http://b/hook", "evt_1", "message.completed", R"({"id":"evt_1"})"}}));
  auto first = claim();
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].attempts, 1);
  EXPECT_EQ(first[0].status, "pending");
  EXPECT_EQ(first[0].payload, R"({"id":"evt_1"})");
  EXPECT_TRUE(claim().empty()) << "leased: no other replica takes it";
  clock_.advance(10s);
  auto again = claim();
  ASSERT_EQ(again.size(), 2u) << "the lease ran out (the replica died mid-attempt): tried again";
  EXPECT_EQ(again[0].attempts, 2);
}

TEST_P(DeliveryStoreTest, DeliveredIsDoneAFailedAttemptWaitsForItsRetryOrGivesUp) {
  ASSERT_TRUE(store_->enqueue({{"http://a/1", "evt_a", "t", "{}"}, {"http://a/2", "evt_b", "t", "{}"},
                               {"http://a/3", "evt_c", "t", "{}"}}));
  auto due = claim();
  ASSERT_EQ(due.size(), 3u);
  ASSERT_TRUE(store_->delivered(due[0].id, 204));
  ASSERT_TRUE(store_->attempt_failed(due[1].id, 500, "HTTP 500", clock_.now() + 2s));
  ASSERT_TRUE(store_->attempt_failed(due[2].id, 400, "HTTP 400", std::nullopt));
  clock_.advance(1s);
  EXPECT_TRUE(claim().empty());
  clock_.advance(1s);
  auto retry = claim();
  ASSERT_EQ(retry.size(), 1u);
  EXPECT_EQ(retry[0].id, due[1].id);
  EXPECT_EQ(retry[0].last_status, 500);
  EXPECT_EQ(retry[0].last_error, "HTTP 500");

  auto failed = store_->list({10, std::nullopt}, std::string("failed"));
  ASSERT_TRUE(failed);
  ASSERT_EQ(failed->items.size(), 1u);
  EXPECT_EQ(failed->items[0].id, due[2].id);
  auto delivered = store_->list({10, std::nullopt}, std::string("delivered"));
  ASSERT_TRUE(delivered);
  ASSERT_EQ(delivered->items.size(), 1u);
  EXPECT_EQ(delivered->items[0].last_status, 204);
}

TEST_P(DeliveryStoreTest, TheLogPagesNewestFirst) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(store_->enqueue({{"http://a/x", "evt_" + std::to_string(i), "t", "{}"}}));
    clock_.advance(2ms);
  }
  std::vector<std::string> events;
  domain::PageRequest page{2, std::nullopt};
  for (int guard = 0; guard < 10; ++guard) {
    auto p = store_->list(page, std::nullopt);
    ASSERT_TRUE(p);
    for (const auto& d : p->items) events.push_back(d.event_id);
    if (!p->next_cursor) break;
    page.cursor = p->next_cursor;
  }
  EXPECT_EQ(events, (std::vector<std::string>{"evt_4", "evt_3", "evt_2", "evt_1", "evt_0"}));
  EXPECT_EQ(store_->list({2, std::string("nope")}, std::nullopt).error().code, errc::invalid_request);
}

TEST_P(DeliveryStoreTest, ClaimTakesAtMostTheBatchOldestDueFirst) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(store_->enqueue({{"http://a/x", "evt_" + std::to_string(i), "t", "{}"}}));
    clock_.advance(1ms);
  }
  auto two = claim(10s, 2);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[0].event_id, "evt_0");
  EXPECT_EQ(two[1].event_id, "evt_1");
  auto last = claim(10s, 2);
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].event_id, "evt_2");
}

INSTANTIATE_TEST_SUITE_P(Adapters, DeliveryStoreTest, ::testing::ValuesIn(testing::migrated_databases()),
                         [](const auto& info) { return info.param.name; });

// What announcing queues: one delivery per endpoint, the event's body as it will be signed and sent.
TEST_P(DeliveryStoreTest, AnnouncingQueuesTheEventForEveryEndpoint) {
  boost::asio::thread_pool blocking(1);
  Options o;
  o.urls = {"http://a.example/hook", "https://b.example/in"};
  o.secret = "whsec_0123456789abcdef";
  Webhooks hooks(*store_, nullptr, std::make_shared<http::HttpClient>(blocking.get_executor(), http::ClientOptions{}), blocking,
                 clock_, o);
  hooks.document_indexed("u1", "kb-1", "doc-1", 12);
  hooks.budget_threshold("u2", "daily", 80, 1'600'000, 2'000'000);
  auto due = claim();
  blocking.join();
  ASSERT_EQ(due.size(), 4u);
  const auto body = [](const Delivery& d) { return boost::json::parse(d.payload).as_object(); };
  std::set<std::string> endpoints;
  for (const Delivery& d : due) {
    const auto b = body(d);
    EXPECT_EQ(b.at("id").as_string(), d.event_id);
    EXPECT_EQ(b.at("type").as_string(), d.event_type);
    if (d.event_type == "knowledge.document.indexed") {
      endpoints.insert(d.endpoint);
      EXPECT_EQ(b.at("data").at("knowledgeBaseId").as_string(), "kb-1");
      EXPECT_EQ(b.at("data").at("documentId").as_string(), "doc-1");
      EXPECT_EQ(b.at("data").at("chunks").as_int64(), 12);
      EXPECT_EQ(b.at("data").at("userId").as_string(), "u1");
    } else {
      EXPECT_EQ(d.event_type, "budget.threshold");
      EXPECT_EQ(b.at("data").at("thresholdPercent").as_int64(), 80);
      EXPECT_DOUBLE_EQ(b.at("data").at("spentUsd").to_number<double>(), 1.6);
      EXPECT_DOUBLE_EQ(b.at("data").at("limitUsd").to_number<double>(), 2.0);
    }
  }
  EXPECT_EQ(endpoints, (std::set<std::string>{"http://a.example/hook", "https://b.example/in"}));
}

TEST_P(DeliveryStoreTest, EndpointsAreCreatedListedRotatedAndRemoved) {
  auto a = endpoints_->create({"http://a.example/in", "whsec_a", "key:1", {"message.completed", "budget.threshold"}});
  ASSERT_TRUE(a) << a.error().detail;
  auto b = endpoints_->create({"http://b.example/in", "whsec_b", "user-2", {}});
  ASSERT_TRUE(b);
  EXPECT_EQ(a->events, (std::vector<std::string>{"message.completed", "budget.threshold"}));
  EXPECT_TRUE(a->wants("budget.threshold"));
  EXPECT_FALSE(a->wants("knowledge.document.indexed"));
  EXPECT_TRUE(b->wants("knowledge.document.indexed")) << "no events named: every type";
  EXPECT_FALSE(a->rotated_at);
  auto all = endpoints_->all();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id, a->id);
  auto page = endpoints_->list({1, std::nullopt});
  ASSERT_TRUE(page);
  ASSERT_EQ(page->items.size(), 1u);
  ASSERT_TRUE(page->next_cursor);
  auto rotated = endpoints_->rotate(a->id, "whsec_a2");
  ASSERT_TRUE(rotated);
  EXPECT_EQ(rotated->secret, "whsec_a2");
  EXPECT_TRUE(rotated->rotated_at);
  EXPECT_EQ(endpoints_->get(a->id)->secret, "whsec_a2");
  auto removed = endpoints_->remove(b->id);
  ASSERT_TRUE(removed);
  EXPECT_EQ(removed->url, "http://b.example/in");
  EXPECT_EQ(endpoints_->get(b->id).error().code, errc::not_found);
  EXPECT_EQ(endpoints_->remove(b->id).error().code, errc::not_found);
  EXPECT_EQ(endpoints_->rotate(b->id, "x").error().code, errc::not_found);
}

// A tenant's endpoint gets that tenant's events (of the types it wants) and no other's; a
// WEBHOOK_URLS endpoint gets every event. Each delivery names the endpoint it is for.
TEST_P(DeliveryStoreTest, AnnouncingQueuesForTheTenantsEndpointsOnly) {
  auto mine = endpoints_->create({"http://tenant-a.example/in", "whsec_a", "key:a", {"budget.threshold"}});
  auto theirs = endpoints_->create({"http://tenant-b.example/in", "whsec_b", "key:b", {}});
  ASSERT_TRUE(mine && theirs);
  boost::asio::thread_pool blocking(1);
  Options o;
  o.urls = {"http://global.example/hook"};
  o.secret = "whsec_0123456789abcdef";
  Webhooks hooks(*store_, endpoints_.get(),
                 std::make_shared<http::HttpClient>(blocking.get_executor(), http::ClientOptions{}), blocking, clock_, o);
  hooks.refresh_endpoints();
  hooks.budget_threshold("key:a", "daily", 80, 1, 2);
  hooks.document_indexed("key:a", "kb", "doc", 1);  // not a type tenant a's endpoint wants
  hooks.document_indexed("someone", "kb", "doc", 1);
  auto due = claim();
  blocking.join();
  std::multiset<std::string> got;
  for (const Delivery& d : due) got.insert(d.event_type + " " + d.endpoint + " " + d.endpoint_id);
  EXPECT_EQ(got, (std::multiset<std::string>{
                     "budget.threshold http://global.example/hook ",
                     "budget.threshold http://tenant-a.example/in " + mine->id,
                     "knowledge.document.indexed http://global.example/hook ",
                     "knowledge.document.indexed http://global.example/hook ",
                 }));
}

// message.completed carries the answer's token counts, null when the publisher had none (an
// error before any usage), never a made-up 0.
TEST_P(DeliveryStoreTest, ACompletedMessagesTokensAreNullWhenUnknown) {
  boost::asio::thread_pool blocking(1);
  const auto owned = global_hooks(blocking);
  Webhooks& hooks = *owned;
  realtime::Event done{"message.completed", "u1", "conv-1", "msg-1", "complete"};
  done.model = "quick";
  done.input_tokens = 12;
  done.output_tokens = 34;
  realtime::Event failed{"message.completed", "u1", "conv-1", "msg-2", "error"};
  hooks.message_completed(done);
  hooks.message_completed(failed);
  auto due = claim();
  blocking.join();
  ASSERT_EQ(due.size(), 2u);
  std::map<std::string, boost::json::object> by_message;
  for (const Delivery& d : due) {
    auto data = boost::json::parse(d.payload).at("data").as_object();
    by_message[std::string(data.at("messageId").as_string())] = data;
  }
  EXPECT_EQ(by_message.at("msg-1").at("inputTokens").as_int64(), 12);
  EXPECT_EQ(by_message.at("msg-1").at("outputTokens").as_int64(), 34);
  EXPECT_EQ(by_message.at("msg-1").at("model").as_string(), "quick");
  EXPECT_TRUE(by_message.at("msg-2").at("inputTokens").is_null());
  EXPECT_TRUE(by_message.at("msg-2").at("outputTokens").is_null());
  EXPECT_EQ(by_message.at("msg-2").at("status").as_string(), "error");
}

// budget.threshold from BudgetWatch: each threshold once per period; a new day forgets the
// past day's crossings (so the daily ones are announced again) but keeps the month's; a status
// that cannot be read announces nothing; free calls and unlimited budgets are not looked at.
TEST_P(DeliveryStoreTest, BudgetCrossingsAreAnnouncedOncePerPeriodAndForgottenWithIt) {
  boost::asio::thread_pool blocking(1);
  const auto owned = global_hooks(blocking);
  Webhooks& hooks = *owned;
  limits::Status status;
  status.daily = {1'000'000, 850'000};
  status.monthly = {10'000'000, 9'000'000};
  bool readable = true;
  int reads = 0;
  BudgetWatch watch(
      hooks,
      [&](const std::string&, const std::vector<std::string>&) -> Result<limits::Status> {
        ++reads;
        if (!readable) return make_error(errc::unavailable, "redis is down");
        return status;
      },
      clock_);
  // The deliveries queued since the last look: "<period> <threshold>".
  const auto announced = [&] {
    std::multiset<std::string> out;
    for (const Delivery& d : claim(72h, 100)) {  // leased past the day the clock moves on
      const auto data = boost::json::parse(d.payload).at("data").as_object();
      out.insert(std::string(data.at("period").as_string()) + " " + std::to_string(data.at("thresholdPercent").as_int64()));
    }
    return out;
  };

  watch.recorded("u1", {}, 0);
  EXPECT_EQ(reads, 0) << "a free call changes no budget";
  watch.recorded("u1", {}, 5);
  EXPECT_EQ(announced(), (std::multiset<std::string>{"daily 80", "monthly 80"}));
  status.daily.spent_micros = 1'000'000;
  watch.recorded("u1", {}, 5);
  watch.recorded("u1", {}, 5);
  EXPECT_EQ(announced(), (std::multiset<std::string>{"daily 100"})) << "each crossing once";

  clock_.advance(24h);  // 2026-11-26: the same month
  status.daily.spent_micros = 900'000;
  watch.recorded("u1", {}, 5);
  EXPECT_EQ(announced(), (std::multiset<std::string>{"daily 80"}));

  readable = false;
  status.monthly.spent_micros = 10'000'000;
  watch.recorded("u1", {}, 5);
  EXPECT_TRUE(announced().empty()) << "an unreadable status announces nothing";
  readable = true;
  status.daily.limit_micros.reset();  // no daily budget any more
  watch.recorded("u1", {}, 5);
  EXPECT_EQ(announced(), (std::multiset<std::string>{"monthly 100"}));
  blocking.join();
}

TEST(DeliveryStorePostgres, ServerIsGivenToTheTests) { testing::expect_postgres_server("the delivery store"); }

}  // namespace
}  // namespace aas::webhooks
