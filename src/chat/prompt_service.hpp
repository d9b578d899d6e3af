#pragma once
// The system-prompt library: each user's own prompts plus global ones that admins manage. Store
// work runs on the blocking pool.
#include "core/error.hpp"
#include "store/store.hpp"

#include <boost/asio/awaitable.hpp>

#include <string>
#include <string_view>

namespace boost::asio { class thread_pool; }

namespace aas::chat {

// Who asks: the store filters by user; global prompts are changed by admins only.
struct Caller {
  std::string user_id;
  bool is_admin = false;
};

class PromptService {
 public:
  template <class T>
  using Awaitable = boost::asio::awaitable<Result<T>>;

  PromptService(store::Store& store, boost::asio::thread_pool& blocking) : store_(store), blocking_(blocking) {}

  // global: a prompt for everyone (admins only: forbidden otherwise).
  Awaitable<domain::Prompt> create(Caller caller, std::string name, std::string content, bool global);
  Awaitable<domain::Prompt> get(Caller caller, std::string id);
  Awaitable<domain::Page<domain::Prompt>> list(Caller caller, domain::PageRequest page);
  // Another user's prompt is not_found; a global one is forbidden to non-admins.
  Awaitable<domain::Prompt> update(Caller caller, std::string id, domain::PromptPatch patch);
  Awaitable<void> remove(Caller caller, std::string id);

 private:
  // The owner argument of the store's update/delete for this prompt, after the access checks.
  // Blocking.
  Result<std::optional<std::string>> owner_for_change(const Caller& caller, std::string_view id);

  store::Store& store_;
  boost::asio::thread_pool& blocking_;
};

}  // namespace aas::chat
