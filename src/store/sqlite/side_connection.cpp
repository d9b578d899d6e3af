#include "store/sqlite/side_connection.hpp"

namespace aas::store::sqlite {

SideConnection::SideConnection(const std::string& path)
    : conn_(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX) {
  sqlite3_busy_timeout(conn_.handle(), detail::kBusyTimeoutMs);
}

Error SideConnection::db_failure(std::string_view op, const detail::DbError& e) {
  const int code = e.code() & 0xFF;
  const bool busy = code == SQLITE_BUSY || code == SQLITE_LOCKED || code == SQLITE_IOERR || code == SQLITE_FULL;
  return make_error(busy ? errc::unavailable : errc::internal, busy ? "database unavailable" : "internal error",
                    std::string(op) + ": " + e.what());
}

}  // namespace aas::store::sqlite
