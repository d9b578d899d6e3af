#include "llm/router.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <atomic>
#include <deque>
#include <exception>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <utility>

// Decisions worth knowing:
// - Deadlines, backoff sleeps and queue waits use the steady clock (they are timer waits); the
//   breaker uses the injected Clock, so tests can move it past `open_for` and `window`.
// - An upstream 401/403 is not retried here (the provider already rotated its keys) but counts
//   against the breaker: a deployment whose credentials are refused cannot serve anyone, and
//   opening its breaker steers traffic to the deployments that can. Client errors (400, 404,
//   413, ...) prove the deployment is up and count as successes.
// - A 429 counts against the breaker too: an overloaded deployment is best left alone a while.
// - Retry-After speaks for the deployment that sent it: it is waited for only when the retry has
//   to go back to that deployment.
// - When no slot frees up before the deadline, or every queue is full, the answer is
//   rate_limited with Retry-After 1: the service is busy, and the client may well succeed soon.
// - The deadline also bounds each attempt: a provider that has not answered by then is
//   cancelled (upstream_timeout). A stream whose first chunk reached the client is left to run;
//   the provider's own idle and total timeouts bound it.
// - A non-retryable error is returned as the provider gave it, without fallback: the request,
//   not the model, is at fault. A fallback model runs its own deployments only, never its own
//   fallback chain, so chains cannot loop.
// - A cancelled call (the caller's cancellation slot) is never counted for or against a
//   deployment; it ends with the operation_aborted exception, as Asio operations do.

namespace aas::llm {

namespace asio = boost::asio;
using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

bool is_retryable(const Error& e) noexcept {
  switch (e.code) {
    case errc::rate_limited:
    case errc::upstream_timeout:
    case errc::unavailable:
      return true;
    case errc::upstream_error: {
      // No status: the connection failed (refused, reset, TLS, a broken stream).
      if (!e.upstream_status) return true;
      const int s = *e.upstream_status;
      // Of the client errors only timeouts, conflicts and rate limits are worth repeating; any
      // other status that still came back as an error (5xx, a garbled 200) is the upstream's fault.
      if (s >= 400 && s < 500) return s == 408 || s == 409 || s == 429;
      return true;
    }
    default:
      return false;
  }
}

namespace {

bool is_rate_limit(const Error& e) {
  return e.code == errc::rate_limited || e.upstream_status == 429;
}

// Whether the deployment, rather than the request, is at fault.
bool counts_against_breaker(const Error& e) {
  if (is_retryable(e)) return true;
  return e.upstream_status == 401 || e.upstream_status == 403;
}

void throw_if_cancelled(const asio::cancellation_state& cs) {
  if (cs.cancelled() != asio::cancellation_type::none)
    throw boost::system::system_error(asio::error::operation_aborted);
}

// One call to the router, across the models of the fallback chain.
struct CallContext {
  CallContext(const ChatRequest* r, const ChunkSink* s, SteadyClock::time_point d)
      : req(r), sink(s), deadline(d) {}
  CallContext(const EmbeddingRequest* e, SteadyClock::time_point d)
      : embedding(e), deadline(d) {}

  const ChatRequest* req = nullptr;            // a chat call, or
  const EmbeddingRequest* embedding = nullptr;  // an embeddings call
  const ChunkSink* sink = nullptr;              // null for complete() and embed()
  const SteadyClock::time_point deadline;

  // Whose call it is, for the fair sharing of slots.
  const std::string& fair_key() const { return req != nullptr ? req->fair_key : embedding->fair_key; }

  // Set by the provider's coroutine once the stream reached the client: no retry or fallback then.
  std::atomic<bool> delivered{false};

  // What went wrong so far, to choose the error when nothing answered.
  std::string trail;  // per-attempt reasons, for the log
  std::optional<errc> last_code;
  bool rate_limited = false;
  std::optional<int> min_retry_after;
  bool out_of_time = false;

  void note(std::string_view model, std::string_view deployment, int attempt, const Error& e) {
    if (!trail.empty()) trail += "; ";
    trail += model;
    if (!deployment.empty()) {
      trail += '/';
      trail += deployment;
    }
    if (attempt > 0) trail += " attempt " + std::to_string(attempt);
    trail += ": ";
    trail += code_name(e.code);
    if (e.upstream_status) trail += " " + std::to_string(*e.upstream_status);
    const std::string& why = e.detail.empty() ? e.message : e.detail;
    if (!why.empty()) trail += " (" + why + ")";

    last_code = e.code;
    if (is_rate_limit(e)) {
      rate_limited = true;
      if (e.retry_after_seconds)
        min_retry_after = std::min(min_retry_after.value_or(*e.retry_after_seconds),
                                   *e.retry_after_seconds);
    }
  }

