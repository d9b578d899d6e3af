#pragma once
// The users' limit overrides (PUT /api/ai/admin/limits/:userId), kept in process so that admitting
// a call reads nothing from the store (issue 16: the read was a transaction, its WAL locks and a
// reader connection on every chat turn and gateway call; an override changes rarely, a user calls
// often).
//
// A user's entry is loaded on first use and dropped when the override changes: at once by the
// replica that changed it (forget), and by every other replica when the event bus brings the
// change (kOverrideChangedEvent). The bus delivers at most once, so an entry also expires after
// `max_age`: a replica that missed an event serves the old override that long at most.
#include "core/error.hpp"
#include "domain/usage.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace aas::limits {

// The event bus's notice that a user's override changed (Event::user_id names the user).
inline constexpr std::string_view kOverrideChangedEvent = "limits.changed";

class OverrideCache {
 public:
  using Override = std::optional<domain::LimitOverride>;
  using Loader = std::function<Result<Override>(std::string_view user)>;
  using Now = std::function<std::chrono::steady_clock::time_point()>;

  explicit OverrideCache(Loader load, std::chrono::milliseconds max_age = std::chrono::seconds(30),
                         Now now = &std::chrono::steady_clock::now, std::size_t max_users = 100'000);

  // The user's override (nullopt: none): from memory, else loaded, which reads the store (call it
  // on the blocking pool). A failed load is returned and not kept.
  Result<Override> get(std::string_view user);
  // The user's override when it is in memory and fresh, without loading it: nullopt otherwise.
  std::optional<Override> peek(std::string_view user);

  // The user's override changed (or may have): the next get() loads it again.
  void forget(std::string_view user);

 private:
  struct Entry {
    Override value;
    std::chrono::steady_clock::time_point loaded;
  };
  const Loader load_;
  const std::chrono::milliseconds max_age_;
  const Now now_;
  const std::size_t max_users_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  // Moves at every forget: a load that began before a change and ended after it is not kept,
  // so it cannot put the old override back.
  std::uint64_t generation_ = 0;
};

}  // namespace aas::limits
