#pragma once
// Private to the SQLite adapters (the main store and the knowledge store): the connections of one
// database file and how a unit of work runs on them. One writer connection under a mutex (SQLite
// admits one writer at a time anyway, and queuing on a mutex is cheaper and fairer than connections
// retrying on SQLITE_BUSY) and a pool of read-only readers (WAL lets them run beside the writer).
#include "core/error.hpp"
#include "store/detail/group_commit.hpp"
#include "store/detail/pool.hpp"
#include "store/sqlite/checkpointer.hpp"
#include "store/sqlite/db.hpp"

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <span>
#include <string_view>
#include <utility>

namespace aas::store::sqlite::detail {

class Database {
 public:
  // Opens the writer now (throws DbError when the file cannot be opened or is not a database);
  // readers open on demand, up to `max_readers`.
  // `pragmas` run on every connection as it opens (an adapter's own tuning, e.g. the knowledge
  // store's memory map).
  // The WAL is checkpointed off the commit path once it holds `checkpoint_pages` pages
  // (store/sqlite/checkpointer.hpp).
  Database(const std::string& path, std::size_t max_readers, std::string pragmas = {},
           int checkpoint_pages = 1000);

  // Runs `f` on a reader connection (or on the writer, under its lock, for ":memory:", where
  // every connection would otherwise see its own empty database).
  template <class T, class F>
  Result<T> read(std::string_view op, F&& f) {
    try {
      if (in_memory_) {
        std::lock_guard lock(write_mu_);
        return f(*writer_);
      }
      auto lease = readers_.acquire();  // waits for a free reader: never empty
      return f(**lease);
    } catch (const DbError& e) {
      return db_error(op, e);
    }
  }

  // Runs `f` on the writer connection under its lock, without a transaction.
  template <class T, class F>
  Result<T> write_locked(std::string_view op, F&& f) {
    try {
      std::lock_guard lock(write_mu_);
      return f(*writer_);
    } catch (const DbError& e) {
      return db_error(op, e);
    }
  }

  // Runs `f` in a write transaction, committed when `f` succeeds and rolled back otherwise. The
  // transaction is shared with whatever other writes are waiting (group commit,
  // store/detail/group_commit.hpp): this returns once it is committed, never before.
  template <class T, class F>
  Result<T> write(std::string_view op, F&& f) {
    return group_.write<T>(op, std::forward<F>(f));
  }

  // The same without waiting: `done(Result<T>)` once committed (store/detail/group_commit.hpp,
  // write_then).
  template <class T, class F, class Done>
  void write_then(std::string_view op, F f, Done done) {
    group_.write_then<T>(op, std::move(f), std::move(done));
  }

  // Write batches run and writes in them so far.
  std::pair<std::size_t, std::size_t> write_batches() const { return group_.counts(); }
  // Checkpoints run off the commit path so far.
  int checkpoints() const { return checkpointer_.runs(); }

  bool in_memory() const noexcept { return in_memory_; }

 private:
  const bool in_memory_;
  std::mutex write_mu_;
  Checkpointer checkpointer_;  // outlives the writer, whose WAL hook points at it
  std::unique_ptr<Connection> writer_;
  store::detail::ConnectionPool<Connection> readers_;
  store::detail::GroupCommit<Connection> group_;

  using Job = store::detail::GroupCommit<Connection>::Job;
  void execute(std::span<Job* const> batch);
};

}  // namespace aas::store::sqlite::detail
