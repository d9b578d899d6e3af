#pragma once
#include <chrono>
#include <string>

namespace aas {

// A new UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then random bits, so ids sort by creation
// time. That ordering is what cursor pagination and the store's indexes rely on.
// Hand-written because Boost 1.81's Boost.UUID predates version 7.
std::string new_uuid_v7();
std::string new_uuid_v7(std::chrono::system_clock::time_point at);

// True for a canonical lowercase-or-uppercase 8-4-4-4-12 hex UUID string.
bool is_uuid(std::string_view s) noexcept;

}  // namespace aas