  Error final_error(std::string_view model) const {
    Error e;
    if (rate_limited) {
      // The client can do something useful with this one: wait and retry.
      e = make_error(errc::rate_limited, "the model is busy, please retry later");
      e.retry_after_seconds = std::max(1, min_retry_after.value_or(1));
    } else if (out_of_time || last_code == errc::upstream_timeout) {
      e = make_error(errc::upstream_timeout, "the model did not answer in time");
    } else if (last_code == errc::unavailable) {
      e = make_error(errc::unavailable, "the model is unavailable right now");
    } else {
      e = make_error(errc::upstream_error, "the model failed to answer");
    }
    e.detail = "all upstream attempts failed for model " + std::string(model) + ": " + trail;
    return e;
  }
};

// The deadline of one attempt: a timer whose completion handler cancels the provider's thread
// unless the stream it guards has reached the client (a stream that is flowing is bounded by the
// provider's own idle and total timeouts instead of being cut off). A handler, not a watchdog
// coroutine raced in a parallel group: that was a group, two spawned threads and a frame held
// for the whole of every stream. Shared with the handler, which may run after the attempt ended.
struct AttemptDeadline {
  asio::cancellation_signal cancel;    // bound to the provider's thread
  std::atomic<bool> delivered{false};  // set by the sink (possibly on another thread)
  std::atomic<bool> fired{false};      // the deadline cancelled the attempt
};

}  // namespace

struct RoutedModel::State {
  using Channel = asio::experimental::concurrent_channel<void(boost::system::error_code)>;

  struct Tenant;

  // A call waiting for a free slot of a deployment. Whoever releases a slot hands it over by
  // setting `granted` (under the mutex) and waking the channel, so a slot is never counted free
  // in between. Its destructor leaves the queue, or passes on a slot handed over but not taken,
  // on every way out: deadline, cancellation, exceptions.
  struct Waiter {
    Waiter(State& s, const asio::any_io_executor& ex) : state(s), wake(ex, 1) {}
    Waiter(const Waiter&) = delete;
    Waiter& operator=(const Waiter&) = delete;
    ~Waiter() {
      if (enlisted) state.leave_queue(*this);
    }
    State& state;
    Channel wake;
    // Guarded by State::mu, except `enlisted`, which only the owning call writes.
    bool enlisted = false;  // was ever queued
    bool queued = false;    // is in tenant->waiters
    bool granted = false;   // holds a handed-over slot that nobody took yet
    std::size_t node = 0;
    Tenant* tenant = nullptr;  // whose call it is (set when queued)
    std::list<Waiter*>::iterator pos;
  };

  // One user's calls on one deployment (the key is ChatRequest::fair_key): the slots it holds and
  // its own FIFO of waiting calls. It exists while it has calls running or waiting, so the number
  // of tenants is the number of users sharing the deployment right now.
  struct Tenant {
    std::string key;
    int running = 0;  // slots held, a handed-over slot not yet taken included
    std::list<Waiter*> waiters;  // FIFO
  };

  // Outcomes of one slice of the breaker's sliding window.
  struct Bucket {
    TimePoint start;
    int calls = 0;
    int failures = 0;
  };

  struct Node {
    Deployment d;
    // Breaker.
    BreakerState breaker = BreakerState::closed;
    int consecutive_failures = 0;
    std::deque<Bucket> window;
    int window_calls = 0;
    int window_failures = 0;
    TimePoint opened_at{};
    bool probe_in_flight = false;
    // Concurrency limit, shared fairly: one FIFO per tenant, served in turn (see release_slot_locked).
    int in_flight = 0;
    std::size_t queued = 0;  // waiters across tenants, bounded by max_queue
    std::map<std::string, Tenant> tenants;  // node-based: Tenant pointers stay valid
    std::deque<Tenant*> turn;  // tenants with waiters, whose turn comes first at the front
  };

  using Transitions = std::vector<std::pair<std::string, BreakerState>>;

  // One slot of a deployment's concurrency limit, released on every path out of an attempt.
  class Permit {
   public:
    Permit() = default;
    Permit(State* s, std::size_t i, Tenant* t) : s_(s), i_(i), t_(t) {}
    Permit(Permit&& o) noexcept : s_(std::exchange(o.s_, nullptr)), i_(o.i_), t_(o.t_) {}
    Permit& operator=(Permit&& o) noexcept {
      if (this != &o) {
        release();
        s_ = std::exchange(o.s_, nullptr);
        i_ = o.i_;
        t_ = o.t_;
      }
      return *this;
    }
    ~Permit() { release(); }
    explicit operator bool() const { return s_ != nullptr; }
    void release() {
      if (s_ != nullptr) std::exchange(s_, nullptr)->release_slot(i_, *t_);
    }

