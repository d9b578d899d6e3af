#include "llm/router.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/system/system_error.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <future>
#include <mutex>
#include <thread>

namespace aas::llm {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
using std::chrono::milliseconds;

namespace {

class FakeClock final : public Clock {
 public:
  TimePoint now() const override { return TimePoint(milliseconds(ms_.load())); }
  void advance(milliseconds d) { ms_ += d.count(); }

 private:
  std::atomic<std::int64_t> ms_{1'700'000'000'000};
};

// One scripted answer of a fake deployment: stream the chunks, wait, then fail or succeed.
struct Step {
  milliseconds delay{0};
  std::vector<std::string> chunks;
  std::optional<Error> error;
};

Step fail(Error e, milliseconds delay = 0ms) { return Step{delay, {}, std::move(e)}; }
Step answer(std::vector<std::string> chunks = {"ok"}, milliseconds delay = 0ms) {
  return Step{delay, std::move(chunks), std::nullopt};
}

// A deployment that plays its script, then repeats `otherwise`. It records what it was asked
// and how many calls it had in flight at once.
class FakeProvider final : public LlmProvider {
 public:
  explicit FakeProvider(Step otherwise = answer()) : otherwise_(std::move(otherwise)) {}
  FakeProvider(std::vector<Step> script, Step otherwise)
      : script_(script.begin(), script.end()), otherwise_(std::move(otherwise)) {}

  std::string_view name() const override { return "fake"; }
  asio::awaitable<Result<Completion>> complete(const ChatRequest& req) override {
    return play(req, nullptr);
  }
  asio::awaitable<Result<Completion>> stream(const ChatRequest& req, const ChunkSink& sink) override {
    return play(req, &sink);
  }

  int calls() const { return calls_.load(); }
  int max_in_flight() const { return max_in_flight_.load(); }
  int in_flight() const { return in_flight_.load(); }
  int cancelled() const { return cancelled_.load(); }
  std::vector<std::string> models() const {
    std::lock_guard lock(mu_);
    return models_;
  }
  // Called at the start of every call, on the caller's executor (for ordering checks).
  std::function<void()> on_call;

 private:
  asio::awaitable<Result<Completion>> play(const ChatRequest& req, const ChunkSink* sink) {
    Step step;
    {
      std::lock_guard lock(mu_);
      models_.push_back(req.model);
      if (script_.empty()) {
        step = otherwise_;
      } else {
        step = std::move(script_.front());
        script_.pop_front();
      }
    }
    ++calls_;
    if (on_call) on_call();
    const int now_in = ++in_flight_;
    for (int seen = max_in_flight_.load(); now_in > seen && !max_in_flight_.compare_exchange_weak(seen, now_in);) {
    }
    struct Leave {
      std::atomic<int>& n;
      ~Leave() { --n; }
    } leave{in_flight_};

    std::string content;
    for (const auto& chunk : step.chunks) {
      content += chunk;
      if (sink != nullptr) (*sink)(StreamDelta{chunk});
    }
    if (step.delay > 0ms) {
      asio::steady_timer timer(co_await asio::this_coro::executor, step.delay);
      try {
        co_await timer.async_wait(asio::use_awaitable);
      } catch (const boost::system::system_error&) {
        ++cancelled_;
        throw;
      }
    }
    if (step.error) co_return *step.error;
    Completion c;
    c.content = content;
    c.model = req.model;  // as a real upstream reports the model it ran
    c.finish_reason = "stop";
    co_return c;
  }

  mutable std::mutex mu_;
  std::deque<Step> script_;
  Step otherwise_;
  std::vector<std::string> models_;
  std::atomic<int> calls_{0}, in_flight_{0}, max_in_flight_{0}, cancelled_{0};
};

Error upstream(int status, std::optional<int> retry_after = std::nullopt) {
  Error e = make_error(status == 429 ? errc::rate_limited : errc::upstream_error,
                       "the upstream failed", "HTTP " + std::to_string(status));
  e.upstream_status = status;
  e.retry_after_seconds = retry_after;
  return e;
}

RetryPolicy fast(int attempts = 3) {
  RetryPolicy p;
  p.max_attempts = attempts;
  p.base_delay = 1ms;
  p.max_delay = 5ms;
  p.max_retry_after = 2000ms;
  p.deadline = 10s;
  return p;
}

// A breaker that never opens, for tests about something else.
BreakerPolicy lenient() {
  BreakerPolicy b;
  b.consecutive_failures = 1'000'000;
  b.failure_ratio = 2.0;
  return b;
}

Deployment deployment(const std::string& name, std::shared_ptr<FakeProvider> p, int weight = 1) {
  Deployment d;
  d.name = name;
  d.upstream_model = name + "-model";
  d.provider = std::move(p);
  d.weight = weight;
  return d;
}

ChatRequest request() {
  ChatRequest req;
  req.model = "alias";
  req.messages = {{"user", "hi"}};
  return req;
}

template <class F>
auto run(F f) {
  asio::io_context ioc;
  auto fut = asio::co_spawn(ioc, f(), asio::use_future);
  ioc.run();
  return fut.get();
}

// Starts n calls at once and runs them on `threads` threads.
template <class F>
std::vector<Result<Completion>> run_concurrently(int n, F make, int threads = 1) {
  asio::io_context ioc;
  std::vector<std::future<Result<Completion>>> futures;
  for (int i = 0; i < n; ++i) futures.push_back(asio::co_spawn(ioc, make(), asio::use_future));
  std::vector<std::thread> extra;
  for (int t = 1; t < threads; ++t) extra.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : extra) t.join();
  std::vector<Result<Completion>> results;
  for (auto& f : futures) results.push_back(f.get());
  return results;
}

struct Recorder {
  std::mutex mu;
  std::vector<std::pair<std::string, BreakerState>> breaker;
  std::vector<std::pair<std::string, std::string>> fallbacks;
  std::vector<int> retries;
  std::vector<std::pair<std::string, errc>> errors;
  RouterHooks hooks() {
    RouterHooks h;
    h.on_breaker = [this](const std::string& d, BreakerState s) {
      std::lock_guard lock(mu);
      breaker.emplace_back(d, s);
    };
    h.on_fallback = [this](const std::string& from, const std::string& to) {
      std::lock_guard lock(mu);
      fallbacks.emplace_back(from, to);
    };
    h.on_retry = [this](const std::string&, const Error&, int attempt) {
      std::lock_guard lock(mu);
      retries.push_back(attempt);
    };
    h.on_upstream_error = [this](const std::string& d, const Error& e) {
      std::lock_guard lock(mu);
      errors.emplace_back(d, e.code);
    };
    return h;
  }
};

}  // namespace

// --- is_retryable ---

TEST(IsRetryable, RateLimitsTimeoutsServerAndConnectionErrors) {
  EXPECT_TRUE(is_retryable(make_error(errc::rate_limited, "")));
  EXPECT_TRUE(is_retryable(make_error(errc::upstream_timeout, "")));
  EXPECT_TRUE(is_retryable(make_error(errc::unavailable, "")));
  EXPECT_TRUE(is_retryable(make_error(errc::upstream_error, "", "connection refused")));
  for (int s : {408, 409, 429, 500, 502, 503, 504, 529}) EXPECT_TRUE(is_retryable(upstream(s))) << s;
}

TEST(IsRetryable, NotClientErrorsOrRefusals) {
  for (auto c : {errc::invalid_request, errc::unauthorized, errc::forbidden, errc::not_found,
                 errc::payload_too_large, errc::budget_exceeded, errc::internal})
    EXPECT_FALSE(is_retryable(make_error(c, ""))) << code_name(c);
  for (int s : {400, 401, 403, 404, 413, 422}) EXPECT_FALSE(is_retryable(upstream(s))) << s;
}

// --- retries ---

