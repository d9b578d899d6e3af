#pragma once
// Private to the PostgreSQL store: group commit with pipelining (issue 16). The hot writes of a
// chat turn and of a gateway call (a turn's first writes, its answer with the ledger row and rollup,
// a gateway ledger row) wait here for a writer; the writes waiting together are sent to the server
// in ONE pipeline — BEGIN, every write's statements, COMMIT, no round trip between them — so N
// writes cost one round trip and one WAL flush. What they add to the daily usage rollup is summed
// per row and written once, at the batch's end (DailyUsage below). A caller is answered only after
// its batch committed.
//
// A write is a Plan with three parts:
//   void send(Pipeline&, DailyUsage&)    its statements, with no parameter taken from an earlier
//                                        result (what it needs from earlier rows it reads in SQL),
//                                        and its ledger rows' share of the rollup; a write that
//                                        cannot go ahead (not found...) makes one of them fail, so
//                                        the server skips the rest and the COMMIT
//   Result<T> receive(const Pipeline&)   its outcome from their results, once committed
//   Result<T> run(Connection&)           the same write done step by step, for when it runs alone
// When anything in a batch fails, the batch is rolled back and each write runs again alone, step
// by step, in its own transaction (detail::run_unit: retried on a stale connection or a lost
// deadlock), so a bad write fails alone and its neighbours still commit.
//
// A caller waits in one of the two ways of GroupCommit: write() sleeps on a pool thread until its
// batch is over; write_then() queues the write and returns at once, its result handed to `done`
// by the thread that ran the batch (issue 16: a chat turn no longer holds one of the pool's
// threads through each of its commits, so a batch holds every write waiting, not only as many as
// there are threads to wait).
#include "core/error.hpp"
#include "store/detail/common.hpp"
#include "store/detail/group_commit.hpp"
#include "store/postgres/pq.hpp"
#include "store/postgres/unit.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace aas::store::postgres::detail {

// What the writes of one batch add to the daily usage rollup: one row per (day, user, model),
// summed, and written at the batch's end with one upsert each. The answers of one user in a batch
// then update their rollup row — and run its triggers, which add to the monthly and per-model
// rollups (migration 13) — once instead of once each, and lock it only from there to the COMMIT
// (every answer of a user adds to the same row: concurrent batches queue on its lock until the
// holder's COMMIT is flushed). Rows go in key order, so two batches lock shared rows in the same
// order.
class DailyUsage {
 public:
  void add(std::string day, const UsageRecord& r) {
    Sums& s = rows_[{std::move(day), r.user_id, r.model}];
    s.requests += 1;
    s.input_tokens += r.input_tokens;
    s.output_tokens += r.output_tokens;
    s.cached_input_tokens += r.cached_input_tokens;
    s.cache_write_tokens += r.cache_write_tokens;
    s.reasoning_tokens += r.reasoning_tokens;
    s.cost_micros += r.cost_micros.value_or(0);
    s.unpriced_requests += store::detail::unpriced_count(r);
    s.estimated_requests += store::detail::estimated_count(r);
  }

  // `c`: the batch's Pipeline, or a Connection for a write run alone (the statements read no result).
  template <class C>
  void send(C& c) const {
    for (const auto& [key, s] : rows_) {
      const auto& [day, user, model] = key;
      c.query_with(AAS_USAGE_DAILY_UPSERT("($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"), day, user, model,
                   s.requests, s.input_tokens, s.output_tokens, s.cached_input_tokens, s.cache_write_tokens,
                   s.reasoning_tokens, s.cost_micros, s.unpriced_requests, s.estimated_requests);
    }
  }

 private:
  struct Sums {
    std::int64_t requests = 0, input_tokens = 0, output_tokens = 0, cached_input_tokens = 0, cache_write_tokens = 0,
                 reasoning_tokens = 0, cost_micros = 0, unpriced_requests = 0, estimated_requests = 0;
  };
  std::map<std::tuple<std::string, std::string, std::string>, Sums> rows_;
};

class Writer {
 public:
  using Group = store::detail::GroupCommit<Connection>;

  // `writers`: batches that may run at once, each on a connection of `pool` (its own server
  // process: on a loaded machine each gets a share of the CPU, so a few do more than one).
  Writer(Pool& pool, std::size_t writers)
      : pool_(pool), group_(writers, [this](std::span<Group::Job* const> batch) { execute(batch); }) {}

  // Runs `plan` in a batch (see above); returns once the batch committed (or the write failed).
  template <class T, class Plan>
  Result<T> write(std::string_view op, Plan& plan) {
    Typed<T, Plan&> job(op, plan);
    group_.submit(job);
    return std::move(*job.result);
  }