   private:
    State* s_ = nullptr;
    std::size_t i_ = 0;
    Tenant* t_ = nullptr;
  };

  // The breaker's view of one attempt. A half-open probe that ends without an outcome
  // (cancelled, or it never got a slot) gives the probe back so that another call may try.
  class Ticket {
   public:
    Ticket(State& s, std::size_t i, bool probe) : s_(&s), i_(i), probe_(probe) {}
    Ticket(Ticket&& o) noexcept : s_(o.s_), i_(o.i_), probe_(o.probe_), settled_(std::exchange(o.settled_, true)) {}
    Ticket& operator=(Ticket&&) = delete;
    ~Ticket() {
      if (!settled_ && probe_) s_->abandon_probe(i_);
    }
    void settle(bool failed) {
      settled_ = true;
      s_->record(i_, probe_, failed);
    }

   private:
    State* s_;
    std::size_t i_;
    bool probe_;
    bool settled_ = false;
  };

  // A stream that reached the client (or ended) on a deployment: it keeps the attempt's slot and
  // breaker ticket until its outcome is known, and its renamed request, without keeping the
  // router's coroutines (run, call_deployment), which have returned.
  class RoutedStream final : public OpenStream {
   public:
    RoutedStream(std::unique_ptr<ChatRequest> request, std::unique_ptr<OpenStream> inner)
        : request_(std::move(request)), inner_(std::move(inner)) {}
    void hold(State& s, std::size_t node, Permit permit, Ticket ticket) {
      state_ = &s;
      node_ = node;
      permit_ = std::move(permit);
      ticket_.emplace(std::move(ticket));
    }
    asio::awaitable<void> read_rest(const ChunkSink& sink) override { return inner_->read_rest(sink); }
    void cancel() override { inner_->cancel(); }
    Result<Completion> outcome(bool cancelled) override {
      Result<Completion> r = inner_->outcome(cancelled);
      permit_.release();
      if (!cancelled) state_->settle(node_, *ticket_, r);  // a cancelled one: its ticket gives a probe back
      return r;
    }

   private:
    std::unique_ptr<ChatRequest> request_;  // when the deployment names another upstream model
    std::unique_ptr<OpenStream> inner_;
    State* state_ = nullptr;
    std::size_t node_ = 0;
    Permit permit_;
    std::optional<Ticket> ticket_;
  };
  using Opened = std::unique_ptr<OpenStream>;

  struct Pick {
    enum Kind { go, wait, all_open, all_full } kind = all_open;
    std::size_t index = 0;
    bool probe = false;
    Tenant* tenant = nullptr;  // go: whose slot it is
  };

  State(std::string model_name, std::vector<Deployment> deployments, RetryPolicy r,
        BreakerPolicy b, const Clock& c, RouterHooks h)
      : model(std::move(model_name)),
        retry(r),
        policy(b),
        clock(c),
        hooks(std::move(h)),
        rng(std::random_device{}()) {
    // Bad configuration is a start-up failure, named.
    if (deployments.empty())
      throw std::invalid_argument("model " + model + ": no deployments configured");
    if (retry.max_attempts < 1)
      throw std::invalid_argument("model " + model + ": max_attempts must be at least 1");
    for (auto& d : deployments) {
      const std::string where = "model " + model + ", deployment " + d.name;
      if (!d.provider) throw std::invalid_argument(where + ": no provider");
      if (d.weight < 1) throw std::invalid_argument(where + ": weight must be at least 1");
      if (d.max_concurrency < 1)
        throw std::invalid_argument(where + ": max_concurrency must be at least 1");
      if (d.max_queue < 0) throw std::invalid_argument(where + ": max_queue must not be negative");
      if (d.reserved_slots < 0) d.reserved_slots = d.max_concurrency / 16;
      if (d.reserved_slots >= d.max_concurrency)
        throw std::invalid_argument(where + ": reserved_slots must be below max_concurrency");
      for (auto& n : nodes)
        if (n.d.name == d.name) throw std::invalid_argument(where + ": duplicate name");
      nodes.push_back(Node{std::move(d)});
    }
  }

  // --- breaker (callers hold mu) ---

  bool admits(const Node& n, TimePoint now) const {
    switch (n.breaker) {
      case BreakerState::closed:
        return true;
      case BreakerState::open:
        return now - n.opened_at >= policy.open_for;  // becomes half-open when picked
      case BreakerState::half_open:
        return !n.probe_in_flight;
    }
    return false;
  }