TEST(Router, SucceedsOnTheFirstTryWithTheDeploymentsUpstreamModel) {
  FakeClock clock;
  auto p = std::make_shared<FakeProvider>();
  RoutedModel model("alias", {deployment("a", p)}, fast(), lenient(), clock);
  const auto req = request();
  auto r = run([&] { return model.complete(req); });
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(r->content, "ok");
  EXPECT_EQ(r->model, "a-model");
  EXPECT_EQ(p->calls(), 1);
  EXPECT_EQ(p->models(), std::vector<std::string>{"a-model"});
}

// A stream handed over once flowing (as HttpProvider's are): the router's coroutines have returned,
// but the deployment's slot stays taken until the outcome, the renamed request stays alive, and
// the outcome names who answered.
TEST(Router, AnOpenedStreamKeepsItsSlotAndRequestUntilItsOutcome) {
  class Opening final : public LlmProvider {
   public:
    std::string_view name() const override { return "opening"; }
    asio::awaitable<Result<Completion>> complete(const ChatRequest&) override {
      co_return make_error(errc::internal, "not used");
    }
    asio::awaitable<Result<Completion>> stream(const ChatRequest& r, const ChunkSink& s) override {
      return stream_through(*this, r, s);
    }
    asio::awaitable<Result<std::unique_ptr<OpenStream>>> open_stream(const ChatRequest& req,
                                                                    const ChunkSink& sink) override {
      if (!sink(StreamDelta{"first "})) co_return make_error(errc::internal, "declined");
      co_return std::unique_ptr<OpenStream>(std::make_unique<Flowing>(req));
    }

   private:
    struct Flowing final : OpenStream {
      explicit Flowing(const ChatRequest& r) : req(r) {}
      asio::awaitable<void> read_rest(const ChunkSink& sink) override {
        sink(StreamDelta{"rest"});
        co_return;
      }
      Result<Completion> outcome(bool) override {
        Completion c;
        c.content = "first rest";
        c.model = req.model;  // read now: the request the router renamed must still be there
        c.finish_reason = "stop";
        return c;
      }
      const ChatRequest& req;
    };
  };
  FakeClock clock;
  Deployment d;
  d.name = "a";
  d.upstream_model = "a-model";
  d.provider = std::make_shared<Opening>();
  std::mutex mu;
  int in_flight = -1;
  RouterHooks hooks;
  hooks.on_load = [&](const std::string&, int n, int) {
    std::lock_guard lock(mu);
    in_flight = n;
  };
  RoutedModel model("alias", {d}, fast(), lenient(), clock, hooks);
  const auto req = request();
  std::string text;
  const ChunkSink sink = [&](const StreamDelta& delta) {
    text += delta.text;
    return true;
  };
  int in_flight_while_open = -1;
  auto r = run([&]() -> asio::awaitable<Result<Completion>> {
    auto opened = co_await model.open_stream(req, sink);
    if (!opened) co_return opened.error();
    {
      std::lock_guard lock(mu);
      in_flight_while_open = in_flight;
    }
    co_await (*opened)->read_rest(sink);
    co_return (*opened)->outcome(false);
  });
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(in_flight_while_open, 1) << "the slot is held while the stream is";
  EXPECT_EQ(in_flight, 0) << "and given back at its outcome";
  EXPECT_EQ(text, "first rest");
  EXPECT_EQ(r->model, "a-model");
  EXPECT_EQ(r->deployment, "a");
  EXPECT_EQ(r->provider, "opening");
}

TEST(Router, FillsTheModelWhenTheProviderReportsNone) {
  FakeClock clock;
  // A provider that leaves Completion::model empty.
  struct Quiet final : LlmProvider {
    std::string_view name() const override { return "quiet"; }
    asio::awaitable<Result<Completion>> complete(const ChatRequest&) override {
      co_return Completion{"hi", {}, "", "stop", {}};
    }
    asio::awaitable<Result<Completion>> stream(const ChatRequest& r, const ChunkSink&) override {
      return complete(r);
    }
  };
  Deployment d;
  d.name = "q";
  d.upstream_model = "quiet-1";
  d.provider = std::make_shared<Quiet>();
  RoutedModel model("alias", {d}, fast(), lenient(), clock);
  const auto req = request();
  auto r = run([&] { return model.complete(req); });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->model, "quiet-1");
}

TEST(Router, RetriesARetryableErrorThenSucceeds) {
  FakeClock clock;
  Recorder rec;
  auto p = std::make_shared<FakeProvider>(std::vector<Step>{fail(upstream(503)), fail(upstream(502))},
                                          answer());
  RoutedModel model("alias", {deployment("a", p)}, fast(), lenient(), clock, rec.hooks());
  const auto req = request();
  auto r = run([&] { return model.complete(req); });
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(p->calls(), 3);
  EXPECT_EQ(rec.retries, (std::vector<int>{1, 2}));
  EXPECT_EQ(rec.errors, (std::vector<std::pair<std::string, errc>>{{"a", errc::upstream_error},
                                                                   {"a", errc::upstream_error}}));
}

TEST(Router, ReportsAFailureThatIsNotRetriedAsAnUpstreamError) {
  FakeClock clock;
  Recorder rec;
  auto p = std::make_shared<FakeProvider>(std::vector<Step>{fail(upstream(400))}, answer());
  RoutedModel model("alias", {deployment("a", p)}, fast(), lenient(), clock, rec.hooks());
  const auto req = request();
  auto r = run([&] { return model.complete(req); });
  ASSERT_FALSE(r);
  EXPECT_EQ(p->calls(), 1);
  EXPECT_TRUE(rec.retries.empty());
  ASSERT_EQ(rec.errors.size(), 1u);
  EXPECT_EQ(rec.errors[0].first, "a");
  EXPECT_EQ(rec.errors[0].second, r.error().code);
}

TEST(Router, RetriesConnectionErrors) {
  FakeClock clock;
  auto p = std::make_shared<FakeProvider>(
      std::vector<Step>{fail(make_error(errc::upstream_error, "failed", "connection reset"))}, answer());
  RoutedModel model("alias", {deployment("a", p)}, fast(), lenient(), clock);
  const auto req = request();
  auto r = run([&] { return model.complete(req); });
  ASSERT_TRUE(r);
  EXPECT_EQ(p->calls(), 2);
}

TEST(Router, ReturnsANonRetryableErrorAtOnceWithoutFallback) {
  FakeClock clock;
  auto p = std::make_shared<FakeProvider>(fail(upstream(400)));
  auto backup = std::make_shared<FakeProvider>();
  auto fb = std::make_shared<RoutedModel>("backup", std::vector{deployment("b", backup)}, fast(), lenient(), clock);
  RoutedModel model("alias", {deployment("a", p)}, fast(), lenient(), clock);
  model.set_fallbacks({fb});
  const auto req = request();
  auto r = run([&] { return model.complete(req); });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::upstream_error);
  EXPECT_EQ(r.error().upstream_status, 400);
  EXPECT_EQ(r.error().detail, "HTTP 400");  // passed through as the provider said it
  EXPECT_EQ(p->calls(), 1);
  EXPECT_EQ(backup->calls(), 0);

  auto q = std::make_shared<FakeProvider>(fail(make_error(errc::invalid_request, "too long")));
  RoutedModel other("other", {deployment("q", q)}, fast(), lenient(), clock);
  auto r2 = run([&] { return other.complete(req); });
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().code, errc::invalid_request);
  EXPECT_EQ(q->calls(), 1);
}

TEST(Router, RefusedCredentialsAreNotRetriedButOpenTheBreaker) {
  FakeClock clock;
  auto p = std::make_shared<FakeProvider>(fail(upstream(401)));
  BreakerPolicy b = lenient();
  b.consecutive_failures = 2;
  RoutedModel model("alias", {deployment("a", p)}, fast(), b, clock);
  const auto req = request();
  for (int i = 0; i < 2; ++i) {
    auto r = run([&] { return model.complete(req); });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().upstream_status, 401);
  }
  EXPECT_EQ(p->calls(), 2);
  EXPECT_EQ(model.breaker_state("a"), BreakerState::open);
}

