#pragma once
// The JSON Schema subset a tool's arguments are declared in, checked at start-up and applied to
// every call the model makes. Debian has no JSON Schema validator for Boost.JSON (libvalijson-dev
// pulls in Qt, Poco and four other JSON libraries as build dependencies), so this is a careful
// subset: a schema using any keyword outside it is refused at start rather than half-enforced.
//
// Supported: type (one name or a list), properties, required, additionalProperties (boolean),
// enum, const, items, minItems, maxItems, minimum, maximum, exclusiveMinimum, exclusiveMaximum,
// minLength, maxLength, and the annotations description, title, default, examples, format
// (format is not enforced, as the spec allows).
#include "core/error.hpp"

#include <boost/json/value.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace aas::agent {

class ArgumentSchema {
 public:
  // invalid_request naming the offending place ("properties.due.type: unknown type 'date'")
  // when the text is not JSON, not an object, or uses what the subset does not support.
  static Result<ArgumentSchema> compile(std::string_view schema_json);

  // Why `value` does not satisfy the schema ("title: required", "priority: must be one of ..."),
  // or nullopt when it does.
  std::optional<std::string> problem(const boost::json::value& value) const;

  const boost::json::value& json() const { return *schema_; }

 private:
  explicit ArgumentSchema(std::shared_ptr<const boost::json::value> s) : schema_(std::move(s)) {}
  std::shared_ptr<const boost::json::value> schema_;
};

}  // namespace aas::agent
