#include "store/detail/structured.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace aas::store::detail {

namespace json = boost::json;

namespace {

std::string text_of(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::optional<json::array> array_of(const std::optional<std::string>& column) {
  if (!column || column->empty()) return std::nullopt;
  boost::system::error_code ec;
  json::value v = json::parse(*column, ec);
  if (ec || !v.is_array()) return std::nullopt;
  return std::move(v.as_array());
}

}  // namespace

std::optional<std::string> encode_parts(const std::vector<domain::ContentPart>& parts) {
  if (parts.empty()) return std::nullopt;
  json::array out;
  for (const domain::ContentPart& p : parts) {
    if (p.kind == domain::ContentPart::Kind::text) {
      out.push_back(json::object{{"type", "text"}, {"text", p.text}});
    } else {
      json::object image{{"type", "image_url"}, {"url", p.image_url}};
      if (!p.detail.empty()) image["detail"] = p.detail;
      out.push_back(std::move(image));
    }
  }
  return json::serialize(out);
}

std::optional<std::string> encode_tool_calls(const std::vector<domain::ToolCall>& calls) {
  if (calls.empty()) return std::nullopt;
  json::array out;
  for (const domain::ToolCall& c : calls)
    out.push_back(json::object{{"id", c.id}, {"name", c.name}, {"arguments", c.arguments}});
  return json::serialize(out);
}

std::vector<domain::ContentPart> decode_parts(const std::optional<std::string>& column) {
  std::vector<domain::ContentPart> out;
  auto array = array_of(column);
  if (!array) return out;
  for (const json::value& v : *array) {
    const json::object* o = v.if_object();
    if (!o) continue;
    domain::ContentPart p;
    if (text_of(*o, "type") == "image_url") {
      p.kind = domain::ContentPart::Kind::image;
      p.image_url = text_of(*o, "url");
      p.detail = text_of(*o, "detail");
    } else {
      p.text = text_of(*o, "text");
    }
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<domain::ToolCall> decode_tool_calls(const std::optional<std::string>& column) {
  std::vector<domain::ToolCall> out;
  auto array = array_of(column);
  if (!array) return out;
  for (const json::value& v : *array) {
    if (const json::object* o = v.if_object())
      out.push_back({text_of(*o, "id"), text_of(*o, "name"), text_of(*o, "arguments")});
  }
  return out;
}

}  // namespace aas::store::detail