TEST(Router, RespectsMaxAttempts) {
  FakeClock clock;
  Recorder rec;
  auto p = std::make_shared<FakeProvider>(fail(upstream(503)));
  RoutedModel model("alias", {deployment("a", p)}, fast(4), lenient(), clock, rec.hooks());
  const auto req = request();
  auto r = run([&] { return model.complete(req); });
  ASSERT_FALSE(r);
  EXPECT_EQ(p->calls(), 4);
  EXPECT_EQ(rec.retries.size(), 3u);
  EXPECT_EQ(r.error().code, errc::upstream_error);
  EXPECT_EQ(r.error().message, "the model failed to answer");
  EXPECT_NE(r.error().detail.find("alias/a attempt 4: upstream_error 503"), std::string::npos)
      << r.error().detail;
}

TEST(Router, HonoursRetryAfter) {
  // The router waits on the steady clock (timers), not on the injected Clock, so the wait is
  // shown by order, not by measuring it: a 900 ms timer started before the first call must fire
  // before the retry that Retry-After: 1 holds back. Timers fire in the order they expire, so
  // load cannot change the outcome; a retry that did not wait comes long before the timer.
  FakeClock clock;
  auto p = std::make_shared<FakeProvider>(std::vector<Step>{fail(upstream(429, 1))}, answer());
  RoutedModel model("alias", {deployment("a", p)}, fast(), lenient(), clock);
  const auto req = request();
  asio::io_context ioc;
  asio::steady_timer marker(ioc, 900ms);
  bool marker_fired = false;
  marker.async_wait([&](const boost::system::error_code& ec) { marker_fired = !ec; });
  std::vector<bool> marker_fired_at_call;
  p->on_call = [&] { marker_fired_at_call.push_back(marker_fired); };
  auto fut = asio::co_spawn(ioc, model.complete(req), asio::use_future);
  ioc.run();
  auto r = fut.get();
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(marker_fired_at_call, (std::vector<bool>{false, true}));
}

TEST(Router, RetryAfterBeyondTheCapMovesToTheFallbackWithoutWaiting) {
  FakeClock clock;
  Recorder rec;
  auto p = std::make_shared<FakeProvider>(fail(upstream(429, 30)));
  auto backup = std::make_shared<FakeProvider>();
  auto fb = std::make_shared<RoutedModel>("backup", std::vector{deployment("b", backup)}, fast(), lenient(), clock);
  RoutedModel model("alias", {deployment("a", p)}, fast(), lenient(), clock, rec.hooks());
  model.set_fallbacks({fb});
  const auto req = request();
  auto r = run([&] { return model.complete(req); });
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(r->model, "b-model");
  EXPECT_EQ(p->calls(), 1);  // no second try after waiting
  EXPECT_EQ(backup->calls(), 1);
  EXPECT_EQ(rec.fallbacks, (std::vector<std::pair<std::string, std::string>>{{"alias", "backup"}}));
}

TEST(Router, RetryAfterOfOneDeploymentDoesNotDelayAnother) {
  FakeClock clock;
  // "a" asks for far more than we wait; "b" answers. Whichever is tried first, every call
  // succeeds, because the retry goes to "b" at once.
  auto a = std::make_shared<FakeProvider>(fail(upstream(429, 30)));
  auto b = std::make_shared<FakeProvider>();
  RoutedModel model("alias", {deployment("a", a), deployment("b", b)}, fast(2), lenient(), clock);
  const auto req = request();
  for (int i = 0; i < 20; ++i) {
    auto r = run([&] { return model.complete(req); });
    ASSERT_TRUE(r) << r.error().detail;
    EXPECT_EQ(r->model, "b-model");
  }
  EXPECT_EQ(b->calls(), 20);
}

TEST(Router, TheDeadlineStopsRetries) {
  FakeClock clock;
  auto p = std::make_shared<FakeProvider>(fail(upstream(503), 30ms));
  RetryPolicy retry = fast(1000);
  retry.deadline = 100ms;
  RoutedModel model("alias", {deployment("a", p)}, retry, lenient(), clock);
  const auto req = request();
  auto r = run([&] { return model.complete(req); });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::upstream_timeout);
  EXPECT_GE(p->calls(), 2);
  EXPECT_LT(p->calls(), 20);
}

TEST(Router, AHangingUpstreamIsCancelledAtTheDeadline) {
  FakeClock clock;
  auto p = std::make_shared<FakeProvider>(answer({"late"}, 10s));
  RetryPolicy retry = fast();
  retry.deadline = 50ms;
  RoutedModel model("alias", {deployment("a", p)}, retry, lenient(), clock);
  const auto req = request();
  auto r = run([&] { return model.complete(req); });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::upstream_timeout);
  EXPECT_EQ(p->calls(), 1);
  EXPECT_EQ(p->cancelled(), 1);
}

TEST(Router, CancellingTheCallCancelsTheBackoffSleep) {
  FakeClock clock;
  // The first answer asks for a 1 s pause; the caller gives up after 20 ms.
  auto p = std::make_shared<FakeProvider>(std::vector<Step>{fail(upstream(429, 1))}, answer());
  RoutedModel model("alias", {deployment("a", p)}, fast(), lenient(), clock);
  const auto req = request();
  auto race = [&]() -> asio::awaitable<std::size_t> {
    asio::steady_timer timer(co_await asio::this_coro::executor, 20ms);
    auto winner = co_await (model.complete(req) || timer.async_wait(asio::use_awaitable));
    co_return winner.index();
  };
  EXPECT_EQ(run(race), 1u);  // the timer
  EXPECT_EQ(p->calls(), 1);  // the sleep ended with the call; no second attempt
}

// --- choice of deployment ---

TEST(Router, SpreadsCallsByWeight) {
  FakeClock clock;
  auto heavy = std::make_shared<FakeProvider>();
  auto light = std::make_shared<FakeProvider>();
  RoutedModel model("alias", {deployment("heavy", heavy, 3), deployment("light", light, 1)}, fast(),
                    lenient(), clock);
  const auto req = request();
  auto many = [&]() -> asio::awaitable<int> {
    int ok = 0;
    for (int i = 0; i < 1000; ++i) {
      auto r = co_await model.complete(req);
      if (r) ++ok;
    }
    co_return ok;
  };
  EXPECT_EQ(run(many), 1000);
  // Expected 750 / 250; the bounds are about seven standard deviations wide.
  EXPECT_GT(heavy->calls(), 650);
  EXPECT_LT(heavy->calls(), 850);
  EXPECT_EQ(heavy->calls() + light->calls(), 1000);
}

TEST(Router, ARetryGoesToAnotherDeployment) {
  FakeClock clock;
  auto bad = std::make_shared<FakeProvider>(fail(upstream(503)));
  auto good = std::make_shared<FakeProvider>();
  RoutedModel model("alias", {deployment("bad", bad), deployment("good", good)}, fast(2), lenient(), clock);
  const auto req = request();
  for (int i = 0; i < 30; ++i) {
    auto r = run([&] { return model.complete(req); });
    ASSERT_TRUE(r) << r.error().detail;
  }
  EXPECT_GT(bad->calls(), 0);  // it was tried first at times, and never twice in a call
  EXPECT_EQ(good->calls(), 30);
}

// --- circuit breaker ---

TEST(Breaker, OpensAfterConsecutiveFailuresAndStopsSendingCalls) {
  FakeClock clock;
  Recorder rec;
  auto bad = std::make_shared<FakeProvider>(fail(upstream(500)));
  auto good = std::make_shared<FakeProvider>();
  BreakerPolicy b = lenient();
  b.consecutive_failures = 3;
  RoutedModel model("alias", {deployment("bad", bad), deployment("good", good)}, fast(2), b, clock,
                    rec.hooks());
  const auto req = request();
  for (int i = 0; i < 40; ++i) {
    auto r = run([&] { return model.complete(req); });
    ASSERT_TRUE(r) << r.error().detail;
  }
  EXPECT_EQ(bad->calls(), 3);
  EXPECT_EQ(model.breaker_state("bad"), BreakerState::open);
  EXPECT_EQ(model.breaker_state("good"), BreakerState::closed);
  EXPECT_EQ(rec.breaker, (std::vector<std::pair<std::string, BreakerState>>{{"bad", BreakerState::open}}));
}

