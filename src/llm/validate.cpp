#include "llm/validate.hpp"

#include "core/base64.hpp"

#include <boost/json/parse.hpp>

#include <algorithm>
#include <set>

namespace aas::llm {

namespace {

Error bad_field(const std::string& field, std::string_view problem) {
  return make_error(errc::invalid_request, "'" + field + "' " + std::string(problem));
}

std::string at(std::string_view prefix, std::size_t i, std::string_view rest = {}) {
  return std::string(prefix) + "[" + std::to_string(i) + "]" + std::string(rest);
}

bool valid_name(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                  c == '-';
         });
}

bool is_json_object(std::string_view text) {
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(text, ec);
  return !ec && v.is_object();
}

// The first bytes each accepted image format starts with.
bool magic_matches(std::string_view media_type, std::string_view bytes) {
  if (media_type == "image/png") return bytes.starts_with("\x89PNG\r\n\x1a\n");
  if (media_type == "image/jpeg") return bytes.starts_with("\xff\xd8\xff");
  if (media_type == "image/gif") return bytes.starts_with("GIF87a") || bytes.starts_with("GIF89a");
  if (media_type == "image/webp")
    return bytes.size() >= 12 && bytes.starts_with("RIFF") && bytes.substr(8, 4) == "WEBP";
  return false;
}

}  // namespace

std::optional<std::string> image_url_problem(std::string_view url, std::size_t max_bytes) {
  if (url.starts_with("https://") || url.starts_with("http://")) {
    if (url.size() <= url.find("//") + 2) return "must name a host";
    return std::nullopt;  // fetched by the provider, which checks what it gets
  }
  if (!url.starts_with("data:")) return "must be an http(s) URL or a data URL";
  constexpr std::string_view marker = ";base64,";
  const std::size_t comma = url.find(marker);
  if (comma == std::string_view::npos) return "must be a base64 data URL (data:image/png;base64,...)";
  const std::string_view media_type = url.substr(5, comma - 5);
  if (media_type != "image/png" && media_type != "image/jpeg" && media_type != "image/gif" &&
      media_type != "image/webp")
    return "must be an image/png, image/jpeg, image/gif or image/webp data URL";
  const std::string_view encoded = url.substr(comma + marker.size());
  // Checked before decoding, so that a huge payload is not decoded only to be refused.
  if (encoded.size() / 4 * 3 > max_bytes + 2)
    return "is larger than " + std::to_string(max_bytes) + " bytes";
  const auto bytes = base64_decode(encoded);
  if (!bytes) return "is not valid base64";
  if (bytes->size() > max_bytes) return "is larger than " + std::to_string(max_bytes) + " bytes";
  if (!magic_matches(media_type, *bytes)) return "is not a " + std::string(media_type.substr(6)) + " image";
  return std::nullopt;
}

Result<void> validate_request(const ChatRequest& req, const ValidationLimits& limits) {
  std::set<std::string, std::less<>> tool_names;
  for (std::size_t i = 0; i < req.tools.size(); ++i) {
    const ToolDefinition& t = req.tools[i];
    if (!valid_name(t.name))
      return bad_field(at("tools", i, ".function.name"),
                       "must be 1 to 64 letters, digits, underscores or dashes");
    if (!tool_names.insert(t.name).second)
      return bad_field(at("tools", i, ".function.name"), "repeats the name of another tool");
    if (!is_json_object(t.parameters))
      return bad_field(at("tools", i, ".function.parameters"), "must be a JSON object (a JSON Schema)");
  }
  if (!req.tool_choice.empty()) {
    if (req.tools.empty()) return bad_field("tool_choice", "is only allowed when 'tools' are given");
    const bool keyword = req.tool_choice == "auto" || req.tool_choice == "none" || req.tool_choice == "required";
    if (!keyword && !tool_names.contains(req.tool_choice))
      return bad_field("tool_choice", "names a function that is not among 'tools'");
  }
  if (req.parallel_tool_calls && req.tools.empty())
    return bad_field("parallel_tool_calls", "is only allowed when 'tools' are given");

  if (req.response_format.kind == ResponseFormat::Kind::json_schema) {
    if (!valid_name(req.response_format.schema_name))
      return bad_field("response_format.json_schema.name",
                       "must be 1 to 64 letters, digits, underscores or dashes");
    if (!is_json_object(req.response_format.schema))
      return bad_field("response_format.json_schema.schema", "must be a JSON object (a JSON Schema)");
  }

  std::set<std::string, std::less<>> call_ids;  // of the assistant messages so far
  for (std::size_t i = 0; i < req.messages.size(); ++i) {
    const ChatMessage& m = req.messages[i];
    for (std::size_t j = 0; j < m.tool_calls.size(); ++j) {
      const ToolCall& c = m.tool_calls[j];
      if (c.id.empty()) return bad_field(at("messages", i, at(".tool_calls", j, ".id")), "must not be empty");
      if (c.name.empty())
        return bad_field(at("messages", i, at(".tool_calls", j, ".function.name")), "must not be empty");
      call_ids.insert(c.id);
    }
    if (m.role == "tool" && !call_ids.contains(m.tool_call_id))
      return bad_field(at("messages", i, ".tool_call_id"),
                       "does not answer a tool call of an earlier assistant message");
    for (std::size_t j = 0; j < m.parts.size(); ++j) {
      const ContentPart& p = m.parts[j];
      if (p.kind != ContentPart::Kind::image) continue;
      const std::string field = at("messages", i, at(".content", j, ".image_url"));
      if (m.role != "user") return bad_field(field, "is only allowed in user messages");
      if (!p.detail.empty() && p.detail != "auto" && p.detail != "low" && p.detail != "high")
        return bad_field(at("messages", i, at(".content", j, ".image_url.detail")), "must be auto, low or high");
      if (auto problem = image_url_problem(p.image_url, limits.max_image_bytes)) return bad_field(field, *problem);
    }
  }
  return {};
}

}  // namespace aas::llm
