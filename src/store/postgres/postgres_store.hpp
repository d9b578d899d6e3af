#pragma once
// The PostgreSQL adapter of the Store port: production mode (DATABASE_URL=postgresql://...),
// shared by every replica of the service.
#include "store/store.hpp"

#include <memory>
#include <string>

namespace aas::store::postgres {

// True for the URLs this adapter takes: postgresql://... and postgres://...
bool is_postgres_url(std::string_view url) noexcept;

// The URL with its password (user:PASSWORD@ or ?password=) replaced by ***, for logs and errors.
std::string redact_url(std::string_view url);

// Connects to the database at `url` (libpq's URI syntax: postgresql://user:pw@host:port/db?...).
// Keeps a small pool of connections, opened on demand. Does not migrate: the caller runs migrate()
// at start-up or through the `migrate` command. `clock` must outlive the store.
// Throws std::runtime_error (naming the server, never the password) when the first connection
// fails: a start-up error.
std::unique_ptr<Store> open_postgres_store(const std::string& url, const Clock& clock);

}  // namespace aas::store::postgres