TEST(Breaker, HalfOpensAfterOpenForAndAProbeClosesOrReopensIt) {
  FakeClock clock;
  Recorder rec;
  auto p = std::make_shared<FakeProvider>(
      std::vector<Step>{fail(upstream(503)), fail(upstream(503)),  // opens
                        answer(),                                   // the probe succeeds
                        fail(upstream(503)), fail(upstream(503)),  // opens again
                        fail(upstream(503))},                       // the probe fails
      answer());
  BreakerPolicy b = lenient();
  b.consecutive_failures = 2;
  b.open_for = 10s;
  RoutedModel model("alias", {deployment("a", p)}, fast(1), b, clock, rec.hooks());
  const auto req = request();
  auto call = [&] { return run([&] { return model.complete(req); }); };

  EXPECT_FALSE(call());
  EXPECT_FALSE(call());
  EXPECT_EQ(model.breaker_state("a"), BreakerState::open);
  auto refused = call();  // fails fast without reaching the deployment
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, errc::unavailable);
  EXPECT_EQ(p->calls(), 2);

  clock.advance(9s);
  EXPECT_EQ(model.breaker_state("a"), BreakerState::open);
  clock.advance(1s);
  EXPECT_EQ(model.breaker_state("a"), BreakerState::half_open);
  EXPECT_TRUE(call());
  EXPECT_EQ(p->calls(), 3);
  EXPECT_EQ(model.breaker_state("a"), BreakerState::closed);

  EXPECT_FALSE(call());
  EXPECT_FALSE(call());
  EXPECT_EQ(model.breaker_state("a"), BreakerState::open);
  clock.advance(10s);
  EXPECT_FALSE(call());  // the probe fails
  EXPECT_EQ(p->calls(), 6);
  EXPECT_EQ(model.breaker_state("a"), BreakerState::open);
  EXPECT_FALSE(call());
  EXPECT_EQ(p->calls(), 6);

  using S = BreakerState;
  EXPECT_EQ(rec.breaker, (std::vector<std::pair<std::string, S>>{
                             {"a", S::open}, {"a", S::half_open}, {"a", S::closed},
                             {"a", S::open}, {"a", S::half_open}, {"a", S::open}}));
}

TEST(Breaker, HalfOpenLetsExactlyOneProbeThrough) {
  FakeClock clock;
  auto p = std::make_shared<FakeProvider>(std::vector<Step>{fail(upstream(503))}, answer({"ok"}, 30ms));
  BreakerPolicy b = lenient();
  b.consecutive_failures = 1;
  b.open_for = 1s;
  RoutedModel model("alias", {deployment("a", p)}, fast(1), b, clock);
  const auto req = request();
  EXPECT_FALSE(run([&] { return model.complete(req); }));
  clock.advance(1s);
  auto results = run_concurrently(2, [&] { return model.complete(req); });
  int ok = 0, refused = 0;
  for (auto& r : results) {
    if (r) ++ok;
    else if (r.error().code == errc::unavailable) ++refused;
  }
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(refused, 1);
  EXPECT_EQ(p->calls(), 2);
  EXPECT_EQ(model.breaker_state("a"), BreakerState::closed);
}

TEST(Breaker, AProbeCancelledBeforeItsOutcomeLetsTheNextCallProbe) {
  // Issue 18's audit: the abandoned half-open probe was never exercised. A probe that ends without
  // an outcome (its caller left) must give the probe back, or the breaker would refuse every
  // call from then on (half-open, probe "in flight" for ever).
  FakeClock clock;
  auto p = std::make_shared<FakeProvider>(std::vector<Step>{fail(upstream(503)), answer({"slow"}, 5s)}, answer());
  BreakerPolicy b = lenient();
  b.consecutive_failures = 1;
  b.open_for = 1s;
  RoutedModel model("alias", {deployment("a", p)}, fast(1), b, clock);
  const auto req = request();
  EXPECT_FALSE(run([&] { return model.complete(req); }));
  EXPECT_EQ(model.breaker_state("a"), BreakerState::open);
  clock.advance(1s);

  asio::io_context ioc;
  auto probe = [&]() -> asio::awaitable<std::size_t> {
    asio::steady_timer timer(co_await asio::this_coro::executor, 20ms);  // gives up long before 5 s
    auto winner = co_await (model.complete(req) || timer.async_wait(asio::use_awaitable));
    co_return winner.index();
  };
  auto gave_up = asio::co_spawn(ioc, probe(), asio::use_future);
  ioc.run();
  EXPECT_EQ(gave_up.get(), 1u);
  EXPECT_EQ(p->calls(), 2);  // the probe reached the deployment
  EXPECT_EQ(model.breaker_state("a"), BreakerState::half_open);

  auto r = run([&] { return model.complete(req); });
  EXPECT_TRUE(r) << r.error().detail;
  EXPECT_EQ(p->calls(), 3);
  EXPECT_EQ(model.breaker_state("a"), BreakerState::closed);
}

TEST(Breaker, OpensOnTheFailureRatioOverTheWindow) {
  FakeClock clock;
  std::vector<Step> alternating;
  for (int i = 0; i < 5; ++i) {
    alternating.push_back(answer());
    alternating.push_back(fail(upstream(503)));
  }
  auto p = std::make_shared<FakeProvider>(alternating, answer());
  BreakerPolicy b = lenient();
  b.failure_ratio = 0.5;
  b.min_calls_in_window = 10;
  b.window = 30s;
  RoutedModel model("alias", {deployment("a", p)}, fast(1), b, clock);
  const auto req = request();
  for (int i = 0; i < 9; ++i) {
    (void)run([&] { return model.complete(req); });
    EXPECT_EQ(model.breaker_state("a"), BreakerState::closed) << "after call " << i + 1;
  }
  (void)run([&] { return model.complete(req); });  // 5 failures in 10 calls
  EXPECT_EQ(model.breaker_state("a"), BreakerState::open);
}

TEST(Breaker, ForgetsOutcomesOlderThanTheWindow) {
  FakeClock clock;
  std::vector<Step> script;
  for (int i = 0; i < 9; ++i) script.push_back(i % 2 == 0 ? fail(upstream(503)) : answer());
  auto p = std::make_shared<FakeProvider>(script, fail(upstream(503)));
  BreakerPolicy b = lenient();
  b.failure_ratio = 0.5;
  b.min_calls_in_window = 10;
  b.window = 30s;
  RoutedModel model("alias", {deployment("a", p)}, fast(1), b, clock);
  const auto req = request();
  for (int i = 0; i < 9; ++i) (void)run([&] { return model.complete(req); });
  clock.advance(31s);
  (void)run([&] { return model.complete(req); });  // would be 6 of 10 with the old outcomes
  EXPECT_EQ(model.breaker_state("a"), BreakerState::closed);
}

// --- fallback ---

TEST(Fallback, TakesOverWhenAllAttemptsFailAndReportsItsModel) {
  FakeClock clock;
  Recorder rec;
  auto primary = std::make_shared<FakeProvider>(fail(upstream(503)));
  auto backup = std::make_shared<FakeProvider>(answer({"from backup"}));
  auto fb = std::make_shared<RoutedModel>("backup", std::vector{deployment("b", backup)}, fast(), lenient(), clock);
  RoutedModel model("alias", {deployment("a", primary)}, fast(2), lenient(), clock, rec.hooks());
  model.set_fallbacks({fb});
  const auto req = request();
  auto r = run([&] { return model.complete(req); });
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(r->content, "from backup");
  EXPECT_EQ(r->model, "b-model");
  EXPECT_EQ(primary->calls(), 2);
  EXPECT_EQ(rec.fallbacks, (std::vector<std::pair<std::string, std::string>>{{"alias", "backup"}}));
}

