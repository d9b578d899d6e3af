#include "store/postgres/pq.hpp"

#include "core/shared_library.hpp"

#include <libpq-fe.h>

#include <poll.h>

#include <algorithm>
#include <charconv>
#include <optional>

namespace aas::store::postgres::detail {

namespace {

// libpq is opened on the first PostgreSQL connection instead of being linked (core/shared_library.hpp):
// through its LDAP and Kerberos support it drags in GnuTLS, krb5, OpenLDAP, SASL and p11-kit, ~3.4 MiB
// of resident pages and ~20 shared objects relocated at every start, which a service on SQLite (the
// embedded default) never uses.
#define AAS_LIBPQ_FUNCTIONS \
  X(PQclear) \
  X(PQcmdTuples) \
  X(PQconnectdbParams) \
  X(PQconsumeInput) \
  X(PQenterPipelineMode) \
  X(PQerrorMessage) \
  X(PQexec) \
  X(PQexecPrepared) \
  X(PQexitPipelineMode) \
  X(PQfinish) \
  X(PQflush) \
  X(PQgetResult) \
  X(PQgetisnull) \
  X(PQgetlength) \
  X(PQgetvalue) \
  X(PQisBusy) \
  X(PQnfields) \
  X(PQntuples) \
  X(PQpipelineStatus) \
  X(PQpipelineSync) \
  X(PQprepare) \
  X(PQresultErrorField) \
  X(PQresultErrorMessage) \
  X(PQresultStatus) \
  X(PQsendPrepare) \
  X(PQsendQueryPrepared) \
  X(PQsetNoticeProcessor) \
  X(PQsetnonblocking) \
  X(PQsocket) \
  X(PQstatus) \
  X(PQtransactionStatus)

struct Libpq {
#define X(name) decltype(&::name) name;
  AAS_LIBPQ_FUNCTIONS
#undef X
};

// Every libpq call goes through here; the first one loads the library (a throw leaves the static
// uninitialised, so a later connection tries again).
const Libpq& libpq() {
  static const Libpq lib = [] {
    try {
      const core::SharedLibrary so(AAS_LIBPQ_SONAME, "libpq5");
#define X(name) so.symbol<decltype(&::name)>(#name),
      return Libpq{AAS_LIBPQ_FUNCTIONS};
#undef X
    } catch (const core::LibraryUnavailable& e) {
      throw PgError("", e.what(), true);
    }
  }();
  return lib;
}

}  // namespace

namespace {

std::string trimmed(const char* s) {
  std::string out = s ? s : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// Class 08 (connection exception) and the server shutting down or restarting (57P01..57P03):
// the session is gone whatever libpq's status says.
bool session_lost(pg_conn* conn, std::string_view sqlstate) {
  return libpq().PQstatus(conn) == CONNECTION_BAD || sqlstate.starts_with("08") || sqlstate == "57P01" ||
         sqlstate == "57P02" || sqlstate == "57P03";
}

// A step of the pipeline that libpq refused, with libpq's words (there is no SQLSTATE): one place
// builds the message for every step.
[[noreturn]] void step_failed(pg_conn* conn, std::string_view step, bool lost) {
  throw PgError("", std::string(step) + ": " + trimmed(libpq().PQerrorMessage(conn)), lost);
}

}  // namespace

// --- Rows --------------------------------------------------------------------------------------

Rows::~Rows() { libpq().PQclear(r_); }

int Rows::size() const noexcept { return libpq().PQntuples(r_); }
int Rows::columns() const noexcept { return libpq().PQnfields(r_); }

std::int64_t Rows::affected() const {
  const char* n = libpq().PQcmdTuples(r_);
  std::int64_t v = 0;
  if (n && *n) std::from_chars(n, n + std::char_traits<char>::length(n), v);
  return v;
}

bool Rows::is_null(int row, int col) const noexcept { return libpq().PQgetisnull(r_, row, col) == 1; }

std::string Rows::text(int row, int col) const {
  return std::string(libpq().PQgetvalue(r_, row, col), static_cast<std::size_t>(libpq().PQgetlength(r_, row, col)));
}

std::optional<std::string> Rows::optional_text(int row, int col) const {
  if (is_null(row, col)) return std::nullopt;
  return text(row, col);
}

std::int64_t Rows::int64(int row, int col) const {
  const char* p = libpq().PQgetvalue(r_, row, col);
  const char* end = p + libpq().PQgetlength(r_, row, col);
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
  const char* p = libpq().PQgetvalue(r_, row, col);
  const char* end = p + libpq().PQgetlength(r_, row, col);
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
  conn_ = libpq().PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (!conn_) throw PgError("", "out of memory", true);
  if (libpq().PQstatus(conn_) != CONNECTION_OK) {
    std::string msg = trimmed(libpq().PQerrorMessage(conn_));
    libpq().PQfinish(conn_);
    conn_ = nullptr;
    throw PgError("", msg, true);
  }
  // NOTICEs ("relation already exists, skipping") would go to stderr; nothing here needs them.
  libpq().PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
  // Plan every execution of a prepared statement for the table as it is now. After five runs the
  // server may otherwise settle on a generic plan made while a table was small (a new database:
  // a sequential scan is cheapest there) and keep it on this long-lived connection as the table
  // grows: measured as chat turns falling from 1,300/s to 700/s within 15 s, every backend busy
  // in `UPDATE conversations ... WHERE id = $1`. Planning these short statements costs little.
  try {
    exec("SET plan_cache_mode = force_custom_plan");
  } catch (...) {
    libpq().PQfinish(conn_);
    conn_ = nullptr;
    throw;
  }
}

Connection::~Connection() { libpq().PQfinish(conn_); }

bool Connection::reusable() const noexcept {
  return !broken_ && libpq().PQstatus(conn_) == CONNECTION_OK && libpq().PQtransactionStatus(conn_) == PQTRANS_IDLE &&
         libpq().PQpipelineStatus(conn_) == PQ_PIPELINE_OFF;
}

std::pair<std::string, bool> Connection::statement_name(std::string_view sql) {
  if (auto it = prepared_.find(std::string(sql)); it != prepared_.end()) return {it->second, false};
  return {"aas_" + std::to_string(++statements_), true};
}

void Connection::fail(pg_result* r, std::string_view what) {
  const char* state = r ? libpq().PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  std::string sqlstate = state ? state : "";
  std::string msg = trimmed(r && *libpq().PQresultErrorMessage(r) ? libpq().PQresultErrorMessage(r) : libpq().PQerrorMessage(conn_));
  libpq().PQclear(r);
  const bool lost = session_lost(conn_, sqlstate);
  throw PgError(std::move(sqlstate), std::string(what) + ": " + msg, lost);
}

Rows Connection::check(pg_result* r, std::string_view what) {
  const auto status = r ? libpq().PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) fail(r, what);
  return Rows(r);
}

void Connection::exec(const std::string& sql) { check(libpq().PQexec(conn_, sql.c_str()), "exec"); }

namespace {
std::vector<const char*> c_values(const Params& params) {
  std::vector<const char*> values;
  values.reserve(params.values().size());
  for (const auto& v : params.values()) values.push_back(v ? v->c_str() : nullptr);
  return values;
}
}  // namespace

Rows Connection::query(std::string_view sql, const Params& params) {
  auto [name, fresh] = statement_name(sql);
  if (fresh) {
    // Parameter types are inferred by the server from where they are used.
    check(libpq().PQprepare(conn_, name.c_str(), std::string(sql).c_str(), 0, nullptr), "prepare");
    prepared_.emplace(std::string(sql), name);
  }
  const std::vector<const char*> values = c_values(params);
  return check(libpq().PQexecPrepared(conn_, name.c_str(), static_cast<int>(values.size()), values.data(), nullptr,
                              nullptr, /*resultFormat=text*/ 0),
               "query");
}

// --- Pipeline ----------------------------------------------------------------------------------

namespace {
// How long a pipeline waits for the server to take its statements or send its results: far beyond
// any healthy batch; a server that stops answering makes the connection broken, not the writer stuck.
constexpr int kPipelineWaitMs = 60000;
}  // namespace

Pipeline::Pipeline(Connection& conn) : conn_(conn) {
  if (libpq().PQenterPipelineMode(conn_.conn_) != 1 || libpq().PQsetnonblocking(conn_.conn_, 1) != 0) {
    conn_.broken_ = true;
    step_failed(conn_.conn_, "cannot enter pipeline mode", true);
  }
}

Pipeline::~Pipeline() {
  if (done_) return;
  // Given up half-way: results may still be on their way, so the connection's state is unknown.
  conn_.broken_ = true;
}

std::size_t Pipeline::send(std::string_view sql, const Params& params) {
  auto [name, fresh] = conn_.statement_name(sql);
  pg_conn* pc = conn_.conn_;
  if (fresh) {
    // Known as prepared only once the server said so (sync); until then, by name in this pipeline.
    const bool queued_before = std::any_of(expected_.begin(), expected_.end(),
                                           [&](const Expected& e) { return e.prepare == sql; });
    if (queued_before) {
      for (const Expected& e : expected_)
        if (e.prepare == sql) name = e.name;
    } else {
      if (libpq().PQsendPrepare(pc, name.c_str(), std::string(sql).c_str(), 0, nullptr) != 1)
        step_failed(pc, "prepare", libpq().PQstatus(pc) == CONNECTION_BAD);
      expected_.push_back({std::string(sql), name});
    }
  }
  const std::vector<const char*> values = c_values(params);
  if (libpq().PQsendQueryPrepared(pc, name.c_str(), static_cast<int>(values.size()), values.data(), nullptr, nullptr, 0) !=
      1)
    step_failed(pc, "query", libpq().PQstatus(pc) == CONNECTION_BAD);
  expected_.push_back({{}, name});
  flush();
  return executions_++;
}

// Pushes libpq's output buffer to the server; while the socket is full, reads what the server sends
// back (into libpq's input buffer), so the server never blocks on a client that only writes.
void Pipeline::flush() {
  pg_conn* pc = conn_.conn_;
  for (;;) {
    const int f = libpq().PQflush(pc);
    if (f == 0) return;
    if (f < 0) step_failed(pc, "send", true);
    pollfd p{libpq().PQsocket(pc), POLLIN | POLLOUT, 0};
    if (::poll(&p, 1, kPipelineWaitMs) <= 0) throw PgError("08006", "send: the server stopped reading", true);
    if ((p.revents & POLLIN) && libpq().PQconsumeInput(pc) != 1) step_failed(pc, "receive", true);
  }
}

pg_result* Pipeline::next_result() {
  pg_conn* pc = conn_.conn_;
  while (libpq().PQisBusy(pc)) {
    pollfd p{libpq().PQsocket(pc), POLLIN, 0};
    if (::poll(&p, 1, kPipelineWaitMs) <= 0) throw PgError("08006", "receive: the server stopped answering", true);
    if (libpq().PQconsumeInput(pc) != 1) step_failed(pc, "receive", true);
  }
  return libpq().PQgetResult(pc);
}

void Pipeline::sync() {
  pg_conn* pc = conn_.conn_;
  if (libpq().PQpipelineSync(pc) != 1) step_failed(pc, "sync", true);
  flush();
  // One result per queued message, each followed by a null, then the sync's own result. The first
  // failure is kept and thrown once everything up to the sync has been read.
  std::optional<PgError> failure;
  std::size_t i = 0;
  bool after_null = false;
  for (;;) {
    pg_result* r = next_result();
    if (!r) {
      // Ends one message's results; two in a row would mean libpq has nothing more to give.
      if (std::exchange(after_null, true)) throw PgError("", "pipeline: results ended before the sync", true);
      continue;
    }
    after_null = false;
    const auto status = libpq().PQresultStatus(r);
    if (status == PGRES_PIPELINE_SYNC) {
      libpq().PQclear(r);
      break;
    }
    if (i == expected_.size()) {
      libpq().PQclear(r);
      throw PgError("", "pipeline: more results than statements", true);
    }
    const Expected& e = expected_[i++];
    ++received_;
    const bool ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
    if (!ok && !failure && status != PGRES_PIPELINE_ABORTED) {
      const char* state = libpq().PQresultErrorField(r, PG_DIAG_SQLSTATE);
      std::string sqlstate = state ? state : "";
      const bool lost = session_lost(pc, sqlstate);
      failure.emplace(std::move(sqlstate), "pipeline: " + trimmed(libpq().PQresultErrorMessage(r)), lost);
    }
    if (!e.prepare.empty()) {
      if (ok) conn_.prepared_.emplace(e.prepare, e.name);
      libpq().PQclear(r);
    } else {
      results_.emplace_back(r);
    }
  }
  if (i != expected_.size()) throw PgError("", "pipeline: fewer results than statements", true);
  if (libpq().PQexitPipelineMode(pc) != 1 || libpq().PQsetnonblocking(pc, 0) != 0)
    step_failed(pc, "cannot leave pipeline mode", true);
  done_ = true;
  if (failure) throw *failure;
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
