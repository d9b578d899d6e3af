#include "chat/prompt_service.hpp"

#include "chat/chat_service.hpp"
#include "core/ids.hpp"
#include "core/offload.hpp"

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

PromptService::Awaitable<domain::Prompt> PromptService::create(Caller caller, std::string name,
                                                              std::string content, bool global) {
  if (auto r = check(name, content); !r) co_return r.error();
  if (global && !caller.is_admin) co_return make_error(errc::forbidden, "admin role required for a global prompt");
  domain::NewPrompt p;
  if (!global) p.owner_user_id = caller.user_id;
  p.name = std::move(name);
  p.content = std::move(content);
  co_return co_await offload(blocking_, [&] { return store_.create_prompt(p); });
}

PromptService::Awaitable<domain::Prompt> PromptService::get(Caller caller, std::string id) {
  if (!is_uuid(id)) co_return not_found();
  co_return co_await offload(blocking_, [&] { return store_.get_prompt(caller.user_id, id); });
}

PromptService::Awaitable<domain::Page<domain::Prompt>> PromptService::list(Caller caller, domain::PageRequest page) {
  co_return co_await offload(blocking_, [&] { return store_.list_prompts(caller.user_id, page); });
}

Result<std::optional<std::string>> PromptService::owner_for_change(const Caller& caller, std::string_view id) {
  if (!is_uuid(id)) return not_found();
  auto found = store_.get_prompt(caller.user_id, id);
  if (!found) return found.error();
  if (!found->owner_user_id && !caller.is_admin)
    return make_error(errc::forbidden, "admin role required to change a global prompt");
  return found->owner_user_id;
}

PromptService::Awaitable<domain::Prompt> PromptService::update(Caller caller, std::string id,
                                                              domain::PromptPatch patch) {
  if (!patch.name && !patch.content) co_return make_error(errc::invalid_request, "nothing to update");
  if (auto r = check(patch.name, patch.content); !r) co_return r.error();
  co_return co_await offload(blocking_, [&]() -> Result<domain::Prompt> {
    auto owner = owner_for_change(caller, id);
    if (!owner) return owner.error();
    return store_.update_prompt(*owner, id, patch);
  });
}

PromptService::Awaitable<void> PromptService::remove(Caller caller, std::string id) {
  co_return co_await offload(blocking_, [&]() -> Result<void> {
    auto owner = owner_for_change(caller, id);
    if (!owner) return owner.error();
    return store_.delete_prompt(*owner, id);
  });
}

}  // namespace aas::chat
