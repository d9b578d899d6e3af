// The batching of store/detail/group_commit.hpp on its own, with a fake connection: what the
// adapters' execute() receives and what each caller gets back. (The adapters themselves are held
// to it by the conformance suite: ConcurrentWritesEachGetTheirOwnOutcome.)
#include "store/detail/group_commit.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace aas::store::detail {
namespace {

struct FakeConn {
  std::vector<int> committed;  // what the batches committed, in order
};

// execute() as the adapters do it: all of a batch in one "transaction", or each alone when one
// fails. The first batch is held until `release` so that others queue behind it.
struct Harness {
  FakeConn conn;
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  bool first = true;
  std::vector<std::size_t> batch_sizes;
  GroupCommit<FakeConn> group{1, [this](std::span<GroupCommit<FakeConn>::Job* const> batch) {
                                {
                                  std::unique_lock lock(mu);
                                  batch_sizes.push_back(batch.size());
                                  if (first) {
                                    first = false;
                                    cv.notify_all();
                                    cv.wait(lock, [&] { return release; });
                                  }
                                }
                                FakeConn tx;  // the "transaction": kept only when all succeed
                                bool all = true;
                                for (auto* job : batch) all = job->run(tx) && all;
                                if (all && batch.size() > 1) {
                                  conn.committed.insert(conn.committed.end(), tx.committed.begin(), tx.committed.end());
                                  return;
                                }
                                for (auto* job : batch) {
                                  FakeConn alone;
                                  if (job->run(alone))
                                    conn.committed.insert(conn.committed.end(), alone.committed.begin(),
                                                          alone.committed.end());
                                }
                              }};
};

Result<int> write_value(Harness& h, int v) {
  return h.group.write<int>("test", [v](FakeConn& c) -> Result<int> {
    if (v < 0) return make_error(errc::not_found, "refused");
    c.committed.push_back(v);
    return v * 10;
  });
}

TEST(GroupCommit, ALoneWriteRunsAtOnceAsItsOwnBatch) {
  Harness h;
  h.release = true;
  auto r = write_value(h, 7);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 70);
  EXPECT_EQ(h.conn.committed, std::vector<int>{7});
  EXPECT_EQ(h.group.counts(), (std::pair<std::size_t, std::size_t>{1, 1}));
}

// Five writes arrive while a batch runs: they form the next batch together. One of them fails,
// so that batch is rolled back and its writes run alone: the failure stays its own.
void five_behind_one(Harness& h, int failing, std::vector<Result<int>>& results) {
  std::thread leader([&] { EXPECT_EQ(*write_value(h, 1), 10); });
  {
    std::unique_lock lock(h.mu);  // the leader's batch is running, held until release
    h.cv.wait(lock, [&] { return !h.first; });
  }
  std::vector<std::thread> followers;
  for (int i = 0; i < 5; ++i)
    followers.emplace_back([&, i] { results[i] = write_value(h, i == failing ? -1 : 100 + i); });
  while (h.group.queued() < 5) std::this_thread::yield();  // all five queued behind the leader
  {
    std::lock_guard lock(h.mu);
    h.release = true;
    h.cv.notify_all();
  }
  leader.join();
  for (auto& t : followers) t.join();
}

TEST(GroupCommit, WritesWaitingBehindABatchShareTheNextOne) {
  Harness h;
  std::vector<Result<int>> results(5, make_error(errc::internal, "not run"));
  five_behind_one(h, -1, results);
  EXPECT_EQ(h.batch_sizes, (std::vector<std::size_t>{1, 5}));
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(results[i]);
    EXPECT_EQ(*results[i], (100 + i) * 10);
  }
  std::vector<int> sorted = h.conn.committed;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (std::vector<int>{1, 100, 101, 102, 103, 104}));
}

TEST(GroupCommit, AFailedWriteFailsAloneAndLeavesNothing) {
  Harness h;
  std::vector<Result<int>> results(5, make_error(errc::internal, "not run"));
  five_behind_one(h, 2, results);
  EXPECT_EQ(h.batch_sizes, (std::vector<std::size_t>{1, 5}));
  for (int i = 0; i < 5; ++i) {
    if (i == 2) {
      ASSERT_FALSE(results[i]);
      EXPECT_EQ(results[i].error().code, errc::not_found);
    } else {
      ASSERT_TRUE(results[i]);
      EXPECT_EQ(*results[i], (100 + i) * 10);
    }
  }
  // Every successful write committed exactly once; the refused one left nothing.
  std::vector<int> sorted = h.conn.committed;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (std::vector<int>{1, 100, 101, 103, 104}));
  EXPECT_EQ(h.group.counts(), (std::pair<std::size_t, std::size_t>{2, 6}));
}

