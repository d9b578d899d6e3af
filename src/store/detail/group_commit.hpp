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
// A write is waited for in one of two ways. write()/submit(): the calling thread sleeps until its
// batch is over (it may be woken to lead the next batch). write_then()/enqueue(): the calling thread
// goes on at once and the job's finished() hands its result on (posts it to the coroutine waiting
// for it) from the thread that ran the batch — so a batch is bounded by the writes waiting, not by
// the threads free to wait (issue 16: chat turns held one of the 8 pool threads each through their
// commit, so a batch held at most 8 turns' writes).
//
// Each write keeps its own meaning: a batch commits only when every write in it succeeded.
// When one fails (returns an error or throws), the batch is rolled back and its writes run again
// one by one, each in its own transaction, so one bad write never takes its neighbours down and
// never leaves half of itself behind. The adapter's `execute` does that (it knows its connection,
// its transactions and its errors); this class only forms the batches.
#include "core/error.hpp"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <thread>
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
    // An enqueued job's end (its batch committed or failed), on the thread that ran the batch: hands
    // the result on without blocking. May destroy the job.
    virtual void finished() {}
    const std::string_view op;  // names the operation in the log

   private:
    friend class GroupCommit;
    static constexpr int kWaiting = 0, kLead = 1, kDone = 2;
    std::atomic<int> state_{kWaiting};
    bool waited_ = false;       // a thread sleeps in submit() for it (else: enqueued)
    std::vector<Job*> handed_;  // the batch this job's thread is to lead (kLead)
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

  // Runs `f(Conn&) -> Result<T>` in a shared write transaction like write(), without waiting for
  // it: `done(Result<T>)` is called once it committed (or failed), on the thread that ran its batch
  // (which may be this one, before this returns). `done` must not block: it holds up the writer.
  // `f` and `done` are kept until then (own what they use). Call it on the blocking pool: this
  // thread runs the batch when the writer is free.
  template <class T, class F, class Done>
  void write_then(std::string_view op, F f, Done done) {
    struct Typed final : Job {
      Typed(std::string_view op, F&& f, Done&& done) : Job(op), f(std::move(f)), done(std::move(done)) {}
      bool run(Conn& c) override {
        result.emplace(f(c));
        return result->has_value();
      }
      void fail(Error e) override { result.emplace(std::move(e)); }
      void finished() override {
        std::unique_ptr<Typed> self(this);
        done(std::move(*result));
      }
      F f;
      Done done;
      std::optional<Result<T>> result;
    };
    enqueue(*new Typed(op, std::move(f), std::move(done)));
  }

  // Runs a job of the adapter's own kind (e.g. one that can also be pipelined) in a batch; returns
  // once it is done (committed or failed), like write().
  //
  // Who waits for whom (issue 16: the gateway paid 2.3x the futex calls and context switches of
  // the landed binary here): a caller that finds a writer free leads at once; the others sleep
  // each on its own job, and are woken exactly once — by the leader of the batch that ran them,
  // or to lead the next batch themselves (the first write queued is handed everything queued
  // behind the batch that just ran). No waiter is woken to find it has nothing to do, and a
  // leader runs more than its own batch only when no caller waits in submit() for the next one (it
  // holds only enqueued writes), so a waiting caller waits for no batches but the one it is in and
  // the one before it.
  void submit(Job& job) {
    job.waited_ = true;
    std::vector<Job*> batch;
    {
      std::lock_guard lock(mu_);
      queue_.push_back(&job);
      if (writers_ < max_writers_) {
        ++writers_;
        batch.swap(queue_);
      }
    }
    if (batch.empty()) {
      int state;
      while ((state = job.state_.load(std::memory_order_acquire)) == Job::kWaiting)
        job.state_.wait(Job::kWaiting, std::memory_order_acquire);
      if (state == Job::kDone) return;
      batch = std::move(job.handed_);  // kLead: this thread runs the next batch (its job in it)
    }
    lead(std::move(batch), &job);
  }

  // Queues a job whose caller does not wait (its finished() hands the result on); when a writer is
  // free, this thread leads the batch at once.
  void enqueue(Job& job) {
    {
      std::lock_guard lock(mu_);
      queue_.push_back(&job);
      if (writers_ == max_writers_) return;  // a writer running will take it with its next batch
      ++writers_;
    }
    // The writer is this thread's now. One yield before taking the queue lets the writes of the
    // threads beside this one join the batch (measured: without it a batch held ~1 write, twice
    // the transactions per turn; issue 16).
    std::this_thread::yield();
    std::vector<Job*> batch;
    {
      std::lock_guard lock(mu_);
      batch.swap(queue_);
    }
    lead(std::move(batch), nullptr);
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
  // Runs `batch` (led by the thread of `own`, or of an enqueue when null), then what queued
  // meanwhile: handed to a thread waiting in submit() for one of those writes when there is one,
  // else run here too (enqueued writes have no thread of their own to lead them), until the queue
  // is empty. Under a steady stream of enqueued writes, one pool thread is thus the writer.
  void lead(std::vector<Job*> batch, Job* own) {
    for (;;) {
      execute_(std::span<Job* const>(batch));
      Job* heir = nullptr;
      std::vector<Job*> next;
      {
        std::lock_guard lock(mu_);
        ++batches_;
        jobs_ += batch.size();
        if (queue_.empty()) {
          --writers_;
        } else if (auto w = std::find_if(queue_.begin(), queue_.end(), [](Job* j) { return j->waited_; });
                   w != queue_.end()) {
          heir = *w;
          heir->handed_.swap(queue_);  // its thread owns them from the store below
        } else {
          next.swap(queue_);  // nobody waits to lead them: this thread runs them too
        }
      }
      // The next batch first (the writer is free), then this batch's waiters. A woken waiter
      // returns and destroys its Job, so after the store only the state's address is used, by the
      // futex wake (a wake on an address reused meanwhile is at worst a spurious one, which every
      // futex waiter tolerates).
      if (heir) {
        heir->state_.store(Job::kLead, std::memory_order_release);
        heir->state_.notify_one();
      }
      for (Job* j : batch) {
        if (j == own) continue;
        if (!j->waited_) {
          j->finished();
          continue;
        }
        j->state_.store(Job::kDone, std::memory_order_release);
        j->state_.notify_one();
      }
      if (next.empty()) return;
      batch = std::move(next);
      own = nullptr;
    }
  }

  const std::size_t max_writers_;
  const Execute execute_;
  mutable std::mutex mu_;
  std::vector<Job*> queue_;
  std::size_t writers_ = 0;
  std::size_t batches_ = 0;
  std::size_t jobs_ = 0;
};

}  // namespace aas::store::detail