  void reset_window(Node& n) {
    n.window.clear();
    n.window_calls = n.window_failures = 0;
    n.consecutive_failures = 0;
  }

  void set_breaker(Node& n, BreakerState s, TimePoint now, Transitions& events) {
    n.breaker = s;
    if (s == BreakerState::open) n.opened_at = now;
    // Opening or closing starts the count afresh: outcomes from before say nothing about after.
    if (s != BreakerState::half_open) reset_window(n);
    events.emplace_back(n.d.name, s);
  }

  void add_outcome(Node& n, TimePoint now, bool failed) {
    const auto horizon = now - policy.window;
    while (!n.window.empty() && n.window.front().start < horizon) {
      n.window_calls -= n.window.front().calls;
      n.window_failures -= n.window.front().failures;
      n.window.pop_front();
    }
    // Buckets of a twentieth of the window keep memory flat however busy the deployment is.
    const auto width = std::max<std::chrono::nanoseconds>(policy.window / 20, milliseconds(1));
    if (n.window.empty() || now - n.window.back().start >= width) n.window.push_back(Bucket{now});
    ++n.window.back().calls;
    ++n.window_calls;
    if (failed) {
      ++n.window.back().failures;
      ++n.window_failures;
      ++n.consecutive_failures;
    } else {
      n.consecutive_failures = 0;
    }
  }

  void record(std::size_t i, bool probe, bool failed) {
    Transitions events;
    {
      std::lock_guard lock(mu);
      Node& n = nodes[i];
      const TimePoint now = clock.now();
      if (probe) n.probe_in_flight = false;
      switch (n.breaker) {
        case BreakerState::half_open:
          if (probe) set_breaker(n, failed ? BreakerState::open : BreakerState::closed, now, events);
          break;
        case BreakerState::open:
          break;  // a call let through before the breaker opened says nothing about now
        case BreakerState::closed:
          add_outcome(n, now, failed);
          if (failed &&
              (n.consecutive_failures >= policy.consecutive_failures ||
               (n.window_calls >= policy.min_calls_in_window &&
                n.window_failures >= policy.failure_ratio * n.window_calls)))
            set_breaker(n, BreakerState::open, now, events);
          break;
      }
    }
    notify(events);
  }

  void abandon_probe(std::size_t i) {
    std::lock_guard lock(mu);
    nodes[i].probe_in_flight = false;
  }

  // Hooks run outside the mutex, so that they may call back into the router.
  void notify(const Transitions& events) const {
    if (!hooks.on_breaker) return;
    for (const auto& [name, s] : events) hooks.on_breaker(name, s);
  }

  // --- choice and concurrency ---

  // Weighted random among the deployments whose breaker admits a call and whose queue has
  // room, preferring one this call has not tried, then one other than the last. Takes a slot
  // at once when one is free, or queues `w` for one.
  Pick pick(const std::vector<bool>& tried, std::optional<std::size_t> last, const std::string& key,
            Waiter& w, Transitions& events) {
    std::lock_guard lock(mu);
    const TimePoint now = clock.now();
    std::vector<std::size_t> open_to_us;
    bool any_admits = false;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      const Node& n = nodes[i];
      if (!admits(n, now)) continue;
      any_admits = true;
      const bool saturated = !may_take(n, running_of(n, key)) &&
                             n.queued >= static_cast<std::size_t>(n.d.max_queue);
      if (!saturated) open_to_us.push_back(i);
    }
    if (!any_admits) return {Pick::all_open};
    if (open_to_us.empty()) return {Pick::all_full};

    auto choose_from = [&](auto keep) {
      std::vector<std::size_t> pool;
      for (auto i : open_to_us)
        if (keep(i)) pool.push_back(i);
      return pool;
    };
    auto pool = choose_from([&](std::size_t i) { return !tried[i]; });
    if (pool.empty()) pool = choose_from([&](std::size_t i) { return i != last; });
    if (pool.empty()) pool = open_to_us;

    int total = 0;
    for (auto i : pool) total += nodes[i].d.weight;
    int ticket = std::uniform_int_distribution<int>(0, total - 1)(rng);
    std::size_t chosen = pool.back();
    for (auto i : pool) {
      if (ticket < nodes[i].d.weight) {
        chosen = i;
        break;
      }
      ticket -= nodes[i].d.weight;
    }