TEST(Fallback, TakesOverAtOnceWhenAllBreakersAreOpen) {
  FakeClock clock;
  auto primary = std::make_shared<FakeProvider>(fail(upstream(503)));
  auto backup = std::make_shared<FakeProvider>();
  auto fb = std::make_shared<RoutedModel>("backup", std::vector{deployment("b", backup)}, fast(), lenient(), clock);
  BreakerPolicy b = lenient();
  b.consecutive_failures = 1;
  RoutedModel model("alias", {deployment("a", primary)}, fast(1), b, clock);
  model.set_fallbacks({fb});
  const auto req = request();
  EXPECT_TRUE(run([&] { return model.complete(req); }));
  EXPECT_EQ(model.breaker_state("a"), BreakerState::open);
  EXPECT_TRUE(run([&] { return model.complete(req); }));
  EXPECT_EQ(primary->calls(), 1);
  EXPECT_EQ(backup->calls(), 2);
}

TEST(Fallback, TriesTheChainInOrder) {
  FakeClock clock;
  Recorder rec;
  auto a = std::make_shared<FakeProvider>(fail(upstream(503)));
  auto b = std::make_shared<FakeProvider>(fail(upstream(502)));
  auto c = std::make_shared<FakeProvider>();
  auto second = std::make_shared<RoutedModel>("second", std::vector{deployment("b", b)}, fast(1), lenient(), clock);
  auto third = std::make_shared<RoutedModel>("third", std::vector{deployment("c", c)}, fast(1), lenient(), clock);
  RoutedModel model("first", {deployment("a", a)}, fast(1), lenient(), clock, rec.hooks());
  model.set_fallbacks({second, third});
  const auto req = request();
  auto r = run([&] { return model.complete(req); });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->model, "c-model");
  EXPECT_EQ(rec.fallbacks, (std::vector<std::pair<std::string, std::string>>{{"first", "second"},
                                                                             {"second", "third"}}));
}

// --- streaming ---

TEST(Stream, FailureBeforeTheFirstChunkFallsBack) {
  FakeClock clock;
  auto primary = std::make_shared<FakeProvider>(fail(upstream(503)));
  auto backup = std::make_shared<FakeProvider>(answer({"Hel", "lo"}));
  auto fb = std::make_shared<RoutedModel>("backup", std::vector{deployment("b", backup)}, fast(), lenient(), clock);
  RoutedModel model("alias", {deployment("a", primary)}, fast(2), lenient(), clock);
  model.set_fallbacks({fb});
  const auto req = request();
  std::string seen;
  const ChunkSink sink = [&](const StreamDelta& d) {
    seen += d.text;
    return true;
  };
  auto r = run([&] { return model.stream(req, sink); });
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(seen, "Hello");
  EXPECT_EQ(r->content, "Hello");
  EXPECT_EQ(r->model, "b-model");
  EXPECT_EQ(primary->calls(), 2);
}

TEST(Stream, FailureAfterTheFirstChunkIsReturnedWithoutRetry) {
  FakeClock clock;
  auto primary = std::make_shared<FakeProvider>(Step{0ms, {"Par"}, upstream(503)});
  auto backup = std::make_shared<FakeProvider>();
  auto fb = std::make_shared<RoutedModel>("backup", std::vector{deployment("b", backup)}, fast(), lenient(), clock);
  RoutedModel model("alias", {deployment("a", primary)}, fast(3), lenient(), clock);
  model.set_fallbacks({fb});
  const auto req = request();
  std::string seen;
  const ChunkSink sink = [&](const StreamDelta& d) {
    seen += d.text;
    return true;
  };
  auto r = run([&] { return model.stream(req, sink); });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().upstream_status, 503);
  EXPECT_EQ(seen, "Par");  // the caller keeps the partial answer
  EXPECT_EQ(primary->calls(), 1);
  EXPECT_EQ(backup->calls(), 0);
}

TEST(Stream, AFlowingStreamIsNotCutOffAtTheDeadline) {
  FakeClock clock;
  // The first chunk arrives in time; the answer ends after the deadline.
  struct Slow final : LlmProvider {
    std::string_view name() const override { return "slow"; }
    asio::awaitable<Result<Completion>> complete(const ChatRequest&) override {
      co_return make_error(errc::internal, "unused");
    }
    asio::awaitable<Result<Completion>> stream(const ChatRequest&, const ChunkSink& sink) override {
      sink(StreamDelta{"first "});
      asio::steady_timer timer(co_await asio::this_coro::executor, 80ms);
      co_await timer.async_wait(asio::use_awaitable);
      sink(StreamDelta{"last"});
      co_return Completion{"first last", {}, "slow", "stop", {}};
    }
  };
  Deployment d;
  d.name = "slow";
  d.provider = std::make_shared<Slow>();
  RetryPolicy retry = fast();
  retry.deadline = 30ms;
  RoutedModel model("alias", {d}, retry, lenient(), clock);
  const auto req = request();
  std::string seen;
  const ChunkSink sink = [&](const StreamDelta& d) {
    seen += d.text;
    return true;
  };
  auto r = run([&] { return model.stream(req, sink); });
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(seen, "first last");
}

// --- concurrency limit and queue ---

TEST(Concurrency, AtMostMaxConcurrencyInFlightAndAllFinish) {
  FakeClock clock;
  auto p = std::make_shared<FakeProvider>(answer({"ok"}, 20ms));
  auto d = deployment("a", p);
  d.max_concurrency = 2;
  d.max_queue = 10;
  RoutedModel model("alias", {d}, fast(), lenient(), clock);
  const auto req = request();
  auto results = run_concurrently(5, [&] { return model.complete(req); }, 3);
  for (auto& r : results) EXPECT_TRUE(r) << r.error().detail;
  EXPECT_EQ(p->calls(), 5);
  EXPECT_EQ(p->max_in_flight(), 2);
}

TEST(Concurrency, AFullQueueIsRateLimitedAtOnce) {
  FakeClock clock;
  auto p = std::make_shared<FakeProvider>(answer({"ok"}, 50ms));
  auto d = deployment("a", p);
  d.max_concurrency = 1;
  d.max_queue = 1;
  RoutedModel model("alias", {d}, fast(), lenient(), clock);
  const auto req = request();
  // One runs, one waits, the third finds no room.
  auto results = run_concurrently(3, [&] { return model.complete(req); });
  EXPECT_TRUE(results[0]);
  EXPECT_TRUE(results[1]);
  ASSERT_FALSE(results[2]);
  EXPECT_EQ(results[2].error().code, errc::rate_limited);
  EXPECT_EQ(results[2].error().retry_after_seconds, 1);
  EXPECT_EQ(p->calls(), 2);
}

TEST(Concurrency, AWaiterWhoseDeadlinePassesIsRateLimited) {
  FakeClock clock;
  auto p = std::make_shared<FakeProvider>(answer({"ok"}, 200ms));
  auto d = deployment("a", p);
  d.max_concurrency = 1;
  RetryPolicy retry = fast();
  retry.deadline = 50ms;
  RoutedModel model("alias", {d}, retry, lenient(), clock);
  const auto req = request();
  // The holder is a stream already flowing, so the deadline does not cut it off and it keeps
  // the slot past the waiter's deadline.
  const ChunkSink sink = [](const StreamDelta&) { return true; };
  asio::io_context ioc;
  auto holder = asio::co_spawn(ioc, model.stream(req, sink), asio::use_future);
  auto waiter = asio::co_spawn(ioc, model.complete(req), asio::use_future);
  ioc.run();
  EXPECT_TRUE(holder.get());
  auto r = waiter.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::rate_limited);
  EXPECT_EQ(r.error().retry_after_seconds, 1);
  EXPECT_EQ(p->calls(), 1);
}

