#include "store/postgres/pq.hpp"

#include <libpq-fe.h>

#include <charconv>

namespace aas::store::postgres::detail {

namespace {

std::string trimmed(const char* s) {
  std::string out = s ? s : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// Class 08 (connection exception) and the server shutting down or restarting (57P01..57P03):
// the session is gone whatever libpq's status says.
bool session_lost(pg_conn* conn, std::string_view sqlstate) {
  return PQstatus(conn) == CONNECTION_BAD || sqlstate.starts_with("08") || sqlstate == "57P01" ||
         sqlstate == "57P02" || sqlstate == "57P03";
}

}  // namespace

// --- Rows --------------------------------------------------------------------------------------

Rows::~Rows() { PQclear(r_); }

int Rows::size() const noexcept { return PQntuples(r_); }
int Rows::columns() const noexcept { return PQnfields(r_); }

std::int64_t Rows::affected() const {
  const char* n = PQcmdTuples(r_);
  std::int64_t v = 0;
  if (n && *n) std::from_chars(n, n + std::char_traits<char>::length(n), v);
  return v;
}

bool Rows::is_null(int row, int col) const noexcept { return PQgetisnull(r_, row, col) == 1; }

std::string Rows::text(int row, int col) const {
  return std::string(PQgetvalue(r_, row, col), static_cast<std::size_t>(PQgetlength(r_, row, col)));
}

std::optional<std::string> Rows::optional_text(int row, int col) const {
  if (is_null(row, col)) return std::nullopt;
  return text(row, col);
}

std::int64_t Rows::int64(int row, int col) const {
  const char* p = PQgetvalue(r_, row, col);
  const char* end = p + PQgetlength(r_, row, col);
  std::int64_t v = 0;
  const auto [ptr, ec] = std::from_chars(p, end, v);
  // The schema makes every integer column BIGINT; anything else is a bug in a query.
  if (ec != std::errc() || ptr != end)
    throw PgError("", "column " + std::to_string(col) + " is not an integer: '" + std::string(p, end) + "'",
                  false);
  return v;
}

std::optional<std::int64_t> Rows::optional_int64(int row, int col) const {
  if (is_null(row, col)) return std::nullopt;
  return int64(row, col);
}

double Rows::real(int row, int col) const {
  const char* p = PQgetvalue(r_, row, col);
  const char* end = p + PQgetlength(r_, row, col);
  double v = 0;
  const auto [ptr, ec] = std::from_chars(p, end, v);
  if (ec != std::errc() || ptr != end)
    throw PgError("", "column " + std::to_string(col) + " is not a number: '" + std::string(p, end) + "'", false);
  return v;
}

// --- Connection --------------------------------------------------------------------------------

Connection::Connection(const std::string& url) {
  // Defaults first: values from the URL (expanded from dbname) override them.
  const char* keys[] = {"connect_timeout", "application_name", "client_encoding", "dbname", nullptr};
  const char* values[] = {"5", "ai-agent-service", "UTF8", url.c_str(), nullptr};
  conn_ = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (!conn_) throw PgError("", "out of memory", true);
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string msg = trimmed(PQerrorMessage(conn_));
    PQfinish(conn_);
    conn_ = nullptr;
    throw PgError("", msg, true);
  }
  // NOTICEs ("relation already exists, skipping") would go to stderr; nothing here needs them.
  PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
  // Plan every execution of a prepared statement for the table as it is now. After five runs the
  // server may otherwise settle on a generic plan made while a table was small (a new database:
  // a sequential scan is cheapest there) and keep it on this long-lived connection as the table
  // grows: measured as chat turns falling from 1,300/s to 700/s within 15 s, every backend busy
  // in `UPDATE conversations ... WHERE id = $1`. Planning these short statements costs little.
  try {
    exec("SET plan_cache_mode = force_custom_plan");
  } catch (...) {
    PQfinish(conn_);
    conn_ = nullptr;
    throw;
  }
}

Connection::~Connection() { PQfinish(conn_); }

bool Connection::reusable() const noexcept {
  return PQstatus(conn_) == CONNECTION_OK && PQtransactionStatus(conn_) == PQTRANS_IDLE;
}

void Connection::fail(pg_result* r, std::string_view what) {
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  std::string sqlstate = state ? state : "";
  std::string msg = trimmed(r && *PQresultErrorMessage(r) ? PQresultErrorMessage(r) : PQerrorMessage(conn_));
  PQclear(r);
  const bool lost = session_lost(conn_, sqlstate);
  throw PgError(std::move(sqlstate), std::string(what) + ": " + msg, lost);
}

Rows Connection::check(pg_result* r, std::string_view what) {
  const auto status = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) fail(r, what);
  return Rows(r);
}

void Connection::exec(const std::string& sql) { check(PQexec(conn_, sql.c_str()), "exec"); }

Rows Connection::query(std::string_view sql, const Params& params) {
  auto it = prepared_.find(std::string(sql));
  if (it == prepared_.end()) {
    std::string name = "aas_" + std::to_string(prepared_.size() + 1);
    const std::string text(sql);
    // Parameter types are inferred by the server from where they are used.
    check(PQprepare(conn_, name.c_str(), text.c_str(), 0, nullptr), "prepare");
    it = prepared_.emplace(text, std::move(name)).first;
  }
  std::vector<const char*> values;
  values.reserve(params.values().size());
  for (const auto& v : params.values()) values.push_back(v ? v->c_str() : nullptr);
  return check(PQexecPrepared(conn_, it->second.c_str(), static_cast<int>(values.size()),
                              values.data(), nullptr, nullptr, /*resultFormat=text*/ 0),
               "query");
}

// --- Transaction -------------------------------------------------------------------------------

Transaction::Transaction(Connection& conn, Kind kind) : conn_(conn) {
  conn_.exec(kind == Kind::write ? "BEGIN" : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
}

Transaction::~Transaction() {
  if (done_) return;
  // Errors are ignored: a connection that cannot roll back is not reusable() and gets dropped.
  try {
    conn_.exec("ROLLBACK");
  } catch (...) {
  }
}

void Transaction::commit() {
  done_ = true;  // whatever happens now, there is nothing left to roll back
  conn_.exec("COMMIT");
}

}  // namespace aas::store::postgres::detail