    Node& n = nodes[chosen];
    Pick p{Pick::go, chosen, false};
    if (n.breaker == BreakerState::open) set_breaker(n, BreakerState::half_open, now, events);
    if (n.breaker == BreakerState::half_open) {
      n.probe_in_flight = true;
      p.probe = true;
    }
    auto [entry, fresh] = n.tenants.try_emplace(key);
    Tenant& t = entry->second;
    if (fresh) t.key = key;
    // A slot this user may take is taken at once, ahead of any waiter: the waiters are users who
    // hold slots already and may not take the reserve (a slot any waiter could take is always
    // handed on). A user alone may use every slot but the reserve.
    if (may_take(n, t.running)) {
      ++n.in_flight;
      ++t.running;
      p.tenant = &t;
    } else {
      if (t.waiters.empty()) n.turn.push_back(&t);
      w.pos = t.waiters.insert(t.waiters.end(), &w);
      w.node = chosen;
      w.tenant = &t;
      w.queued = w.enlisted = true;
      ++n.queued;
      p.kind = Pick::wait;
    }
    report_load(n);
    return p;
  }

  // Whether a user holding `running` slots may take one more now: anyone while the unreserved
  // slots last; the reserve only a user holding none.
  static bool may_take(const Node& n, int running) {
    const int limit = running == 0 ? n.d.max_concurrency : n.d.max_concurrency - n.d.reserved_slots;
    return n.in_flight < limit;
  }

  static int running_of(const Node& n, const std::string& key) {
    const auto it = n.tenants.find(key);
    return it == n.tenants.end() ? 0 : it->second.running;
  }

  // A tenant with nothing running or waiting no longer counts as sharing the deployment.
  static void forget_if_idle(Node& n, Tenant& t) {
    if (t.running > 0 || !t.waiters.empty()) return;
    n.tenants.erase(std::string(t.key));  // a copy: erasing destroys t.key
  }

  // A user's fair share of the deployment while others wait: ceil(slots / users with calls
  // running or waiting), at least 1.
  static int share(const Node& n) {
    const int users = std::max<int>(1, static_cast<int>(n.tenants.size()));
    return std::max(1, (n.d.max_concurrency + users - 1) / users);
  }

  // Fair queuing: the freed slot goes to the first tenant in turn that holds fewer slots than its
  // share, or, when every waiting tenant holds its share already, to the first in turn. Only a
  // tenant that may take it (see may_take) is considered: a slot of the reserve stays free while
  // only users holding slots wait, otherwise no slot idles while a call waits. The tenant served
  // goes to the back of the turn.
  void release_slot_locked(Node& n, Tenant& from) {
    --from.running;
    --n.in_flight;
    forget_if_idle(n, from);  // before the share is counted: it may have been its last call
    const int fair = share(n);
    auto next = std::find_if(n.turn.begin(), n.turn.end(), [&](const Tenant* t) {
      return t->running < fair && may_take(n, t->running);
    });
    if (next == n.turn.end())
      next = std::find_if(n.turn.begin(), n.turn.end(), [&](const Tenant* t) { return may_take(n, t->running); });
    if (next == n.turn.end()) {
      report_load(n);
      return;
    }
    Tenant& to = **next;
    n.turn.erase(next);
    ++n.in_flight;
    // Hand the slot straight to that tenant's longest waiter. try_send posts the wake-up (it
    // never runs the waiter inline), so holding the mutex here cannot deadlock.
    Waiter* w = to.waiters.front();
    to.waiters.pop_front();
    --n.queued;
    ++to.running;
    if (!to.waiters.empty()) n.turn.push_back(&to);
    w->queued = false;
    w->granted = true;
    w->wake.try_send(boost::system::error_code{});
    report_load(n);
  }

  void release_slot(std::size_t i, Tenant& t) {
    std::lock_guard lock(mu);
    release_slot_locked(nodes[i], t);
  }

  void leave_queue(Waiter& w) {
    std::lock_guard lock(mu);
    Node& n = nodes[w.node];
    // Only a queued or granted waiter's tenant is sure to exist still.
    if (w.queued) {
      Tenant& t = *w.tenant;
      t.waiters.erase(w.pos);
      w.queued = false;
      --n.queued;
      if (t.waiters.empty()) std::erase(n.turn, &t);
      forget_if_idle(n, t);
      report_load(n);
    } else if (w.granted) {
      w.granted = false;
      release_slot_locked(n, *w.tenant);
    }
  }

  // Under mu, so that the figures reach the hook in the order they happened.
  void report_load(const Node& n) const {
    if (hooks.on_load) hooks.on_load(n.d.name, n.in_flight, static_cast<int>(n.queued));
  }

