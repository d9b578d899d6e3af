#include "chat/prompt_service.hpp"

#include "chat/chat_service.hpp"
#include "core/ids.hpp"

namespace aas::chat {

namespace {

constexpr std::size_t kMaxNameChars = 100;
constexpr std::size_t kMaxContentChars = 32000;

Result<void> check(const std::optional<std::string>& name, const std::optional<std::string>& content) {
  if (name && (!is_valid_utf8(*name) || is_blank(*name) || count_code_points(*name) > kMaxNameChars))
    return make_error(errc::invalid_request, "name must be 1 to 100 characters");
  if (content && (!is_valid_utf8(*content) || is_blank(*content) || count_code_points(*content) > kMaxContentChars))
    return make_error(errc::invalid_request, "content must be 1 to 32000 characters");
  return {};
}

Error not_found() { return make_error(errc::not_found, "prompt not found"); }

}  // namespace

Result<store::Prompt> PromptService::create(const Caller& caller, std::string name, std::string content,
                                            bool global) {
  if (auto r = check(name, content); !r) return r.error();
  if (global && !caller.is_admin) return make_error(errc::forbidden, "admin role required for a global prompt");
  store::NewPrompt p;
  if (!global) p.owner_user_id = caller.user_id;
  p.name = std::move(name);
  p.content = std::move(content);
  return store_.create_prompt(p);
}

Result<store::Prompt> PromptService::get(const Caller& caller, std::string_view id) {
  if (!is_uuid(id)) return not_found();
  return store_.get_prompt(caller.user_id, id);
}

Result<store::Page<store::Prompt>> PromptService::list(const Caller& caller, const store::PageRequest& page) {
  return store_.list_prompts(caller.user_id, page);
}

Result<std::optional<std::string>> PromptService::owner_for_change(const Caller& caller, std::string_view id) {
  auto found = get(caller, id);
  if (!found) return found.error();
  if (!found->owner_user_id && !caller.is_admin)
    return make_error(errc::forbidden, "admin role required to change a global prompt");
  return found->owner_user_id;
}

Result<store::Prompt> PromptService::update(const Caller& caller, std::string_view id,
                                            const store::PromptPatch& patch) {
  if (!patch.name && !patch.content) return make_error(errc::invalid_request, "nothing to update");
  if (auto r = check(patch.name, patch.content); !r) return r.error();
  auto owner = owner_for_change(caller, id);
  if (!owner) return owner.error();
  return store_.update_prompt(*owner, id, patch);
}

Result<void> PromptService::remove(const Caller& caller, std::string_view id) {
  auto owner = owner_for_change(caller, id);
  if (!owner) return owner.error();
  return store_.delete_prompt(*owner, id);
}

}  // namespace aas::chat