// Many callers at once, one writer or several: every write runs exactly once, in one batch, and
// every caller gets its own result back (the leader hands the next batch to a waiting caller and
// wakes each of its batch's callers itself: no caller may be lost or woken for another's result).
void many_callers(std::size_t writers) {
  std::mutex mu;
  std::vector<int> ran;
  std::size_t concurrent = 0, most = 0;
  GroupCommit<FakeConn> group{writers, [&](std::span<GroupCommit<FakeConn>::Job* const> batch) {
                                {
                                  std::lock_guard lock(mu);
                                  most = std::max(most, ++concurrent);
                                }
                                FakeConn tx;
                                for (auto* job : batch) EXPECT_TRUE(job->run(tx));
                                std::lock_guard lock(mu);
                                --concurrent;
                                ran.insert(ran.end(), tx.committed.begin(), tx.committed.end());
                              }};
  constexpr int kThreads = 8, kEach = 400;
  std::vector<std::thread> threads;
  std::vector<int> wrong(kThreads, 0);
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        const int v = t * kEach + i;
        auto r = group.write<int>("test", [v](FakeConn& c) -> Result<int> {
          c.committed.push_back(v);
          return v * 10;
        });
        if (!r || *r != v * 10) ++wrong[t];
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong, std::vector<int>(kThreads, 0));
  std::sort(ran.begin(), ran.end());
  std::vector<int> expected(kThreads * kEach);
  for (int i = 0; i < kThreads * kEach; ++i) expected[i] = i;
  EXPECT_EQ(ran, expected);
  EXPECT_LE(most, writers);
  EXPECT_EQ(group.counts().second, static_cast<std::size_t>(kThreads * kEach));
  EXPECT_EQ(group.queued(), 0u);
}

TEST(GroupCommit, ManyCallersOneWriterEachGetTheirOwnResult) { many_callers(1); }
TEST(GroupCommit, ManyCallersSeveralWritersEachGetTheirOwnResult) { many_callers(3); }

// write_then (issue 16): a caller that does not wait. Twenty writes enqueued while a batch runs
// take no thread each — this one thread enqueues them all and goes on — and still form ONE next
// batch, run by the thread that led the first (nobody else waits to lead it); each result reaches
// its own `done`, a refused write failing alone.
TEST(GroupCommit, EnqueuedWritesTakeNoThreadEachAndShareTheNextBatch) {
  Harness h;
  std::thread leader([&] { EXPECT_EQ(*write_value(h, 1), 10); });
  {
    std::unique_lock lock(h.mu);
    h.cv.wait(lock, [&] { return !h.first; });
  }
  constexpr int kN = 20;
  std::vector<std::optional<Result<int>>> results(kN);
  for (int i = 0; i < kN; ++i) {
    const int v = i == 7 ? -1 : 100 + i;
    h.group.write_then<int>(
        "test",
        [v](FakeConn& c) -> Result<int> {
          if (v < 0) return make_error(errc::not_found, "refused");
          c.committed.push_back(v);
          return v * 10;
        },
        [&results, i](Result<int> r) { results[i] = std::move(r); });
  }
  EXPECT_EQ(h.group.queued(), static_cast<std::size_t>(kN));  // none ran: the writer is busy
  {
    std::lock_guard lock(h.mu);
    h.release = true;
    h.cv.notify_all();
  }
  leader.join();  // returns once the queue it drained is empty
  EXPECT_EQ(h.batch_sizes, (std::vector<std::size_t>{1, kN}));
  for (int i = 0; i < kN; ++i) {
    ASSERT_TRUE(results[i].has_value()) << i;
    if (i == 7) {
      ASSERT_FALSE(*results[i]);
      EXPECT_EQ(results[i]->error().code, errc::not_found);
    } else {
      ASSERT_TRUE(*results[i]);
      EXPECT_EQ(**results[i], (100 + i) * 10);
    }
  }
  EXPECT_EQ(h.conn.committed.size(), static_cast<std::size_t>(kN));  // 1 and the 19 accepted
  EXPECT_EQ(h.group.queued(), 0u);
}

// Waiting and enqueued writes mixed from many threads: every write runs once and every result
// reaches its caller, whichever thread ran its batch (a waiting caller is handed the next batch
// when there is one; else the leader drains it).
TEST(GroupCommit, WaitingAndEnqueuedWritesMixedEachGetTheirOwnResult) {
  std::mutex mu;
  std::vector<int> ran;
  GroupCommit<FakeConn> group{1, [&](std::span<GroupCommit<FakeConn>::Job* const> batch) {
                                FakeConn tx;
                                for (auto* job : batch) EXPECT_TRUE(job->run(tx));
                                std::lock_guard lock(mu);
                                ran.insert(ran.end(), tx.committed.begin(), tx.committed.end());
                              }};
  constexpr int kThreads = 6, kEach = 300;
  std::atomic<int> wrong{0}, answered{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        const int v = t * kEach + i;
        auto f = [v](FakeConn& c) -> Result<int> {
          c.committed.push_back(v);
          return v * 10;
        };
        if ((t + i) % 2) {
          auto r = group.write<int>("test", f);
          if (!r || *r != v * 10) ++wrong;
          ++answered;
        } else {
          group.write_then<int>("test", f, [&, v](Result<int> r) {
            if (!r || *r != v * 10) ++wrong;
            ++answered;
          });
        }
      }
    });
  for (auto& t : threads) t.join();
  // An enqueued write is run by a thread still inside the group; all are done once every caller
  // that waited has returned and the last leader has left.
  while (group.queued() != 0 || answered.load() != kThreads * kEach) std::this_thread::yield();
  EXPECT_EQ(wrong.load(), 0);
  std::lock_guard lock(mu);
  std::sort(ran.begin(), ran.end());
  std::vector<int> expected(kThreads * kEach);
  for (int i = 0; i < kThreads * kEach; ++i) expected[i] = i;
  EXPECT_EQ(ran, expected);
}

}  // namespace
}  // namespace aas::store::detail