  // Waits in the deployment's queue until a slot is handed over, the deadline passes (an empty
  // Permit) or the caller cancels (operation_aborted is thrown). Whatever is left undone, the
  // Waiter's destructor cleans up.
  asio::awaitable<Permit> wait_for_slot(Waiter& w, SteadyClock::time_point deadline) {
    asio::steady_timer timer(co_await asio::this_coro::executor, deadline);
    co_await asio::experimental::make_parallel_group(w.wake.async_receive(asio::deferred),
                                                     timer.async_wait(asio::deferred))
        .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);

    Permit permit;
    {
      std::lock_guard lock(mu);
      if (w.granted) {
        w.granted = false;
        permit = Permit(this, w.node, w.tenant);
      }
    }
    // Woken by the caller's cancellation: the permit, if any, goes to the next waiter.
    const auto cs = co_await asio::this_coro::cancellation_state;
    throw_if_cancelled(cs);
    co_return permit;
  }

  // Other deployments the retry could go to instead of `i`.
  bool others_admit(std::size_t i) {
    std::lock_guard lock(mu);
    const TimePoint now = clock.now();
    for (std::size_t j = 0; j < nodes.size(); ++j)
      if (j != i && admits(nodes[j], now)) return true;
    return false;
  }

  // How long to wait before the next attempt, or nothing when the upstream asked for longer
  // than we wait (the caller then moves on to the fallback).
  std::optional<milliseconds> backoff(int failures, const Error& e, std::size_t failed_node) {
    milliseconds cap = retry.base_delay;
    for (int k = 1; k < failures && cap < retry.max_delay; ++k) cap *= 2;
    cap = std::min(cap, retry.max_delay);
    milliseconds jitter;
    {
      std::lock_guard lock(mu);
      jitter = milliseconds(std::uniform_int_distribution<milliseconds::rep>(
          0, std::max<milliseconds::rep>(cap.count(), 0))(rng));
    }
    if (!e.retry_after_seconds || others_admit(failed_node)) return jitter;
    const milliseconds asked = std::chrono::seconds(std::max(0, *e.retry_after_seconds));
    if (asked > retry.max_retry_after) return std::nullopt;
    return std::max(asked, jitter);
  }

  // --- attempts ---

  template <class T>
  asio::awaitable<Result<T>> call_deployment(const Node& node, CallContext& ctx) {
    // The request is copied only when this deployment names another upstream model, and then on
    // the heap: the frame of a held stream keeps neither an unused request nor a copy of it.
    std::unique_ptr<ChatRequest> renamed;
    std::unique_ptr<EmbeddingRequest> embedding;
    ChunkSink sink;
    auto ex = co_await asio::this_coro::executor;
    const auto deadline = std::make_shared<AttemptDeadline>();
    asio::awaitable<Result<T>> op = [&]() {
      const std::string& upstream = node.d.upstream_model;
      if constexpr (std::is_same_v<T, Embeddings>) {
        embedding = std::make_unique<EmbeddingRequest>(*ctx.embedding);
        if (!upstream.empty()) embedding->model = upstream;
        return node.d.provider->embed(*embedding);
      } else {
        const ChatRequest* req = ctx.req;
        if (!upstream.empty() && upstream != req->model) {
          renamed = std::make_unique<ChatRequest>(*req);
          renamed->model = upstream;
          req = renamed.get();
        }
        if constexpr (std::is_same_v<T, Completion>) {
          return node.d.provider->complete(*req);
        } else {
          // Used while the stream opens only: the rest goes to the caller's own sink.
          sink = [&ctx, &delivered = deadline->delivered](const StreamDelta& d) {
            if (!d.text.empty() || d.tool_call != nullptr) ctx.delivered = delivered = true;
            return (*ctx.sink)(d);
          };
          return node.d.provider->open_stream(*req, sink);
        }
      }
    }();
    // The timer's handler runs on the attempt's executor (a connection's strand for requests).
    asio::steady_timer timer(ex, ctx.deadline);
    timer.async_wait([deadline](const boost::system::error_code& ec) {
      if (ec || deadline->delivered) return;
      deadline->fired = true;
      deadline->cancel.emit(asio::cancellation_type::terminal);
    });
    // The provider runs in a thread of its own bound to `deadline->cancel`, so a cancellation of
    // this coroutine (the caller left) is passed on by hand. The slot is cleared when the thread
    // completes, before this frame can end.
    const asio::cancellation_state outer = co_await asio::this_coro::cancellation_state;
    if (asio::cancellation_slot slot = outer.slot(); slot.is_connected())
      slot.assign([signal = &deadline->cancel](asio::cancellation_type type) { signal->emit(type); });
    auto [op_error, result] = co_await asio::co_spawn(
        ex, std::move(op), asio::bind_cancellation_slot(deadline->cancel.slot(), asio::as_tuple(asio::use_awaitable)));
    timer.cancel();
    // Whatever the provider made of its cancellation (an error, an exception), it is a timeout.
    if (deadline->fired)
      co_return make_error(errc::upstream_timeout, "the model did not answer in time",
                           node.d.name + " had not answered by the call's deadline");
    if (op_error) std::rethrow_exception(op_error);
    if constexpr (std::is_same_v<T, Opened>) {
      if (result) co_return Opened(std::make_unique<RoutedStream>(std::move(renamed), std::move(*result)));
    }
    co_return std::move(result);
  }

  // The breaker's and the hooks' view of an attempt's outcome; a successful answer is told who
  // gave it.
  template <class R>
  void settle(std::size_t i, Ticket& ticket, Result<R>& r) {
    if (!r) return settle_failure(i, ticket, r.error());
    const Node& node = nodes[i];
    ticket.settle(false);
    if (r->model.empty()) r->model = node.d.upstream_model;
    r->deployment = node.d.name;
    r->provider = std::string(node.d.provider->name());
  }

  void settle_failure(std::size_t i, Ticket& ticket, const Error& e) {
    if (hooks.on_upstream_error) hooks.on_upstream_error(nodes[i].d.name, e);
    ticket.settle(counts_against_breaker(e));
  }

  // This model's attempts. An answer, or an error to return as it is (not retryable, or the
  // stream already reached the client); nothing when this model is exhausted and the next one
  // of the chain should try.
  template <class T>
  asio::awaitable<std::optional<Result<T>>> run(CallContext& ctx) {
    const auto ex = co_await asio::this_coro::executor;
    std::vector<bool> tried(nodes.size(), false);
    std::optional<std::size_t> last;
    for (int attempt = 1; attempt <= retry.max_attempts; ++attempt) {
      if (SteadyClock::now() >= ctx.deadline) {
        ctx.out_of_time = true;
        break;
      }
      Waiter waiter(*this, ex);
      Transitions events;
      const Pick p = pick(tried, last, ctx.fair_key(), waiter, events);
      notify(events);
      if (p.kind == Pick::all_open) {
        ctx.note(model, "", 0,
                 make_error(errc::unavailable, "", "every deployment's circuit breaker is open"));
        break;
      }
      if (p.kind == Pick::all_full) {
        Error e = make_error(errc::rate_limited, "", "every deployment's queue is full");
        e.retry_after_seconds = 1;
        ctx.note(model, "", 0, e);
        break;
      }
      const Node& node = nodes[p.index];
      tried[p.index] = true;
      last = p.index;

      Ticket ticket(*this, p.index, p.probe);
      // Not a conditional expression around co_await: g++ 12 destroys temporaries of such
      // expressions twice, which would release the slot twice.
      Permit permit;
      if (p.kind == Pick::go)
        permit = Permit(this, p.index, p.tenant);
      else
        permit = co_await wait_for_slot(waiter, ctx.deadline);
      if (!permit) {
        Error e = make_error(errc::rate_limited, "", "no free slot before the deadline");
        e.retry_after_seconds = 1;
        ctx.note(model, node.d.name, attempt, e);
        ctx.out_of_time = true;
        break;
      }
      if (SteadyClock::now() >= ctx.deadline) {  // the slot came too late to use
        ctx.out_of_time = true;
        break;
      }
      Result<T> r = co_await call_deployment<T>(node, ctx);
      // A stream that opened keeps the slot and the ticket until its outcome is known.
      if constexpr (std::is_same_v<T, Opened>) {
        if (r) {
          static_cast<RoutedStream&>(**r).hold(*this, p.index, std::move(permit), std::move(ticket));
          const auto cs = co_await asio::this_coro::cancellation_state;
          throw_if_cancelled(cs);
          co_return r;
        }
      }
      permit.release();
      // A provider may answer a cancellation with an error rather than an exception; either
      // way the deployment is not to blame.
      const auto cs = co_await asio::this_coro::cancellation_state;
      throw_if_cancelled(cs);

      if (r) {
        if constexpr (!std::is_same_v<T, Opened>) settle(p.index, ticket, r);
        co_return r;
      }
      const Error& e = r.error();
      settle_failure(p.index, ticket, e);
      if (!is_retryable(e) || ctx.delivered) co_return r;

      ctx.note(model, node.d.name, attempt, e);
      if (attempt == retry.max_attempts) break;
      const auto delay = backoff(attempt, e, p.index);
      if (!delay) break;
      if (SteadyClock::now() + *delay >= ctx.deadline) {
        ctx.out_of_time = true;
        break;
      }
      if (hooks.on_retry) hooks.on_retry(node.d.name, e, attempt);
      if (delay->count() > 0) {
        asio::steady_timer timer(ex, *delay);
        co_await timer.async_wait(asio::use_awaitable);
      }
    }
    co_return std::nullopt;
  }

  asio::awaitable<Result<Embeddings>> embed(const EmbeddingRequest& req) {
    // No fallback chain: the chains are configured for chat models, which cannot embed.
    CallContext ctx(&req, SteadyClock::now() + retry.deadline);
    if (auto r = co_await run<Embeddings>(ctx)) co_return std::move(*r);
    co_return ctx.final_error(model);
  }

  // Completion: a whole answer (sink null); Opened: a stream, once it reached the client.
  template <class T>
  asio::awaitable<Result<T>> call(const ChatRequest& req, const ChunkSink* sink) {
    CallContext ctx(&req, sink, SteadyClock::now() + retry.deadline);
    if (auto r = co_await run<T>(ctx)) co_return std::move(*r);

    std::vector<std::shared_ptr<RoutedModel>> chain;
    {
      std::lock_guard lock(mu);
      chain = fallbacks;
    }
    std::string from = model;
    for (const auto& next : chain) {
      if (SteadyClock::now() >= ctx.deadline) {
        ctx.out_of_time = true;
        break;
      }
      if (hooks.on_fallback) hooks.on_fallback(from, next->name_);
      // The fallback's own deployments and policy, but this call's deadline.
      if (auto r = co_await next->state_->run<T>(ctx)) co_return std::move(*r);
      from = next->name_;
    }
    co_return ctx.final_error(model);
  }

  const std::string model;
  const RetryPolicy retry;
  const BreakerPolicy policy;
  const Clock& clock;
  const RouterHooks hooks;

  mutable std::mutex mu;  // guards everything below; never held across a co_await
  std::vector<Node> nodes;
  std::vector<std::shared_ptr<RoutedModel>> fallbacks;
  std::mt19937_64 rng;
};

