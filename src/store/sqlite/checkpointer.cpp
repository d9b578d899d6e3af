#include "store/sqlite/checkpointer.hpp"

#include "store/sqlite/db.hpp"

#include <spdlog/spdlog.h>

#include <memory>
#include <utility>

namespace aas::store::sqlite::detail {

Checkpointer::Checkpointer(std::string path, int pages) : path_(std::move(path)), pages_(pages) {}

Checkpointer::~Checkpointer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void Checkpointer::attach(sqlite3* writer) { sqlite3_wal_hook(writer, &Checkpointer::on_commit, this); }

int Checkpointer::runs() const {
  std::lock_guard lock(mu_);
  return runs_;
}

// On the writer's thread, after each commit, with the WAL's size in pages.
int Checkpointer::on_commit(void* self, sqlite3*, const char*, int wal_pages) {
  auto* c = static_cast<Checkpointer*>(self);
  if (wal_pages < c->pages_) return SQLITE_OK;
  {
    std::lock_guard lock(c->mu_);
    if (c->stopping_) return SQLITE_OK;
    c->due_ = true;
    if (!c->thread_.joinable()) c->thread_ = std::thread([c] { c->run(); });
  }
  c->wake_.notify_one();
  return SQLITE_OK;
}

namespace {

std::unique_ptr<Connection> open_connection(const std::string& path) {
  auto conn = std::make_unique<Connection>(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX);
  sqlite3_busy_timeout(conn->handle(), kBusyTimeoutMs);
  // A connection learns that the file is in WAL mode when it first reads it; until then a
  // checkpoint does nothing.
  conn->exec("SELECT count(*) FROM sqlite_schema");
  return conn;
}

}  // namespace

void Checkpointer::run() {
  std::unique_ptr<Connection> conn;
  bool reported = false;
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait(lock, [this] { return due_ || stopping_; });
    if (stopping_) return;
    due_ = false;
    lock.unlock();
    if (!conn) {
      try {
        conn = open_connection(path_);
      } catch (const DbError& e) {
        // Tried again when the next commit finds the WAL past the threshold; until one succeeds
        // the WAL grows (the last connection to close checkpoints it). Said once, not per commit.
        if (!std::exchange(reported, true))
          spdlog::error("sqlite: the checkpointer cannot open {}: {}", path_, e.what());
      }
    }
    if (conn) {
      int wal_pages = 0;
      int copied = 0;
      const int rc = sqlite3_wal_checkpoint_v2(conn->handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &wal_pages, &copied);
      // BUSY: another checkpoint (a closing connection's) is running; the next commit asks again.
      if (rc != SQLITE_OK && rc != SQLITE_BUSY)
        spdlog::warn("sqlite: checkpoint of {} failed: {}", path_, sqlite3_errstr(rc));
    }
    lock.lock();
    if (conn) ++runs_;
  }
}

}  // namespace aas::store::sqlite::detail
