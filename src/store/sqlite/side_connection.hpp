#pragma once
// For the store ports beside store::Store (service keys, webhook deliveries): a connection of
// their own to the service's SQLite file, under a mutex. WAL lets it read beside the main store; a
// write waits for the main store's writer through the busy timeout. These ports do little work
// (a key read once before it is cached, a delivery queued per event), so one connection is plenty.
#include "core/error.hpp"
#include "store/sqlite/db.hpp"

#include <mutex>
#include <string>
#include <string_view>

namespace aas::store::sqlite {

class SideConnection {
 public:
  // Throws detail::DbError when the file cannot be opened (a start-up error).
  explicit SideConnection(const std::string& path);

  // Runs `f(connection)` under the mutex; a database failure becomes unavailable (busy, I/O, full)
  // or internal, with `op` in the log detail.
  template <class T, class F>
  Result<T> run(std::string_view op, F&& f) {
    const std::lock_guard lock(mu_);
    try {
      return f(conn_);
    } catch (const detail::DbError& e) {
      return db_failure(op, e);
    }
  }

 private:
  static Error db_failure(std::string_view op, const detail::DbError& e);
  std::mutex mu_;
  detail::Connection conn_;
};

}  // namespace aas::store::sqlite