TEST(Concurrency, ACancelledWaiterLeavesTheQueueAndNoSlotLeaks) {
  FakeClock clock;
  auto p = std::make_shared<FakeProvider>(answer({"ok"}, 60ms));
  auto d = deployment("a", p);
  d.max_concurrency = 1;
  d.max_queue = 1;
  RetryPolicy retry = fast();
  retry.deadline = 2s;  // a leaked slot would show as a rate_limited wait, not a hang
  RoutedModel model("alias", {d}, retry, lenient(), clock);
  const auto req = request();

  asio::io_context ioc;
  // Holds the slot for 60 ms.
  auto holder = asio::co_spawn(ioc, model.complete(req), asio::use_future);
  // Queues, then gives up after 10 ms.
  bool left = false;
  auto impatient = [&]() -> asio::awaitable<std::size_t> {
    asio::steady_timer timer(co_await asio::this_coro::executor, 10ms);
    auto winner = co_await (model.complete(req) || timer.async_wait(asio::use_awaitable));
    left = true;  // its queue place is given back by now
    co_return winner.index();
  };
  auto gave_up = asio::co_spawn(ioc, impatient(), asio::use_future);
  // Arrives once the impatient call has left (an event, not a later timer: on a loaded machine
  // both timers fired in one batch and this call came before the queue place was given back),
  // while the holder still runs or just after: finds the queue place free again.
  auto later = [&]() -> asio::awaitable<Result<Completion>> {
    const auto ex = co_await asio::this_coro::executor;
    while (!left) co_await asio::post(ex, asio::use_awaitable);
    co_return co_await model.complete(req);
  };
  auto late = asio::co_spawn(ioc, later(), asio::use_future);
  ioc.run();

  EXPECT_TRUE(holder.get());
  EXPECT_EQ(gave_up.get(), 1u);
  auto r = late.get();
  EXPECT_TRUE(r) << r.error().detail;
  EXPECT_EQ(p->calls(), 2);

  // Both slots of two more calls prove the single slot came back.
  auto results = run_concurrently(2, [&] { return model.complete(req); });
  for (auto& x : results) EXPECT_TRUE(x) << x.error().detail;
  EXPECT_EQ(p->max_in_flight(), 1);
}

TEST(Concurrency, ACancelledCallInFlightFreesItsSlotAndIsNotABreakerFailure) {
  FakeClock clock;
  auto p = std::make_shared<FakeProvider>(std::vector<Step>{answer({"slow"}, 5s)}, answer());
  auto d = deployment("a", p);
  d.max_concurrency = 1;
  d.max_queue = 0;
  BreakerPolicy b = lenient();
  b.consecutive_failures = 1;
  RoutedModel model("alias", {d}, fast(), b, clock);
  const auto req = request();
  auto race = [&]() -> asio::awaitable<std::size_t> {
    asio::steady_timer timer(co_await asio::this_coro::executor, 10ms);
    auto winner = co_await (model.complete(req) || timer.async_wait(asio::use_awaitable));
    co_return winner.index();
  };
  EXPECT_EQ(run(race), 1u);
  EXPECT_EQ(p->cancelled(), 1);
  EXPECT_EQ(model.breaker_state("a"), BreakerState::closed);
  auto r = run([&] { return model.complete(req); });
  EXPECT_TRUE(r) << r.error().detail;
}

TEST(Concurrency, ManyCallsOnManyThreadsKeepTheLimit) {
  FakeClock clock;
  std::vector<Step> script;
  for (int i = 0; i < 300; ++i) script.push_back(i % 4 == 0 ? fail(upstream(503), 1ms) : answer({"ok"}, 1ms));
  auto p = std::make_shared<FakeProvider>(script, answer({"ok"}, 1ms));
  auto d = deployment("a", p);
  d.max_concurrency = 3;
  d.max_queue = 1000;
  RoutedModel model("alias", {d}, fast(5), lenient(), clock);
  const auto req = request();
  auto results = run_concurrently(200, [&] { return model.complete(req); }, 4);
  int ok = 0;
  for (auto& r : results) ok += r ? 1 : 0;
  EXPECT_EQ(ok, 200);
  EXPECT_LE(p->max_in_flight(), 3);
  EXPECT_EQ(p->in_flight(), 0);
}

// --- the error when everything failed ---

TEST(Router, AllRateLimitedAnswersRateLimitedWithTheSmallestRetryAfter) {
  FakeClock clock;
  auto a = std::make_shared<FakeProvider>(fail(upstream(429, 5)));
  auto b = std::make_shared<FakeProvider>(fail(upstream(429, 3)));
  // Both ask for longer than max_retry_after (2 s), so neither is waited for.
  auto fb = std::make_shared<RoutedModel>("backup", std::vector{deployment("b", b)}, fast(), lenient(), clock);
  RoutedModel model("alias", {deployment("a", a)}, fast(), lenient(), clock);
  model.set_fallbacks({fb});
  const auto req = request();
  auto r = run([&] { return model.complete(req); });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::rate_limited);
  EXPECT_EQ(r.error().retry_after_seconds, 3);
  EXPECT_EQ(a->calls(), 1);
  EXPECT_EQ(b->calls(), 1);
}

TEST(Router, RateLimitsWithoutRetryAfterStillAnswerWithOne) {
  FakeClock clock;
  auto a = std::make_shared<FakeProvider>(fail(upstream(429)));
  RoutedModel model("alias", {deployment("a", a)}, fast(2), lenient(), clock);
  const auto req = request();
  auto r = run([&] { return model.complete(req); });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::rate_limited);
  EXPECT_EQ(r.error().retry_after_seconds, 1);
  EXPECT_EQ(a->calls(), 2);
}

TEST(Router, AllFailingKeepsTheReasonsForTheLogOnly) {
  FakeClock clock;
  auto a = std::make_shared<FakeProvider>(fail(upstream(503)));
  auto b = std::make_shared<FakeProvider>(fail(upstream(500)));
  auto fb = std::make_shared<RoutedModel>("backup", std::vector{deployment("b", b)}, fast(1), lenient(), clock);
  RoutedModel model("alias", {deployment("a", a)}, fast(1), lenient(), clock);
  model.set_fallbacks({fb});
  const auto req = request();
  auto r = run([&] { return model.complete(req); });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::upstream_error);
  EXPECT_EQ(r.error().message, "the model failed to answer");
  EXPECT_NE(r.error().detail.find("alias/a attempt 1: upstream_error 503 (HTTP 503)"), std::string::npos)
      << r.error().detail;
  EXPECT_NE(r.error().detail.find("backup/b attempt 1: upstream_error 500 (HTTP 500)"), std::string::npos)
      << r.error().detail;
}

TEST(Router, RejectsBadConfiguration) {
  FakeClock clock;
  EXPECT_THROW(RoutedModel("alias", {}, fast(), lenient(), clock), std::invalid_argument);
  auto d = deployment("a", std::make_shared<FakeProvider>());
  d.weight = 0;
  EXPECT_THROW(RoutedModel("alias", {d}, fast(), lenient(), clock), std::invalid_argument);
  auto e = deployment("a", nullptr);
  EXPECT_THROW(RoutedModel("alias", {e}, fast(), lenient(), clock), std::invalid_argument);
  RoutedModel ok("alias", {deployment("a", std::make_shared<FakeProvider>())}, fast(), lenient(), clock);
  EXPECT_THROW((void)ok.breaker_state("nope"), std::invalid_argument);
}

}  // namespace aas::llm

