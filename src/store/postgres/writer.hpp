#pragma once
// Private to the PostgreSQL store: group commit with pipelining (issue 16). The hot writes of a
// chat turn and of a gateway call (a turn's first writes, its answer with the ledger row and rollup,
// a gateway ledger row) wait here for a writer; the writes waiting together are sent to the server
// in ONE pipeline — BEGIN, every write's statements, COMMIT, no round trip between them — so N
// writes cost one round trip and one WAL flush, and the rollup rows they share are
// locked once per batch instead of once per write (a single user's turns all update the same row,
// which serialized every answer behind the previous one's commit). A caller returns only after
// its batch committed.
//
// A write is a Plan with three parts:
//   void send(Pipeline&)                 its statements, with no parameter taken from an earlier
//                                        result (what it needs from earlier rows it reads in SQL);
//                                        a write that cannot go ahead (not found...) makes one of
//                                        them fail, so the server skips the rest and the COMMIT
//   Result<T> receive(const Pipeline&)   its outcome from their results, once committed
//   Result<T> run(Connection&)           the same write done step by step, for when it runs alone
// When anything in a batch fails, the batch is rolled back and each write runs again alone, step
// by step, in its own transaction (detail::run_unit: retried on a stale connection or a lost
// deadlock), so a bad write fails alone and its neighbours still commit.
#include "core/error.hpp"
#include "store/detail/group_commit.hpp"
#include "store/postgres/pq.hpp"
#include "store/postgres/unit.hpp"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aas::store::postgres::detail {

class Writer {
 public:
  using Group = store::detail::GroupCommit<Connection>;

  // `writers`: batches that may run at once, each on a connection of `pool` (its own server
  // process: on a loaded machine each gets a share of the CPU, so a few do more than one).
  Writer(Pool& pool, std::size_t writers)
      : pool_(pool), group_(writers, [this](std::span<Group::Job* const> batch) { execute(batch); }) {}

  // Runs `plan` in a batch (see above). Within a batch, the writes that add to a usage rollup
  // row (`rollup`) go last, so the rows a whole batch shares (one user's day) are locked only
  // from there to the COMMIT; and by user, so two batches lock users' rollup rows in the same
  // order and cannot deadlock on them.
  template <class T, class Plan>
  Result<T> write(std::string_view op, std::string_view user, bool rollup, Plan& plan) {
    Typed<T, Plan> job(op, std::string(rollup ? "1" : "0").append(user), plan);
    group_.submit(job);
    return std::move(*job.result);
  }

  // Batches run and writes in them so far.
  std::pair<std::size_t, std::size_t> counts() const { return group_.counts(); }

 private:
  class Job : public Group::Job {
   public:
    Job(std::string_view op, std::string key) : Group::Job(op), key(std::move(key)) {}
    virtual void send(Pipeline& p) = 0;
    virtual void receive(const Pipeline& p) = 0;
    const std::string key;
  };

  template <class T, class Plan>
  struct Typed final : Job {
    Typed(std::string_view op, std::string key, Plan& plan) : Job(op, std::move(key)), plan(plan) {}
    bool run(Connection& c) override {
      result.emplace(plan.run(c));
      return result->has_value();
    }
    void send(Pipeline& p) override { plan.send(p); }
    void receive(const Pipeline& p) override { result.emplace(plan.receive(p)); }
    void fail(Error e) override { result.emplace(std::move(e)); }
    Plan& plan;
    std::optional<Result<T>> result;
  };

  enum class Outcome { committed, failed, again };

  void execute(std::span<Group::Job* const> batch) {
    std::vector<Job*> jobs;
    jobs.reserve(batch.size());
    for (Group::Job* j : batch) jobs.push_back(static_cast<Job*>(j));
    std::stable_sort(jobs.begin(), jobs.end(), [](const Job* a, const Job* b) { return a->key < b->key; });
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
        for (Job* j : jobs) j->send(p);
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
