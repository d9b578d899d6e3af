#pragma once
// A database of its own on the PostgreSQL test server named by AAS_TEST_POSTGRES_URL (started by
// scripts/with-postgres.sh under ctest), for the suites that run on a real server: the store's
// conformance suite and the other ports' adapters (keys, webhooks).
#include "store/postgres/pq.hpp"

#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace aas::testing {

inline std::optional<std::string> server_url() {
  const char* url = std::getenv("AAS_TEST_POSTGRES_URL");
  if (!url || !*url) return std::nullopt;
  return std::string(url);
}

inline bool skip_requested() {
  const char* skip = std::getenv("AAS_SKIP_POSTGRES");
  return skip && std::string_view(skip) == "1";
}

// The same server as `url`, database `name`.
inline std::string with_database(const std::string& url, const std::string& name) {
  const auto authority = url.find("://");
  if (authority == std::string::npos) throw std::runtime_error("AAS_TEST_POSTGRES_URL is not a URL");
  const auto path = url.find('/', authority + 3);
  const auto query = url.find('?', authority + 3);
  if (path == std::string::npos || (query != std::string::npos && query < path))
    return url.substr(0, query) + "/" + name + (query == std::string::npos ? "" : url.substr(query));
  return url.substr(0, path + 1) + name + (query == std::string::npos ? "" : url.substr(query));
}

// A database of its own on the test server, dropped (connections and all) when destroyed.
class TestDatabase {
 public:
  explicit TestDatabase(std::string server) : server_(std::move(server)) {
    unsigned char raw[8];
    if (RAND_bytes(raw, sizeof raw) != 1) throw std::runtime_error("RAND_bytes failed");
    name_ = "aas_test_";
    for (unsigned char b : raw) {
      static constexpr char hex[] = "0123456789abcdef";
      name_ += hex[b >> 4];
      name_ += hex[b & 15];
    }
    // An identifier cannot be a parameter; this one is ours (letters, digits, underscores).
    store::postgres::detail::Connection(server_).exec("CREATE DATABASE " + name_);
    url_ = with_database(server_, name_);
  }
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;
  ~TestDatabase() {
    try {
      store::postgres::detail::Connection(server_).exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "cannot drop test database %s: %s\n", name_.c_str(), e.what());
    }
  }
  const std::string& url() const { return url_; }
  const std::string& name() const { return name_; }

 private:
  std::string server_;
  std::string name_;
  std::string url_;
};

}  // namespace aas::testing
