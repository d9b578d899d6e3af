#include "domain/records.hpp"

namespace aas::domain {

std::string_view to_string(Role r) noexcept {
  switch (r) {
    case Role::system: return "system";
    case Role::user: return "user";
    case Role::assistant: return "assistant";
    case Role::tool: return "tool";
  }
  return "user";
}

std::optional<Role> role_from_string(std::string_view s) noexcept {
  if (s == "system") return Role::system;
  if (s == "user") return Role::user;
  if (s == "assistant") return Role::assistant;
  if (s == "tool") return Role::tool;
  return std::nullopt;
}

std::string_view to_string(MessageStatus s) noexcept {
  switch (s) {
    case MessageStatus::complete: return "complete";
    case MessageStatus::streaming: return "streaming";
    case MessageStatus::interrupted: return "interrupted";
    case MessageStatus::error: return "error";
  }
  return "complete";
}

std::optional<MessageStatus> message_status_from_string(std::string_view s) noexcept {
  if (s == "complete") return MessageStatus::complete;
  if (s == "streaming") return MessageStatus::streaming;
  if (s == "interrupted") return MessageStatus::interrupted;
  if (s == "error") return MessageStatus::error;
  return std::nullopt;
}

}  // namespace aas::domain
