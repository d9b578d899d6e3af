#pragma once
// The key store's adapters: SQLite (the embedded default, a connection of its own to the service's
// database file) and PostgreSQL (production, a small pool of its own). Both read and write the
// service_keys table of migration 10, which store::Store::migrate() creates.
#include "keys/key_store.hpp"

#include <memory>
#include <string>

namespace aas::keys {

// Throws std::runtime_error when the database cannot be opened (a start-up error). `clock` must
// outlive the store.
std::unique_ptr<KeyStore> open_sqlite_key_store(const std::string& path, const Clock& clock);
std::unique_ptr<KeyStore> open_postgres_key_store(const std::string& url, const Clock& clock);

}  // namespace aas::keys