RoutedModel::RoutedModel(std::string name, std::vector<Deployment> deployments, RetryPolicy retry,
                         BreakerPolicy breaker, const Clock& clock, RouterHooks hooks)
    : name_(std::move(name)),
      state_(std::make_unique<State>(name_, std::move(deployments), retry, breaker, clock,
                                     std::move(hooks))) {}

RoutedModel::~RoutedModel() = default;

void RoutedModel::set_fallbacks(std::vector<std::shared_ptr<RoutedModel>> chain) {
  std::lock_guard lock(state_->mu);
  state_->fallbacks = std::move(chain);
}

// Not coroutines themselves: the state's coroutine is what the caller awaits (a frame less for
// every held stream). `req` and `sink` are the caller's, alive while it awaits.
boost::asio::awaitable<Result<Completion>> RoutedModel::complete(const ChatRequest& req) {
  return state_->call<Completion>(req, nullptr);
}

boost::asio::awaitable<Result<Completion>> RoutedModel::stream(const ChatRequest& req,
                                                               const ChunkSink& sink) {
  return stream_through(*this, req, sink);
}

boost::asio::awaitable<Result<std::unique_ptr<OpenStream>>> RoutedModel::open_stream(const ChatRequest& req,
                                                                                     const ChunkSink& sink) {
  return state_->call<State::Opened>(req, &sink);
}

