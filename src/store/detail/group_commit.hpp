#pragma once
// Private to the Store adapters: group commit. Every write transaction of a store goes through
// here: the writes waiting at the moment a writer becomes free run together in ONE transaction
// (one BEGIN/COMMIT, one WAL append, one fsync where the store syncs), and each caller gets its
// own result only after that transaction committed. A caller that is told "done" is therefore
// durable to the store's setting (docs/operations.md), and a SIGKILL never loses it.
//
// No timer and no waiting for company: a batch is simply whatever queued while the previous one
// ran, so a lone write costs what it did before and concurrent writes share their commit.
//
// Each write keeps its own meaning: a batch commits only when every write in it succeeded.
// When one fails (returns an error or throws), the batch is rolled back and its writes run again
// one by one, each in its own transaction, so one bad write never takes its neighbours down and
// never leaves half of itself behind. The adapter's `execute` does that (it knows its connection,
// its transactions and its errors); this class only forms the batches.
#include "core/error.hpp"

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace aas::store::detail {

template <class Conn>
class GroupCommit {
 public:
  // One write waiting for its batch.
  class Job {
   public:
    explicit Job(std::string_view op) : op(op) {}
    virtual ~Job() = default;
    // The write, inside the batch's transaction: false when it failed (its result says why), and
    // the batch must then not commit with it. May throw the adapter's database error.
    virtual bool run(Conn& c) = 0;
    // The job's result when it did not run to a commit: the database's failure.
    virtual void fail(Error e) = 0;
    const std::string_view op;  // names the operation in the log
    bool done = false;          // guarded by the GroupCommit's mutex
  };

  // Runs one batch to its end: every job has run and committed, or has failed. Never throws.
  using Execute = std::function<void(std::span<Job* const>)>;

  // `max_writers`: how many batches may run at once (SQLite: 1, its one writer connection;
  // PostgreSQL: a few connections, so a commit's round trip overlaps the next batch's work).
  GroupCommit(std::size_t max_writers, Execute execute)
      : max_writers_(max_writers), execute_(std::move(execute)) {}
  GroupCommit(const GroupCommit&) = delete;
  GroupCommit& operator=(const GroupCommit&) = delete;

  // Runs `f(Conn&) -> Result<T>` in a shared write transaction; returns once it committed (or
  // failed). Blocking: call it on the blocking pool, like every Store method.
  template <class T, class F>
  Result<T> write(std::string_view op, F&& f) {
    struct Typed final : Job {
      Typed(std::string_view op, F& f) : Job(op), f(f) {}
      bool run(Conn& c) override {
        result.emplace(f(c));
        return result->has_value();
      }
      void fail(Error e) override { result.emplace(std::move(e)); }
      F& f;
      std::optional<Result<T>> result;
    };
    Typed job(op, f);
    submit(job);
    return std::move(*job.result);
  }

  // Runs a job of the adapter's own kind (e.g. one that can also be pipelined) in a batch; returns
  // once it is done (committed or failed), like write().
  void submit(Job& job) {
    std::unique_lock lock(mu_);
    queue_.push_back(&job);
    while (!job.done) {
      if (writers_ < max_writers_ && !queue_.empty()) {
        // Lead: take everything waiting (this job among it, or a batch of others while this one
        // is already in another writer's hands) and run it.
        ++writers_;
        std::vector<Job*> batch;
        batch.swap(queue_);
        ++batches_;
        jobs_ += batch.size();
        lock.unlock();
        execute_(std::span<Job* const>(batch));
        lock.lock();
        for (Job* j : batch) j->done = true;
        --writers_;
        cv_.notify_all();
      } else {
        cv_.wait(lock);
      }
    }
  }

  // Writes waiting for a writer now (for the tests).
  std::size_t queued() const {
    std::lock_guard lock(mu_);
    return queue_.size();
  }

  // Batches run so far and jobs in them (for the tests and the benchmarks' figures).
  std::pair<std::size_t, std::size_t> counts() const {
    std::lock_guard lock(mu_);
    return {batches_, jobs_};
  }

 private:
  const std::size_t max_writers_;
  const Execute execute_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Job*> queue_;
  std::size_t writers_ = 0;
  std::size_t batches_ = 0;
  std::size_t jobs_ = 0;
};

}  // namespace aas::store::detail
