#pragma once
// For the ports beside store::Store whose adapters read one kind of record (service keys, webhook
// endpoints): the same SQL run on SQLite (a connection of its own) or PostgreSQL (a pool of its
// own), each row read by `Read` — a functor with `template <class Row> T operator()(const Row&)`,
// where a Row has text, int64, flag, optional_int64 and optional_text by column. The SQL is
// written once with SQLite's numbered parameters (?1); the PostgreSQL side spells them $1.
#include "store/postgres/side_pool.hpp"
#include "store/sqlite/side_connection.hpp"

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aas::store {

template <class T, class Read>
class SqliteRecords {
 public:
  explicit SqliteRecords(const std::string& path) : db_(path) {}

  template <class... Args>
  Result<std::vector<T>> rows(std::string_view op, std::string_view sql, const Args&... args) {
    return db_.template run<std::vector<T>>(op, [&](sqlite::detail::Connection& c) -> Result<std::vector<T>> {
      auto st = c.prepare(sql);
      st.bind_all(args...);
      std::vector<T> out;
      while (st.step()) out.push_back(Read{}(Row{st}));  // to the end: a write commits when done
      return out;
    });
  }

 private:
  struct Row {
    sqlite::detail::Statement& st;
    std::string text(int c) const { return st.text(c); }
    std::int64_t int64(int c) const { return st.int64(c); }
    bool flag(int c) const { return st.int64(c) != 0; }
    std::optional<std::int64_t> optional_int64(int c) const { return st.optional_int64(c); }
    std::optional<std::string> optional_text(int c) const { return st.optional_text(c); }
  };
  sqlite::SideConnection db_;
};

template <class T, class Read>
class PostgresRecords {
 public:
  explicit PostgresRecords(const std::string& url, std::size_t connections = 2) : db_(url, connections) {}

  template <class... Args>
  Result<std::vector<T>> rows(std::string_view op, std::string_view sql, const Args&... args) {
    std::string pg(sql);
    std::replace(pg.begin(), pg.end(), '?', '$');  // ?1 -> $1 (the SQL has no other '?')
    return db_.template run<std::vector<T>>(op, [&](postgres::detail::Connection& c) -> Result<std::vector<T>> {
      const postgres::detail::Rows rows = c.query_with(pg, args...);
      std::vector<T> out;
      for (int i = 0; i < rows.size(); ++i) out.push_back(Read{}(Row{rows, i}));
      return out;
    });
  }

 private:
  struct Row {
    const postgres::detail::Rows& rows;
    int i;
    std::string text(int c) const { return rows.text(i, c); }
    std::int64_t int64(int c) const { return rows.int64(i, c); }
    bool flag(int c) const { return rows.text(i, c) == "t"; }
    std::optional<std::int64_t> optional_int64(int c) const { return rows.optional_int64(i, c); }
    std::optional<std::string> optional_text(int c) const { return rows.optional_text(i, c); }
  };
  postgres::SidePool db_;
};

}  // namespace aas::store
