#include "store/sqlite/checkpointer.hpp"

#include "store/sqlite/db.hpp"

#include <spdlog/spdlog.h>

#include <memory>

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

void Checkpointer::run() {
  std::unique_ptr<Connection> conn;
  try {
    conn = std::make_unique<Connection>(path_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX);
    // A connection learns that the file is in WAL mode when it first reads it; until then a
    // checkpoint does nothing.
    conn->exec("SELECT count(*) FROM sqlite_schema");
  } catch (const DbError& e) {
    // Without it the WAL grows until the last connection closes (which checkpoints it).
    spdlog::error("sqlite: the checkpointer cannot open {}: {}", path_, e.what());
    return;
  }
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait(lock, [this] { return due_ || stopping_; });
    if (stopping_) return;
    due_ = false;
    lock.unlock();
    int wal_pages = 0;
    int copied = 0;
    const int rc = sqlite3_wal_checkpoint_v2(conn->handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &wal_pages, &copied);
    // BUSY: another checkpoint (a closing connection's) is running; the next commit asks again.
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
      spdlog::warn("sqlite: checkpoint of {} failed: {}", path_, sqlite3_errstr(rc));
    lock.lock();
    ++runs_;
  }
}

}  // namespace aas::store::sqlite::detail
