#include "store/sqlite/database.hpp"

namespace aas::store::sqlite::detail {

namespace {

std::unique_ptr<Connection> open_writer(const std::string& path, const std::string& pragmas) {
  auto c = std::make_unique<Connection>(
      path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX);
  sqlite3_busy_timeout(c->handle(), kBusyTimeoutMs);
  // journal_mode reads the file header, so this is also where "not a database" surfaces.
  // WAL persists in the file; synchronous=NORMAL is safe with WAL (a crash may lose the last
  // commits, never corrupt) and avoids an fsync per commit.
  // No automatic checkpoint: it would run inside a commit, holding up every write queued behind
  // it; the Checkpointer runs them on its own thread (attached by Database).
  c->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA wal_autocheckpoint=0;");
  if (!pragmas.empty()) c->exec(pragmas);
  return c;
}

std::unique_ptr<Connection> open_reader(const std::string& path, const std::string& pragmas) {
  auto c = std::make_unique<Connection>(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX);
  sqlite3_busy_timeout(c->handle(), kBusyTimeoutMs);
  // A write slipping onto a reader would bypass the writer mutex; make it fail loudly instead.
  c->exec("PRAGMA query_only=ON;");
  if (!pragmas.empty()) c->exec(pragmas);
  return c;
}

}  // namespace

Database::Database(const std::string& path, std::size_t max_readers, std::string pragmas, int checkpoint_pages)
    : in_memory_(path == ":memory:"),
      checkpointer_(path, checkpoint_pages),
      writer_(open_writer(path, pragmas)),
      readers_(max_readers, [path, pragmas = std::move(pragmas)] { return open_reader(path, pragmas); }),
      group_(1, [this](std::span<Job* const> batch) { execute(batch); }) {
  if (!in_memory_) checkpointer_.attach(writer_->handle());
}

void Database::execute(std::span<Job* const> batch) {
  std::lock_guard lock(write_mu_);
  // Each job alone, in its own transaction: the path of a lone write, and of every write of a
  // batch that could not commit together.
  const auto alone = [&](Job& job) {
    try {
      Transaction tx(*writer_, Transaction::Kind::write);
      if (job.run(*writer_)) tx.commit();
    } catch (const DbError& e) {
      job.fail(db_error(job.op, e));
    }
  };
  if (batch.size() > 1) {
    try {
      Transaction tx(*writer_, Transaction::Kind::write);
      bool all = true;
      for (Job* job : batch) {
        if (!job->run(*writer_)) {
          all = false;
          break;
        }
      }
      if (all) {
        tx.commit();
        return;
      }
    } catch (const DbError&) {
      // Rolled back (the transaction's destructor): each write is tried again on its own below,
      // where its own error, if it has one, becomes its result.
    }
  }
  for (Job* job : batch) alone(*job);
}

}  // namespace aas::store::sqlite::detail
