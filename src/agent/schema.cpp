#include "agent/schema.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <array>
#include <cmath>

namespace aas::agent {

namespace json = boost::json;

namespace {

constexpr std::array<std::string_view, 19> kKeywords = {
    "type",     "properties", "required",         "additionalProperties", "enum",     "const",
    "items",    "minItems",   "maxItems",         "minimum",              "maximum",  "exclusiveMinimum",
    "exclusiveMaximum", "minLength", "maxLength", "description", "title", "default", "examples"};
constexpr std::array<std::string_view, 7> kTypes = {"object", "array",   "string", "number",
                                                    "integer", "boolean", "null"};

std::string at(const std::string& where, std::string_view key) {
  return where.empty() ? std::string(key) : where + "." + std::string(key);
}

Result<void> bad(const std::string& where, std::string_view what) {
  return make_error(errc::invalid_request, (where.empty() ? std::string("schema") : where) + ": " + std::string(what));
}

bool is_number(const json::value& v) { return v.is_int64() || v.is_uint64() || v.is_double(); }
double number(const json::value& v) { return v.to_number<double>(); }
bool non_negative_integer(const json::value& v) {
  return (v.is_int64() && v.get_int64() >= 0) || v.is_uint64();
}

// Recursive over properties and items: the parser's depth limit (32, compile()) bounds it.
Result<void> check(const json::value& schema, const std::string& where) {
  const json::object* s = schema.if_object();
  if (!s) return bad(where, "must be an object");
  for (const auto& [key, value] : *s) {
    if (key == "format") continue;  // an annotation: not enforced
    if (std::find(kKeywords.begin(), kKeywords.end(), std::string_view(key)) == kKeywords.end())
      return bad(at(where, key), "keyword not supported (see docs/agent.md for the subset)");
    const std::string here = at(where, key);
    if (key == "type") {
      const auto known = [](const json::value& t) {
        return t.is_string() && std::find(kTypes.begin(), kTypes.end(), std::string_view(t.get_string())) != kTypes.end();
      };
      if (value.is_array()) {
        if (value.get_array().empty() || !std::all_of(value.get_array().begin(), value.get_array().end(), known))
          return bad(here, "must name JSON Schema types");
      } else if (!known(value)) {
        return bad(here, "unknown type " + json::serialize(value));
      }
    } else if (key == "properties") {
      if (!value.is_object()) return bad(here, "must be an object");
      for (const auto& [name, sub] : value.get_object())
        if (auto r = check(sub, at(here, name)); !r) return r;
    } else if (key == "required") {
      if (!value.is_array() || !std::all_of(value.get_array().begin(), value.get_array().end(),
                                            [](const json::value& v) { return v.is_string(); }))
        return bad(here, "must be an array of property names");
    } else if (key == "additionalProperties") {
      if (!value.is_bool()) return bad(here, "only true or false is supported");
    } else if (key == "enum") {
      if (!value.is_array() || value.get_array().empty()) return bad(here, "must be a non-empty array");
    } else if (key == "items") {
      if (auto r = check(value, here); !r) return r;
    } else if (key == "minItems" || key == "maxItems" || key == "minLength" || key == "maxLength") {
      if (!non_negative_integer(value)) return bad(here, "must be a non-negative integer");
    } else if (key == "minimum" || key == "maximum" || key == "exclusiveMinimum" || key == "exclusiveMaximum") {
      if (!is_number(value)) return bad(here, "must be a number");
    }
  }
  return {};
}

bool has_type(const json::value& v, std::string_view type) {
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "boolean") return v.is_bool();
  if (type == "null") return v.is_null();
  if (type == "number") return is_number(v);
  if (type == "integer") {
    if (v.is_int64() || v.is_uint64()) return true;
    return v.is_double() && std::isfinite(v.get_double()) && std::floor(v.get_double()) == v.get_double();
  }
  return false;
}

// Code points, as JSON Schema counts a string's length.
std::size_t length(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

std::string name_of(const std::string& where) { return where.empty() ? std::string("arguments") : where; }

std::optional<std::string> validate(const json::object& s, const json::value& v, const std::string& where) {
  if (const json::value* t = s.if_contains("type")) {
    bool ok = false;
    if (t->is_string()) ok = has_type(v, t->get_string());
    else
      for (const json::value& one : t->get_array()) ok = ok || has_type(v, one.get_string());
    if (!ok) return name_of(where) + ": must be of type " + json::serialize(*t);
  }
  if (const json::value* e = s.if_contains("enum")) {
    const auto& options = e->get_array();
    if (std::find(options.begin(), options.end(), v) == options.end())
      return name_of(where) + ": must be one of " + json::serialize(*e);
  }
  if (const json::value* c = s.if_contains("const"); c && *c != v)
    return name_of(where) + ": must be " + json::serialize(*c);
  if (is_number(v)) {
    const double x = number(v);
    if (const json::value* m = s.if_contains("minimum"); m && x < number(*m))
      return name_of(where) + ": must be at least " + json::serialize(*m);
    if (const json::value* m = s.if_contains("maximum"); m && x > number(*m))
      return name_of(where) + ": must be at most " + json::serialize(*m);
    if (const json::value* m = s.if_contains("exclusiveMinimum"); m && x <= number(*m))
      return name_of(where) + ": must be more than " + json::serialize(*m);
    if (const json::value* m = s.if_contains("exclusiveMaximum"); m && x >= number(*m))
      return name_of(where) + ": must be less than " + json::serialize(*m);
  }
  if (const auto* str = v.if_string()) {
    const std::size_t n = length(*str);
    if (const json::value* m = s.if_contains("minLength"); m && n < m->to_number<std::size_t>())
      return name_of(where) + ": must have at least " + json::serialize(*m) + " characters";
    if (const json::value* m = s.if_contains("maxLength"); m && n > m->to_number<std::size_t>())
      return name_of(where) + ": must have at most " + json::serialize(*m) + " characters";
  }
  if (const auto* arr = v.if_array()) {
    if (const json::value* m = s.if_contains("minItems"); m && arr->size() < m->to_number<std::size_t>())
      return name_of(where) + ": must have at least " + json::serialize(*m) + " items";
    if (const json::value* m = s.if_contains("maxItems"); m && arr->size() > m->to_number<std::size_t>())
      return name_of(where) + ": must have at most " + json::serialize(*m) + " items";
    if (const json::value* items = s.if_contains("items"))
      for (std::size_t i = 0; i < arr->size(); ++i)
        if (auto p = validate(items->get_object(), (*arr)[i], name_of(where) + "[" + std::to_string(i) + "]")) return p;
  }
  if (const auto* obj = v.if_object()) {
    if (const json::value* req = s.if_contains("required"))
      for (const json::value& name : req->get_array())
        if (!obj->contains(name.get_string())) return at(where, name.get_string()) + ": required";
    const json::object* props = nullptr;
    if (const json::value* p = s.if_contains("properties")) props = &p->get_object();
    const json::value* extra = s.if_contains("additionalProperties");
    for (const auto& [key, value] : *obj) {
      const json::value* sub = props ? props->if_contains(key) : nullptr;
      if (sub) {
        if (auto p = validate(sub->get_object(), value, at(where, key))) return p;
      } else if (extra && extra->is_bool() && !extra->get_bool()) {
        return at(where, key) + ": not allowed (no such property)";
      }
    }
  }
  return std::nullopt;
}

}  // namespace

Result<ArgumentSchema> ArgumentSchema::compile(std::string_view schema_json) {
  boost::system::error_code ec;
  json::value v = json::parse(schema_json, ec);
  if (ec) return make_error(errc::invalid_request, "schema: not valid JSON");
  if (auto r = check(v, ""); !r) return r.error();
  return ArgumentSchema(std::make_shared<const json::value>(std::move(v)));
}

std::optional<std::string> ArgumentSchema::problem(const json::value& value) const {
  return validate(schema_->get_object(), value, "");
}

}  // namespace aas::agent
