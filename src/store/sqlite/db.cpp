#include "store/sqlite/db.hpp"

#include "store/detail/text.hpp"
#include "store/sqlite/frame_vfs.hpp"

namespace aas::store::sqlite::detail {

// --- Statement ---------------------------------------------------------------------------------

Statement::~Statement() {
  if (!stmt_) return;
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);  // no stale value can leak into the next use
}

void Statement::fail(int rc) const { conn_->fail(rc); }

void Statement::check_bind(int rc) const {
  if (rc != SQLITE_OK) fail(rc);
}

Statement& Statement::bind(int index, std::int64_t value) {
  check_bind(sqlite3_bind_int64(stmt_, index, value));
  return *this;
}

Statement& Statement::bind(int index, std::string_view value) {
  if (value.find('\0') != std::string_view::npos) {
    const std::string replaced = ::aas::store::detail::nul_free(value);
    return bind(index, std::string_view(replaced));  // copied by SQLite (SQLITE_TRANSIENT)
  }
  // SQLITE_TRANSIENT copies: callers may bind temporaries that die before step().
  check_bind(
      sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  return *this;
}

Statement& Statement::bind(int index, const std::optional<std::string>& value) {
  return value ? bind(index, std::string_view(*value)) : bind_null(index);
}

Statement& Statement::bind(int index, const std::optional<std::int64_t>& value) {
  return value ? bind(index, *value) : bind_null(index);
}

Statement& Statement::bind_null(int index) {
  check_bind(sqlite3_bind_null(stmt_, index));
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  fail(rc);
}

void Statement::run() {
  while (step()) {
  }
}

bool Statement::is_null(int col) const noexcept {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

std::int64_t Statement::int64(int col) const noexcept { return sqlite3_column_int64(stmt_, col); }

std::string Statement::text(int col) const {
  // text() before bytes(): the documented order that yields the UTF-8 length.
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  const int n = sqlite3_column_bytes(stmt_, col);
  return p ? std::string(p, static_cast<std::size_t>(n)) : std::string();
}

std::optional<std::string> Statement::optional_text(int col) const {
  if (is_null(col)) return std::nullopt;
  return text(col);
}

std::optional<std::int64_t> Statement::optional_int64(int col) const noexcept {
  if (is_null(col)) return std::nullopt;
  return int64(col);
}

double Statement::real(int col) const noexcept { return sqlite3_column_double(stmt_, col); }

std::string Statement::blob(int col) const {
  const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
  const int n = sqlite3_column_bytes(stmt_, col);
  return p ? std::string(p, static_cast<std::size_t>(n)) : std::string();
}

Statement& Statement::bind(int index, double value) {
  check_bind(sqlite3_bind_double(stmt_, index, value));
  return *this;
}

Statement& Statement::bind_blob(int index, std::string_view bytes) {
  check_bind(sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(), SQLITE_TRANSIENT));
  return *this;
}

// Failures of the database itself (locked past the busy timeout, I/O, disk full, unreadable file)
// are "try again later"; anything else is a bug or a broken schema.
Error db_error(std::string_view op, const DbError& e) {
  std::string detail =
      std::string(op) + ": " + e.what() + " (sqlite code " + std::to_string(e.code()) + ")";
  switch (e.code() & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PROTOCOL:
    case SQLITE_NOMEM:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_PERM:
      return make_error(errc::unavailable, "database unavailable", std::move(detail));
    default:
      return make_error(errc::internal, "internal error", std::move(detail));
  }
}

// --- Connection --------------------------------------------------------------------------------

Connection::Connection(const std::string& path, int flags) {
  install_frame_vfs();  // one write per WAL frame (frame_vfs.hpp)
  const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    // open_v2 hands back a handle even on failure (unless out of memory); it must be closed.
    const std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw DbError(rc, msg);
  }
  sqlite3_extended_result_codes(db_, 1);
}

Connection::~Connection() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

void Connection::fail(int rc) const {
  throw DbError(sqlite3_extended_errcode(db_) ? sqlite3_extended_errcode(db_) : rc,
                sqlite3_errmsg(db_));
}

void Connection::exec(const std::string& sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    const std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    throw DbError(sqlite3_extended_errcode(db_), msg);
  }
}

Statement Connection::prepare(std::string_view sql) {
  if (auto it = cache_.find(sql); it != cache_.end()) return Statement(*this, it->second);
  sqlite3_stmt* stmt = nullptr;
  // PERSISTENT: these statements live as long as the connection.
  const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) fail(rc);
  cache_.emplace(std::string(sql), stmt);
  return Statement(*this, stmt);
}

std::int64_t Connection::changes() const noexcept { return sqlite3_changes64(db_); }

// --- Transaction -------------------------------------------------------------------------------

Transaction::Transaction(Connection& conn, Kind kind) : conn_(conn) {
  conn_.prepare(kind == Kind::write ? "BEGIN IMMEDIATE" : "BEGIN").run();
}

Transaction::~Transaction() {
  // A failed COMMIT may already have rolled back; only roll back what is still open. Read
  // transactions end here too (for them ROLLBACK and COMMIT are the same). Errors are ignored:
  // there is nothing better to do with them in a destructor.
  if (done_ || sqlite3_get_autocommit(conn_.handle())) return;
  try {
    conn_.prepare("ROLLBACK").run();
  } catch (...) {
  }
}

void Transaction::commit() {
  conn_.prepare("COMMIT").run();
  done_ = true;
}

}  // namespace aas::store::sqlite::detail
