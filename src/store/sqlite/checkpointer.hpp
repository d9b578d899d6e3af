#pragma once
// Copies a database's WAL back into its file on a thread of its own, so that no commit waits for
// it. SQLite's automatic checkpoint runs inside the commit that finds the WAL past
// `wal_autocheckpoint` pages, holding up every write queued behind that commit for as long as the
// copy and its fdatasyncs take: at 2,000 gateway calls/s the p99 was 4-5 ms with checkpoints of
// 1,000 pages and 11-13 ms with 4,000 (docs/benchmarks.md, "Session 10: the checkpoint off the
// commit path"). Here the writer's commit only notes the WAL's size (a WAL hook); past `pages`
// the checkpointer runs a PASSIVE checkpoint on its own connection, which copies what no reader
// still needs and never blocks the writer. The WAL restarts from its beginning at the first write
// after a checkpoint has copied all of it.
#include <sqlite3.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace aas::store::sqlite::detail {

class Checkpointer {
 public:
  // No thread and no connection until the first checkpoint is due.
  Checkpointer(std::string path, int pages);
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;
  ~Checkpointer();  // stops the thread and closes its connection

  // Takes over the writer's WAL hook (which turns its automatic checkpoints off).
  void attach(sqlite3* writer);

  // Checkpoints run so far (tests).
  int runs() const;

 private:
  static int on_commit(void* self, sqlite3*, const char*, int wal_pages);
  void run();

  const std::string path_;
  const int pages_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool due_ = false;
  bool stopping_ = false;
  int runs_ = 0;
  std::thread thread_;
};

}  // namespace aas::store::sqlite::detail
