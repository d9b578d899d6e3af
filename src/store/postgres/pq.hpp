#pragma once
// Private to the PostgreSQL adapter: thin RAII over libpq (connection with a prepared-statement
// cache, result, transaction). Not included outside src/store/postgres/ (and its tests), except by
// the adapters of the ports beside store::Store (src/keys, src/webhooks), through side_pool.hpp.
//
// Every value travels as a parameter ($1, $2, ...) in text format, never spliced into SQL; results
// come back as text and are parsed here (BIGINT with from_chars).
#include "store/detail/text.hpp"

#include <charconv>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

struct pg_conn;
struct pg_result;

namespace aas::store::postgres::detail {

// Thrown by these wrappers on any failure and caught at the Store boundary, where it becomes an
// Error; it never leaves the adapter (the same pattern as the SQLite adapter's DbError).
class PgError : public std::runtime_error {
 public:
  PgError(std::string sqlstate, const std::string& what, bool connection_lost)
      : std::runtime_error(what), sqlstate_(std::move(sqlstate)), connection_lost_(connection_lost) {}
  // Five characters, e.g. "40P01" (deadlock); empty when the server sent none (connection errors).
  const std::string& sqlstate() const noexcept { return sqlstate_; }
  // The connection is gone (server restart, network, idle kill): it must not go back to the pool.
  bool connection_lost() const noexcept { return connection_lost_; }

 private:
  std::string sqlstate_;
  bool connection_lost_;
};

// Parameters, in order, as text (nullopt: SQL NULL).
class Params {
 public:
  Params& add(std::nullopt_t) {
    values_.emplace_back();
    return *this;
  }
  Params& add(std::string_view v) {
    if (v.find('\0') != std::string_view::npos) values_.emplace_back(::aas::store::detail::nul_free(v));
    else values_.emplace_back(std::string(v));
    return *this;
  }
  Params& add(const std::string& v) { return add(std::string_view(v)); }
  Params& add(const char* v) { return add(std::string_view(v)); }
  Params& add(std::int64_t v) {
    values_.emplace_back(std::to_string(v));
    return *this;
  }
  Params& add(int v) { return add(std::int64_t{v}); }
  Params& add(double v) {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest text that reads back the same
    values_.emplace_back(std::string(buf, r.ptr));
    return *this;
  }
  Params& add(bool v) {
    values_.emplace_back(v ? "t" : "f");
    return *this;
  }
  template <class T>
  Params& add(const std::optional<T>& v) {
    return v ? add(*v) : add(std::nullopt);
  }
  const std::vector<std::optional<std::string>>& values() const noexcept { return values_; }

 private:
  std::vector<std::optional<std::string>> values_;
};

// The rows of one statement. Columns are 0-based.
class Rows {
 public:
  explicit Rows(pg_result* r) noexcept : r_(r) {}
  Rows(const Rows&) = delete;
  Rows& operator=(const Rows&) = delete;
  Rows(Rows&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  Rows& operator=(Rows&&) = delete;
  ~Rows();

  int size() const noexcept;
  int columns() const noexcept;
  bool empty() const noexcept { return size() == 0; }
  // Rows changed by an INSERT/UPDATE/DELETE without RETURNING.
  std::int64_t affected() const;

  bool is_null(int row, int col) const noexcept;
  std::string text(int row, int col) const;
  std::optional<std::string> optional_text(int row, int col) const;
  std::int64_t int64(int row, int col) const;
  std::optional<std::int64_t> optional_int64(int row, int col) const;
  double real(int row, int col) const;

 private:
  pg_result* r_;
};

// One libpq connection and its prepared statements. Not thread safe: the pool lends each
// connection to one thread at a time.
class Connection {
 public:
  // `url`: postgresql://... or postgres://... (or a key=value conninfo). Throws PgError when the
  // server cannot be reached or refuses us.
  explicit Connection(const std::string& url);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Connected as far as libpq knows (a server gone quiet is only noticed on the next use) and
  // outside any transaction and any pipeline: fit to go back to the pool.
  bool reusable() const noexcept;