Result<void> RoutedModel::supports(const ChatRequest& req) const {
  // The common case costs nothing: asking each deployment builds the request's body.
  if (plainly_supported(req)) return {};
  std::vector<Deployment> deployments;
  {
    std::lock_guard lock(state_->mu);
    for (const auto& n : state_->nodes) deployments.push_back(n.d);
  }
  for (const Deployment& d : deployments) {
    ChatRequest upstream = req;
    if (!d.upstream_model.empty()) upstream.model = d.upstream_model;
    if (auto ok = d.provider->supports(upstream); !ok) return ok;
  }
  return {};
}

boost::asio::awaitable<Result<Embeddings>> RoutedModel::embed(const EmbeddingRequest& req) {
  return state_->embed(req);
}

BreakerState RoutedModel::breaker_state(const std::string& deployment) const {
  std::lock_guard lock(state_->mu);
  for (const auto& n : state_->nodes) {
    if (n.d.name != deployment) continue;
    // An open breaker whose time is up lets the next call probe, whether or not one came yet.
    if (n.breaker == BreakerState::open && state_->admits(n, state_->clock.now()))
      return BreakerState::half_open;
    return n.breaker;
  }
  throw std::invalid_argument("unknown deployment " + deployment + " of model " + name_);
}

}  // namespace aas::llm
