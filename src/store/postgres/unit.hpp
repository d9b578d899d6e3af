#pragma once
// Private to the PostgreSQL adapters (the main store and the knowledge store): their pool, how a
// PgError becomes the Store's Error, and how a unit of work runs and is retried.
#include "core/error.hpp"
#include "store/detail/pool.hpp"
#include "store/postgres/pq.hpp"

#include <chrono>
#include <string>
#include <string_view>

namespace aas::store::postgres::detail {

using Pool = store::detail::ConnectionPool<Connection>;

inline constexpr auto kAcquireTimeout = std::chrono::milliseconds(10000);
// A unit of work that fails on a stale connection or loses a deadlock is tried again, this often
// at most in all.
inline constexpr int kMaxAttempts = 3;

// Failures of the database itself (unreachable, restarting, out of connections or disk, a
// statement timeout, a lost deadlock) are "try again later"; anything else is a bug or a broken
// schema.
inline bool is_unavailable(const PgError& e) {
  const std::string& s = e.sqlstate();
  if (e.connection_lost() || s.empty()) return true;
  const std::string_view cls = std::string_view(s).substr(0, 2);
  return cls == "08" || cls == "40" || cls == "53" || cls == "57" || cls == "58" || s == "55P03";
}

// Rolled back by the server and safe to run again from the start.
inline bool is_conflict(const PgError& e) { return e.sqlstate() == "40001" || e.sqlstate() == "40P01"; }

inline Error db_error(std::string_view op, const PgError& e) {
  std::string detail = std::string(op) + ": " + e.what();
  if (!e.sqlstate().empty()) detail += " (sqlstate " + e.sqlstate() + ")";
  if (is_unavailable(e)) return make_error(errc::unavailable, "database unavailable", std::move(detail));
  return make_error(errc::internal, "internal error", std::move(detail));
}

inline Pool::Lease acquire(Pool& pool) {
  auto lease = pool.acquire(kAcquireTimeout);
  if (!lease) throw PgError("53300", "no free database connection within 10 s", false);
  return std::move(*lease);
}

// How a unit of work runs: one statement on its own (autocommit), several from one snapshot, or a
// write transaction.
enum class Tx { none, read, write };

// Runs `f` on a pooled connection: on its own (Tx::none), in a read-only snapshot, or in a
// write transaction committed when `f` succeeds and rolled back otherwise. The work is run
// again from the start, on another connection, when
// - the connection turns out to have died while it sat in the pool (the server restarted or
//   dropped it): nothing of this attempt can have committed; or
// - the server rolled the transaction back to break a deadlock or a serialization conflict.
// Never when COMMIT itself failed: its outcome is then unknown.
template <class T, class F>
Result<T> run_unit(Pool& pool, std::string_view op, Tx kind, F&& f) {
  for (int attempt = 1;; ++attempt) {
    bool reused = false;
    bool committing = false;
    try {
      auto lease = acquire(pool);
      reused = lease.reused();
      Connection& c = *lease;
      if (kind == Tx::none) return f(c);
      Transaction tx(c, kind == Tx::read ? Transaction::Kind::read : Transaction::Kind::write);
      Result<T> r = f(c);
      if (r) {
        committing = true;
        tx.commit();
      }
      return r;
    } catch (const PgError& e) {
      if (e.connection_lost() && reused) pool.drop_idle();
      const bool again =
          attempt < kMaxAttempts && !committing && ((e.connection_lost() && reused) || is_conflict(e));
      if (!again) return db_error(op, e);
    }
  }
}

}  // namespace aas::store::postgres::detail
