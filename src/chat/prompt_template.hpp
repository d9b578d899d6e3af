#pragma once
// System prompts may name a few variables, filled in for each turn: {{user.id}}, {{user.name}}
// (the token's name, username or email; the id when it has none), {{date}} (UTC, YYYY-MM-DD)
// and {{datetime}} (RFC 3339, UTC). Anything else in braces is left as written.
#include "core/clock.hpp"

#include <string>
#include <string_view>

namespace aas::chat {

struct PromptVariables {
  std::string user_id;
  std::string user_name;
  TimePoint now{};
};

std::string render_prompt(std::string_view text, const PromptVariables& vars);

}  // namespace aas::chat
