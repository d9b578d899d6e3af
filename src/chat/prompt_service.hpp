#pragma once
// The system-prompt library: each user's own prompts plus global ones that admins manage.
// Blocking (it calls the store directly); callers run it on the blocking pool.
#include "core/error.hpp"
#include "store/store.hpp"

#include <string>
#include <string_view>

namespace aas::chat {

// Who asks: the store filters by user; global prompts are changed by admins only.
struct Caller {
  std::string user_id;
  bool is_admin = false;
};

class PromptService {
 public:
  explicit PromptService(store::Store& store) : store_(store) {}

  // global: a prompt for everyone (admins only: forbidden otherwise).
  Result<store::Prompt> create(const Caller& caller, std::string name, std::string content, bool global);
  Result<store::Prompt> get(const Caller& caller, std::string_view id);
  Result<store::Page<store::Prompt>> list(const Caller& caller, const store::PageRequest& page);
  // Another user's prompt is not_found; a global one is forbidden to non-admins.
  Result<store::Prompt> update(const Caller& caller, std::string_view id, const store::PromptPatch& patch);
  Result<void> remove(const Caller& caller, std::string_view id);

 private:
  // The owner argument of the store's update/delete for this prompt, after the access checks.
  Result<std::optional<std::string>> owner_for_change(const Caller& caller, std::string_view id);

  store::Store& store_;
};

}  // namespace aas::chat