  // Runs SQL without parameters (BEGIN, migrations); may hold several statements.
  void exec(const std::string& sql);
  // Runs one statement with parameters. The statement is prepared on first use and kept by its
  // SQL text, so pass the same constant text every time rather than building SQL per call.
  Rows query(std::string_view sql, const Params& params = {});
  template <class... Args>
  Rows query_with(std::string_view sql, const Args&... args) {
    Params p;
    (p.add(args), ...);
    return query(sql, p);
  }

 private:
  [[noreturn]] void fail(pg_result* r, std::string_view what);
  // Takes ownership of `r`; throws (and frees it) unless it reports success.
  Rows check(pg_result* r, std::string_view what);

  friend class Pipeline;
  // The prepared statement's name for `sql`, and whether it still has to be prepared.
  std::pair<std::string, bool> statement_name(std::string_view sql);

  pg_conn* conn_ = nullptr;
  std::unordered_map<std::string, std::string> prepared_;  // SQL text -> statement name
  std::size_t statements_ = 0;                              // names handed out so far
  bool broken_ = false;  // left in an unknown state (a pipeline that failed half-way): not reusable
};

// Statements sent together without waiting for each other's results (libpq pipeline mode): the
// server runs them in order while the next ones are still on their way, and the results come back
// at sync() in one go. N statements cost one round trip instead of N. A statement's parameters
// must therefore not depend on an earlier statement's result; what it needs from earlier rows it
// reads in SQL. The connection is in non-blocking mode meanwhile and reads the server's results
// while it is still sending, so a large batch cannot fill both directions of the socket and hang.
//
// When a statement fails, the server skips the rest up to the sync; sync() then throws the first
// failure's PgError (an explicit transaction is left aborted: the caller rolls back). Leaving the
// scope leaves pipeline mode; a pipeline given up half-way (an exception while sending) marks the
// connection broken, so the pool closes it rather than reuse it in an unknown state.
class Pipeline {
 public:
  explicit Pipeline(Connection& conn);
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;
  ~Pipeline();

  // Queues one statement (prepared on first use, in the same pipeline); returns its ticket.
  std::size_t send(std::string_view sql, const Params& params = {});
  template <class... Args>
  std::size_t send_with(std::string_view sql, const Args&... args) {
    Params p;
    (p.add(args), ...);
    return send(sql, p);
  }
  // The name Connection uses, so that one function can write its statements either way (the
  // result here is a ticket).
  template <class... Args>
  std::size_t query_with(std::string_view sql, const Args&... args) {
    return send_with(sql, args...);
  }
  // Sends what is queued, waits for every result (throws the first failure) and leaves pipeline
  // mode; the results are then read by ticket.
  void sync();
  const Rows& result(std::size_t ticket) const { return results_.at(ticket); }
  std::size_t size() const noexcept { return executions_; }
  // Results read back so far (after a failed sync(): how far the server is known to have got).
  std::size_t received() const noexcept { return received_; }

 private:
  struct Expected {
    std::string prepare;  // non-empty: a prepare of this SQL text, whose result is not kept
    std::string name;
  };
  void flush();
  pg_result* next_result();

  Connection& conn_;
  std::vector<Expected> expected_;  // what each queued message answers, in order
  std::vector<Rows> results_;
  std::size_t executions_ = 0;  // statements queued (tickets handed out)
  std::size_t received_ = 0;
  bool done_ = false;
};

// BEGIN ... COMMIT; rolls back unless committed.
class Transaction {
 public:
  enum class Kind {
    write,  // READ COMMITTED (the default): writes lock the rows they change
    read,   // REPEATABLE READ READ ONLY: several statements from one snapshot
  };
  Transaction(Connection& conn, Kind kind);
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();
  void commit();

 private:
  Connection& conn_;
  bool done_ = false;
};

}  // namespace aas::store::postgres::detail