  // The same without waiting: `done(Result<T>)` is called once the batch committed (or the write
  // failed), on the thread that ran it — possibly this one, before this returns. `plan` and
  // `done` are kept until then, so the plan owns what its statements use; `done` must not block
  // (it holds up the writer). Call it on the blocking pool: this thread runs the batch when a
  // writer is free.
  template <class T, class Plan, class Done>
  void write_then(std::string_view op, Plan plan, Done done) {
    group_.enqueue(*new Queued<T, Plan, Done>(op, std::move(plan), std::move(done)));
  }

  // Batches run and writes in them so far.
  std::pair<std::size_t, std::size_t> counts() const { return group_.counts(); }

 private:
  class Job : public Group::Job {
   public:
    using Group::Job::Job;
    virtual void send(Pipeline& p, DailyUsage& usage) = 0;
    virtual void receive(const Pipeline& p) = 0;
  };

  // `Plan`: a reference to the caller's plan (write) or the plan itself, kept until done (write_then).
  template <class T, class Plan>
  struct Typed : Job {
    Typed(std::string_view op, Plan plan) : Job(op), plan(std::forward<Plan>(plan)) {}
    bool run(Connection& c) override {
      result.emplace(plan.run(c));
      return result->has_value();
    }
    void send(Pipeline& p, DailyUsage& usage) override { plan.send(p, usage); }
    void receive(const Pipeline& p) override { result.emplace(plan.receive(p)); }
    void fail(Error e) override { result.emplace(std::move(e)); }
    Plan plan;
    std::optional<Result<T>> result;
  };

  // An enqueued write: hands its result to `done` and deletes itself once its batch is over.
  template <class T, class Plan, class Done>
  struct Queued final : Typed<T, Plan> {
    Queued(std::string_view op, Plan plan, Done done) : Typed<T, Plan>(op, std::move(plan)), done(std::move(done)) {}
    void finished() override {
      std::unique_ptr<Queued> self(this);
      done(std::move(*this->result));
    }
    Done done;
  };

  enum class Outcome { committed, failed, again };

  void execute(std::span<Group::Job* const> batch) {
    std::vector<Job*> jobs;
    jobs.reserve(batch.size());
    for (Group::Job* j : batch) jobs.push_back(static_cast<Job*>(j));
    for (int attempt = 1; attempt <= kMaxAttempts; ++attempt) {
      const Outcome o = together(jobs);
      if (o == Outcome::committed) return;
      if (o == Outcome::failed) break;
    }
    for (Job* j : jobs) alone(*j);
  }

  // The whole batch in one pipelined transaction, COMMIT included: one round trip. A write that
  // cannot go ahead (not found, overtaken) fails with an error in SQL, which makes the server skip
  // the rest, COMMIT included, so nothing of the batch is kept and each write runs again alone.
  Outcome together(const std::vector<Job*>& jobs) {
    bool reused = false;
    std::size_t received = 0;
    try {
      auto lease = acquire(pool_);
      reused = lease.reused();
      Connection& c = *lease;
      {
        Pipeline p(c);
        p.send("BEGIN");
        DailyUsage usage;
        for (Job* j : jobs) j->send(p, usage);
        usage.send(p);
        p.send("COMMIT");
        try {
          p.sync();
        } catch (const PgError& e) {
          received = p.received();
          if (!e.connection_lost()) rollback(c);  // the transaction is left aborted, not committed
          throw;
        }
        // Committed: each write reads its outcome (never run again from here on).
        for (Job* j : jobs) {
          try {
            j->receive(p);
          } catch (const PgError& e) {
            j->fail(db_error(j->op, e));
          }
        }
      }
      return Outcome::committed;
    } catch (const PgError& e) {
      if (!e.connection_lost()) return is_conflict(e) ? Outcome::again : Outcome::failed;
      // Lost before the server answered anything, on a connection that had sat in the pool: it
      // died while idle, and nothing of the batch ran. Lost later: whether the COMMIT ran is
      // unknown, so every writer is told so rather than have its write run twice.
      if (reused && received == 0) {
        pool_.drop_idle();
        return Outcome::again;
      }
      for (Job* j : jobs) j->fail(db_error(j->op, e));
      return Outcome::committed;
    }
  }

  // One write on its own, step by step: its own result (or its error) and nothing of it left
  // behind when it failed.
  void alone(Job& job) {
    bool refused = false;
    auto r = run_unit<void>(pool_, job.op, Tx::write, [&](Connection& c) -> Result<void> {
      refused = !job.run(c);
      if (refused) return make_error(errc::internal, "rolled back");  // the job's result says why
      return {};
    });
    if (!r && !refused) job.fail(r.error());
  }

  static void rollback(Connection& c) {
    try {
      c.exec("ROLLBACK");
    } catch (const PgError&) {
      // Not reusable() then: the pool closes it.
    }
  }

  Pool& pool_;
  Group group_;
};

}  // namespace aas::store::postgres::detail
