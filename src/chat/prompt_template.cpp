#include "chat/prompt_template.hpp"

#include "domain/usage.hpp"

namespace aas::chat {

std::string render_prompt(std::string_view text, const PromptVariables& vars) {
  std::string out;
  out.reserve(text.size());
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t open = text.find("{{", pos);
    if (open == std::string_view::npos) break;
    const std::size_t close = text.find("}}", open + 2);
    if (close == std::string_view::npos) break;
    out.append(text.substr(pos, open - pos));
    const std::string_view name = text.substr(open + 2, close - open - 2);
    if (name == "user.id") out += vars.user_id;
    else if (name == "user.name") out += vars.user_name.empty() ? vars.user_id : vars.user_name;
    else if (name == "date") out += domain::utc_day(vars.now);
    else if (name == "datetime") out += format_rfc3339(vars.now);
    else out.append(text.substr(open, close + 2 - open));
    pos = close + 2;
  }
  out.append(text.substr(pos));
  return out;
}

}  // namespace aas::chat