namespace aas::llm {

// A provider that cannot carry a seed (as Anthropic's wire), and embeds by text length.
struct Picky final : LlmProvider {
  std::string_view name() const override { return "picky"; }
  Result<void> supports(const ChatRequest& req) const override {
    if (req.seed) return make_error(errc::invalid_request, "'seed' is not supported (" + req.model + ")");
    return {};
  }
  asio::awaitable<Result<Completion>> complete(const ChatRequest&) override { co_return Completion{}; }
  asio::awaitable<Result<Completion>> stream(const ChatRequest& r, const ChunkSink&) override { return complete(r); }
  asio::awaitable<Result<Embeddings>> embed(const EmbeddingRequest& req) override {
    ++embeds;
    if (embeds == 1) co_return upstream(503);  // the first attempt fails: the router retries
    Embeddings e;
    for (const std::string& text : req.inputs) e.vectors.push_back({static_cast<float>(text.size())});
    co_return e;
  }
  int embeds = 0;
};

TEST(Router, EveryDeploymentMustSupportTheRequestWithItsUpstreamModel) {
  FakeClock clock;
  Deployment plain = deployment("plain", std::make_shared<FakeProvider>());
  Deployment picky;
  picky.name = "picky";
  picky.upstream_model = "picky-1";
  picky.provider = std::make_shared<Picky>();
  RoutedModel model("alias", {plain, picky}, fast(), lenient(), clock);
  ChatRequest req = request();
  EXPECT_TRUE(model.supports(req));
  req.seed = 3;
  const auto refused = model.supports(req);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message, "'seed' is not supported (picky-1)");
}

TEST(Router, EmbedsThroughItsDeploymentsWithRetries) {
  FakeClock clock;
  auto picky = std::make_shared<Picky>();
  Deployment d;
  d.name = "picky#1";
  d.upstream_model = "embed-1";
  d.provider = picky;
  RoutedModel model("embedder", {d}, fast(), lenient(), clock);
  const EmbeddingRequest req{"embedder", {"a", "abc"}, std::nullopt, "", "", ""};
  auto r = run([&] { return model.embed(req); });
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(picky->embeds, 2);
  EXPECT_EQ(r->vectors, (std::vector<std::vector<float>>{{1}, {3}}));
  EXPECT_EQ(r->deployment, "picky#1");
  EXPECT_EQ(r->provider, "picky");
  EXPECT_EQ(r->model, "embed-1");

  // A provider without embeddings says so, and that is not retried.
  Deployment chat = deployment("chat", std::make_shared<FakeProvider>());
  RoutedModel chat_only("chat", {chat}, fast(), lenient(), clock);
  auto refused = run([&] { return chat_only.embed(req); });
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, errc::invalid_request);
}

// --- fair sharing of a deployment's slots between users ---

namespace {

// A deployment whose calls each wait until the test releases one call of that user: the test,
// not a clock, decides when a slot frees and whose. Records whose call it served, in order.
class GatedProvider final : public LlmProvider {
 public:
  using Gate = asio::experimental::concurrent_channel<void(boost::system::error_code)>;

  std::string_view name() const override { return "gated"; }
  asio::awaitable<Result<Completion>> complete(const ChatRequest& req) override {
    const auto ex = co_await asio::this_coro::executor;
    Gate* gate = nullptr;
    {
      std::lock_guard lock(mu_);
      served_.push_back(req.fair_key);
      gate = &gate_of(req.fair_key, ex);
    }
    co_await gate->async_receive(asio::use_awaitable);
    Completion c;
    c.content = "ok";
    c.model = req.model;
    c.finish_reason = "stop";
    co_return c;
  }
  asio::awaitable<Result<Completion>> stream(const ChatRequest& req, const ChunkSink&) override {
    return complete(req);
  }

  // Lets one running (or the next) call of `user` finish.
  void release(const std::string& user) {
    std::lock_guard lock(mu_);
    ASSERT_TRUE(gates_.at(user)->try_send(boost::system::error_code{}));
  }
  std::vector<std::string> served() const {
    std::lock_guard lock(mu_);
    return served_;
  }

 private:
  Gate& gate_of(const std::string& user, const asio::any_io_executor& ex) {
    auto& g = gates_[user];
    if (!g) g = std::make_unique<Gate>(ex, 64);
    return *g;
  }

  mutable std::mutex mu_;
  std::vector<std::string> served_;
  std::map<std::string, std::unique_ptr<Gate>> gates_;
};

// Drives calls of several users on one single-threaded io_context and watches the queue through
// the on_load hook.
struct FairBench {
  explicit FairBench(int max_concurrency, int reserved_slots = -1) {
    Deployment d;
    d.name = "shared";
    d.upstream_model = "shared-model";
    d.provider = provider;
    d.max_concurrency = max_concurrency;
    d.max_queue = 64;
    d.reserved_slots = reserved_slots;
    RouterHooks hooks;
    hooks.on_load = [this](const std::string&, int in_flight_now, int queued_now) {
      in_flight = in_flight_now;
      queued = queued_now;
    };
    model = std::make_unique<RoutedModel>("alias", std::vector<Deployment>{d}, fast(), lenient(), clock, hooks);
  }

  void call(const std::string& user) {
    ChatRequest r = request();
    r.fair_key = user;
    asio::co_spawn(
        ioc, [this, r]() -> asio::awaitable<Result<Completion>> { co_return co_await model->complete(r); },
        [this, user](std::exception_ptr e, Result<Completion> r) {
          if (!e && r) finished.push_back(user);
        });
  }

  // Lets the other coroutines run until `done` holds. No clock: each turn posts once more.
  static asio::awaitable<void> until(std::function<bool()> done) {
    auto ex = co_await asio::this_coro::executor;
    for (int turns = 0; !done(); ++turns) {
      if (turns > 100000) throw std::runtime_error("the router never reached the expected state");
      co_await asio::post(ex, asio::use_awaitable);
    }
  }
  asio::awaitable<void> served(std::size_t n) {
    co_await until([this, n] { return provider->served().size() == n; });
  }
  asio::awaitable<void> waiting(int n) {
    co_await until([this, n] { return queued.load() == n; });
  }

  // Lets `n` running (or next) calls of `user` finish.
  void release(const std::string& user, int n = 1) {
    for (int i = 0; i < n; ++i) provider->release(user);
  }
  // Nothing left running or waiting once every call finished.
  void expect_drained() const {
    EXPECT_EQ(in_flight.load(), 0);
    EXPECT_EQ(queued.load(), 0);
  }

  void play(std::function<asio::awaitable<void>()> scenario) {
    auto done = asio::co_spawn(ioc, std::move(scenario), asio::use_future);
    ioc.run();
    done.get();  // rethrows what the scenario threw
  }

  // First, so it goes last: the provider's channels lock a mutex of this io_context's channel
  // service when they are destroyed (TSan found them outliving it: "use of an invalid mutex").
  asio::io_context ioc;
  FakeClock clock;
  std::shared_ptr<GatedProvider> provider = std::make_shared<GatedProvider>();
  std::unique_ptr<RoutedModel> model;
  std::atomic<int> in_flight{0}, queued{0};
  std::vector<std::string> finished;
};

}  // namespace

TEST(Fairness, AnotherUsersCallIsServedAtTheNextFreeSlotBeforeAGreedyUsersQueue) {
  FairBench bench(3);
  bench.play([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 3; ++i) bench.call("A");
    co_await bench.served(3);  // A holds every slot: a user alone may use them all
    EXPECT_EQ(bench.in_flight.load(), 3);
    for (int i = 0; i < 5; ++i) bench.call("A");
    co_await bench.waiting(5);
    bench.call("B");  // queued after all of A's
    co_await bench.waiting(6);

    bench.provider->release("A");
    co_await bench.served(4);
    EXPECT_EQ(bench.provider->served().back(), "B");

    bench.provider->release("B");
    bench.release("A", 7);
    co_await bench.until([&] { return bench.finished.size() == 9; });
  });
  EXPECT_EQ(bench.provider->served(), (std::vector<std::string>{"A", "A", "A", "B", "A", "A", "A", "A", "A"}));
  bench.expect_drained();
}

