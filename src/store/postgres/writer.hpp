#pragma once
// Private to the PostgreSQL store: group commit with pipelining (issue 16). The hot writes of a
// chat turn and of a gateway call (a turn's first writes, its answer with the ledger row and rollup,
// a gateway ledger row) wait here for a writer; the writes waiting together are sent to the server
// in ONE pipeline — BEGIN, every write's statements, no round trip between them — and committed
// together, so N turns cost two round trips and one WAL flush, and the rollup rows they share are
// locked once per batch instead of once per write (a single user's turns all update the same row,
// which serialized every answer behind the previous one's commit). A caller returns only after
// its batch committed.
//
// A write is a Plan with three parts:
//   void send(Pipeline&)                 its statements, with no parameter taken from an earlier
//                                        result (what it needs from earlier rows it reads in SQL)
//   Result<T> receive(const Pipeline&)   its outcome from their results; an error (e.g. not found)
//                                        keeps the batch from committing
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

  // `writers`: batches that may run at once, each on a connection of `pool`. Two let one batch
  // wait for its COMMIT's flush while the next is sent.
  Writer(Pool& pool, std::size_t writers)
      : pool_(pool), group_(writers, [this](std::span<Group::Job* const> batch) { execute(batch); }) {}

  // Runs `plan` in a batch (see above). `key` orders the writes within a batch (the user: two
  // batches then lock users' rollup rows in the same order and cannot deadlock on them).
  template <class T, class Plan>
  Result<T> write(std::string_view op, std::string_view key, Plan& plan) {
    Typed<T, Plan> job(op, key, plan);
    group_.submit(job);
    return std::move(*job.result);
  }

  // Batches run and writes in them so far.
  std::pair<std::size_t, std::size_t> counts() const { return group_.counts(); }

 private:
  class Job : public Group::Job {
   public:
    Job(std::string_view op, std::string_view key) : Group::Job(op), key(key) {}
    virtual void send(Pipeline& p) = 0;
    virtual bool receive(const Pipeline& p) = 0;
    const std::string_view key;
  };

  template <class T, class Plan>
  struct Typed final : Job {
    Typed(std::string_view op, std::string_view key, Plan& plan) : Job(op, key), plan(plan) {}
    bool run(Connection& c) override {
      result.emplace(plan.run(c));
      return result->has_value();
    }
    void send(Pipeline& p) override { plan.send(p); }
    bool receive(const Pipeline& p) override {
      result.emplace(plan.receive(p));
      return result->has_value();
    }
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

  // The whole batch in one pipelined transaction.
  Outcome together(const std::vector<Job*>& jobs) {
    bool reused = false;
    bool committing = false;
    try {
      auto lease = acquire(pool_);
      reused = lease.reused();
      Connection& c = *lease;
      bool all = true;
      {
        Pipeline p(c);
        p.send("BEGIN");
        for (Job* j : jobs) j->send(p);
        try {
          p.sync();
        } catch (const PgError&) {
          rollback(c);
          throw;
        }
        for (Job* j : jobs) {
          if (!j->receive(p)) {
            all = false;
            break;
          }
        }
      }
      if (!all) {
        rollback(c);
        return Outcome::failed;
      }
      committing = true;
      c.exec("COMMIT");
      return Outcome::committed;
    } catch (const PgError& e) {
      if (committing) {
        // The outcome is unknown: tell every writer so rather than run anything twice.
        for (Job* j : jobs) j->fail(db_error(j->op, e));
        return Outcome::committed;
      }
      if (e.connection_lost() && reused) {
        pool_.drop_idle();
        return Outcome::again;
      }
      return is_conflict(e) ? Outcome::again : Outcome::failed;
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
