#pragma once
// Private to the Store adapters: a small pool of database connections, opened on demand up to a
// maximum and kept for reuse. SQLite's readers and PostgreSQL's connections both use it.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace aas::store::detail {

template <class Conn>
class ConnectionPool {
 public:
  using Open = std::function<std::unique_ptr<Conn>()>;
  // Whether a connection handed back may serve again (false: it is closed and its slot freed).
  using Reusable = std::function<bool(const Conn&)>;

  ConnectionPool(std::size_t max, Open open, Reusable reusable = nullptr)
      : max_(max), open_(std::move(open)), reusable_(std::move(reusable)) {}
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // A connection lent to one thread; handed back when the lease dies.
  class Lease {
   public:
    Lease(ConnectionPool& pool, std::unique_ptr<Conn> c, bool reused) noexcept
        : pool_(&pool), conn_(std::move(c)), reused_(reused) {}
    Lease(Lease&& o) noexcept : pool_(o.pool_), conn_(std::move(o.conn_)), reused_(o.reused_) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (conn_) pool_->release(std::move(conn_));
    }
    Conn& operator*() const noexcept { return *conn_; }
    // The connection served earlier work (so it may have gone stale since).
    bool reused() const noexcept { return reused_; }

   private:
    ConnectionPool* pool_;
    std::unique_ptr<Conn> conn_;
    bool reused_;
  };

  // An idle connection, or a new one while fewer than `max` are open; otherwise waits for one to
  // come back, at most `timeout` when given (nullopt after it). Throws what `open` throws.
  std::optional<Lease> acquire(std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
    std::unique_lock lock(mu_);
    const auto ready = [&] { return !idle_.empty() || count_ < max_; };
    if (timeout) {
      if (!cv_.wait_for(lock, *timeout, ready)) return std::nullopt;
    } else {
      cv_.wait(lock, ready);
    }
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return Lease(*this, std::move(c), true);
    }
    ++count_;  // reserve the slot, then open outside the lock
    lock.unlock();
    try {
      return Lease(*this, open_(), false);
    } catch (...) {
      lock.lock();
      --count_;
      cv_.notify_one();
      throw;
    }
  }

  // Closes every idle connection (e.g. when one turned out dead: the others most likely died
  // with it).
  void drop_idle() {
    std::vector<std::unique_ptr<Conn>> dead;
    {
      std::lock_guard lock(mu_);
      dead.swap(idle_);
      count_ -= dead.size();
    }
    cv_.notify_all();
  }  // closed here, outside the lock

 private:
  void release(std::unique_ptr<Conn> c) {
    {
      std::lock_guard lock(mu_);
      if (!reusable_ || reusable_(*c))
        idle_.push_back(std::move(c));
      else
        --count_;
    }
    cv_.notify_one();
  }  // a connection not kept is closed here, outside the lock

  const std::size_t max_;
  const Open open_;
  const Reusable reusable_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Conn>> idle_;
  std::size_t count_ = 0;
};

}  // namespace aas::store::detail
