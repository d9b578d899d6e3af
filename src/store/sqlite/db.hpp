#pragma once
// Private to the SQLite adapter: thin RAII over the sqlite3 C API (connection, cached prepared
// statement, transaction). Not included outside src/store/sqlite/, except by the adapters of the
// ports beside store::Store (src/keys, src/webhooks), which reach it through side_connection.hpp.
#include "core/error.hpp"

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

namespace aas::store::sqlite::detail {

// How long a connection waits for a lock another one holds for a moment (a writer's commit, a
// connection recovering the WAL, a checkpoint) before SQLITE_BUSY: every connection of ours sets it.
inline constexpr int kBusyTimeoutMs = 5000;

// Thrown by these wrappers on any SQLite failure and caught at the Store boundary, where it
// becomes an Error; it never leaves the adapter. Exceptions keep every query a straight line of
// code, and they cost nothing unless the database actually fails.
class DbError : public std::runtime_error {
 public:
  DbError(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  int code() const noexcept { return code_; }  // extended result code, e.g. SQLITE_BUSY_SNAPSHOT

 private:
  int code_;
};

class Connection;

// A DbError as the Store's Error: failures of the database itself (busy, I/O, disk full, ...)
// are unavailable ("try again later"), anything else internal. `op` names the operation in the log.
Error db_error(std::string_view op, const DbError& e);

// A prepared statement borrowed from its connection's cache. Binds, steps, reads columns, and on
// destruction resets itself so it can be reused and does not pin a read snapshot (which would
// stall WAL checkpoints).
class Statement {
 public:
  Statement(Connection& conn, sqlite3_stmt* stmt) noexcept : conn_(&conn), stmt_(stmt) {}
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement(Statement&& o) noexcept : conn_(o.conn_), stmt_(o.stmt_) { o.stmt_ = nullptr; }
  Statement& operator=(Statement&&) = delete;
  ~Statement();

  // Parameters are 1-based, as in SQL (?1, ?2, ...).
  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, std::string_view value);
  Statement& bind(int index, const std::optional<std::string>& value);
  Statement& bind(int index, const std::optional<std::int64_t>& value);
  Statement& bind_null(int index);
  Statement& bind(int index, double value);
  // Bytes as a BLOB (kept as they are, NULs included).
  Statement& bind_blob(int index, std::string_view bytes);
  Statement& bind(int index, bool value) { return bind(index, std::int64_t{value ? 1 : 0}); }
  Statement& bind(int index, int value) { return bind(index, std::int64_t{value}); }
  Statement& bind(int index, const std::string& value) {
    return bind(index, std::string_view(value));
  }
  Statement& bind(int index, const char* value) { return bind(index, std::string_view(value)); }

  // Binds ?1..?N in order.
  template <class... Args>
  Statement& bind_all(const Args&... args) {
    int i = 0;
    (bind(++i, args), ...);
    return *this;
  }

  // true: a row is ready to read; false: the statement has finished.
  bool step();
  // Runs a statement that returns no rows.
  void run();

  bool is_null(int col) const noexcept;
  std::int64_t int64(int col) const noexcept;
  std::string text(int col) const;
  std::optional<std::string> optional_text(int col) const;
  std::optional<std::int64_t> optional_int64(int col) const noexcept;
  double real(int col) const noexcept;
  std::string blob(int col) const;

 private:
  [[noreturn]] void fail(int rc) const;
  void check_bind(int rc) const;

  Connection* conn_;
  sqlite3_stmt* stmt_;
};

// One sqlite3 connection and its statement cache. Not thread safe: the store hands each
// connection to one thread at a time.
class Connection {
 public:
  // Throws DbError when the file cannot be opened.
  Connection(const std::string& path, int flags);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  sqlite3* handle() const noexcept { return db_; }

  // Runs SQL without parameters or results (pragmas, migrations); may hold several statements.
  void exec(const std::string& sql);
  // A statement from the cache, prepared on first use. The SQL text is the cache key, so pass the
  // same constant every time rather than building SQL per call. One handle per SQL text: do not
  // hold two Statements of the same SQL at once.
  Statement prepare(std::string_view sql);
  // Rows changed by the last INSERT/UPDATE/DELETE (cascades not counted).
  std::int64_t changes() const noexcept;

  [[noreturn]] void fail(int rc) const;

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };

  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, sqlite3_stmt*, Hash, std::equal_to<>> cache_;
};

// BEGIN (deferred: a consistent read snapshot) or BEGIN IMMEDIATE (takes the write lock up front,
// so a write transaction never fails half way with SQLITE_BUSY). Rolls back unless committed.
class Transaction {
 public:
  enum class Kind { read, write };
  Transaction(Connection& conn, Kind kind);
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();
  void commit();

 private:
  Connection& conn_;
  bool done_ = false;
};

}  // namespace aas::store::sqlite::detail