TEST(Fairness, WaitingUsersAreServedInTurnEachFromItsOwnQueueInOrder) {
  FairBench bench(1);
  bench.play([&]() -> asio::awaitable<void> {
    bench.call("X");
    co_await bench.served(1);
    for (const char* user : {"A", "A", "A", "B", "B", "C"}) bench.call(user);
    co_await bench.waiting(6);
    // Each freed slot goes to the next user in turn, whoever queued more.
    std::string running = "X";
    std::size_t n = 1;
    for (const char* next : {"A", "B", "C", "A", "B", "A"}) {
      bench.provider->release(running);
      co_await bench.served(++n);
      EXPECT_EQ(bench.provider->served().back(), next) << "slot " << n;
      running = next;
    }
    bench.provider->release(running);
    co_await bench.until([&] { return bench.finished.size() == 7; });
  });
  EXPECT_EQ(bench.finished, (std::vector<std::string>{"X", "A", "B", "C", "A", "B", "A"}));
}

TEST(Fairness, AUserAtItsSharePassesItsTurnButASlotNeverIdlesWhileACallWaits) {
  FairBench bench(6);
  bench.play([&]() -> asio::awaitable<void> {
    for (const char* user : {"X", "X", "A", "A", "B", "B"}) bench.call(user);
    co_await bench.served(6);
    bench.call("A");
    bench.call("B");
    co_await bench.waiting(2);
    // Three users share 6 slots: 2 each. A and B hold theirs; X frees one of its two. Nobody
    // waiting is under its share, so the first in turn (A) gets it rather than leaving it idle.
    bench.provider->release("X");
    co_await bench.served(7);
    EXPECT_EQ(bench.provider->served().back(), "A");
    EXPECT_EQ(bench.in_flight.load(), 6);
    // X's last call ends: two users now, 3 slots each. A holds 3, B 2: B's turn.
    bench.provider->release("X");
    co_await bench.served(8);
    EXPECT_EQ(bench.provider->served().back(), "B");
    bench.release("A", 3);
    bench.release("B", 3);
    co_await bench.until([&] { return bench.finished.size() == 8; });
  });
  bench.expect_drained();
}

TEST(Fairness, AUserWhoseWaiterGivesUpLeavesTheTurnAndTheSlotGoesOn) {
  FairBench bench(1);
  bench.play([&]() -> asio::awaitable<void> {
    bench.call("X");
    co_await bench.served(1);
    // A's only waiter gives up when the test says so; B waits behind it.
    GatedProvider::Gate give_up(co_await asio::this_coro::executor, 1);
    auto impatient = [&]() -> asio::awaitable<void> {
      ChatRequest r = request();
      r.fair_key = "A";
      co_await (bench.model->complete(r) || give_up.async_receive(asio::use_awaitable));
    };
    asio::co_spawn(co_await asio::this_coro::executor, impatient(), asio::detached);
    co_await bench.waiting(1);
    bench.call("B");
    co_await bench.waiting(2);
    give_up.try_send(boost::system::error_code{});
    co_await bench.waiting(1);
    bench.provider->release("X");
    co_await bench.served(2);
    EXPECT_EQ(bench.provider->served().back(), "B");
    bench.provider->release("B");
    co_await bench.until([&] { return bench.finished.size() == 2; });
  });
  EXPECT_EQ(bench.finished, (std::vector<std::string>{"X", "B"}));
  EXPECT_EQ(bench.in_flight.load(), 0);
}

// --- the reserve: slots only a user holding none may take ---

TEST(Reserve, AUserHoldingSlotsLeavesTheReserveFreeAndANewcomerTakesItAtOnce) {
  FairBench bench(4, 1);
  bench.play([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 5; ++i) bench.call("A");
    co_await bench.served(3);  // every slot but the reserved one
    co_await bench.waiting(2);
    EXPECT_EQ(bench.in_flight.load(), 3);
    // B holds nothing: the reserve is its at once, although A's calls queued first and nothing ended.
    bench.call("B");
    co_await bench.served(4);
    EXPECT_EQ(bench.provider->served().back(), "B");
    EXPECT_EQ(bench.in_flight.load(), 4);
    // B's second call waits: B holds a slot now, and none is free.
    bench.call("B");
    co_await bench.waiting(3);
    // B's first call ends: B holds none again, so the slot it gave back is its second call's,
    // ahead of A's older waiters (A may not take the reserve).
    bench.provider->release("B");
    co_await bench.served(5);
    EXPECT_EQ(bench.provider->served().back(), "B");
    bench.provider->release("B");
    // One of A's ends: its next waiter takes that unreserved slot.
    bench.provider->release("A");
    co_await bench.served(6);
    EXPECT_EQ(bench.provider->served().back(), "A");
    bench.release("A", 4);
    co_await bench.until([&] { return bench.finished.size() == 7; });
  });
  bench.expect_drained();
}

TEST(Reserve, AFreedReservedSlotStaysFreeWhileOnlyUsersHoldingSlotsWait) {
  FairBench bench(3, 1);
  bench.play([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 2; ++i) bench.call("A");
    co_await bench.served(2);
    bench.call("B");
    co_await bench.served(3);  // B took the reserve
    bench.call("A");
    co_await bench.waiting(1);
    // B's call ends: A holds two, every unreserved slot, so the freed slot is kept for a newcomer.
    bench.provider->release("B");
    co_await bench.until([&] { return bench.finished.size() == 1; });
    EXPECT_EQ(bench.in_flight.load(), 2);
    EXPECT_EQ(bench.queued.load(), 1);
    EXPECT_EQ(bench.provider->served().size(), 3u);
    // C comes and takes it, ahead of A's waiter.
    bench.call("C");
    co_await bench.served(4);
    EXPECT_EQ(bench.provider->served().back(), "C");
    // One of A's ends: A and C now hold the two unreserved slots between them (the reserve is a
    // number of slots, not particular ones), so A's waiter still waits.
    bench.provider->release("A");
    co_await bench.until([&] { return bench.finished.size() == 2; });
    EXPECT_EQ(bench.in_flight.load(), 2);
    EXPECT_EQ(bench.queued.load(), 1);
    // C's ends: now A's waiter may take a slot.
    bench.provider->release("C");
    co_await bench.served(5);
    EXPECT_EQ(bench.provider->served().back(), "A");
    bench.release("A", 2);
    co_await bench.until([&] { return bench.finished.size() == 5; });
  });
  bench.expect_drained();
}

TEST(Reserve, ThirteenGreedyUsersHoldingLongCallsLeaveAnotherUserASlotAtOnce) {
  // Issue 18, finding 4: 13 users x 5 long calls, all started together, on 64 slots. The default
  // reserve (64 / 16 = 4) keeps 4 slots for users holding none.
  FairBench bench(64);
  bench.play([&]() -> asio::awaitable<void> {
    for (int s = 0; s < 5; ++s)
      for (int u = 0; u < 13; ++u) bench.call("greedy" + std::to_string(u));
    co_await bench.served(60);
    co_await bench.waiting(5);
    EXPECT_EQ(bench.in_flight.load(), 60);
    bench.call("polite");
    co_await bench.served(61);  // while every greedy call still runs
    EXPECT_EQ(bench.provider->served().back(), "polite");
    bench.provider->release("polite");
    for (int u = 0; u < 13; ++u)
      for (int s = 0; s < 5; ++s) bench.provider->release("greedy" + std::to_string(u));
    co_await bench.until([&] { return bench.finished.size() == 66; });
  });
  bench.expect_drained();
}

TEST(Reserve, AReserveOfEverySlotIsRefusedAtStartUp) {
  FakeClock clock;
  auto d = deployment("a", std::make_shared<FakeProvider>(answer({"ok"})));
  d.max_concurrency = 2;
  d.reserved_slots = 2;
  EXPECT_THROW(RoutedModel("alias", {d}, fast(), lenient(), clock), std::invalid_argument);
}

}  // namespace aas::llm
