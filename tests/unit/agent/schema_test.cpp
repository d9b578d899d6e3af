#include "agent/schema.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

namespace aas::agent {
namespace {

namespace json = boost::json;

ArgumentSchema compiled(std::string_view s) {
  auto r = ArgumentSchema::compile(s);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return std::move(*r);
}

std::string problem(const ArgumentSchema& s, std::string_view value) {
  return s.problem(json::parse(value)).value_or("ok");
}

TEST(ArgumentSchema, RefusesWhatItCannotEnforce) {
  const auto msg = [](std::string_view s) {
    auto r = ArgumentSchema::compile(s);
    return r ? std::string("ok") : r.error().message;
  };
  EXPECT_EQ(msg("not json"), "schema: not valid JSON");
  EXPECT_EQ(msg("[]"), "schema: must be an object");
  EXPECT_EQ(msg(R"({"type":"object","properties":{"a":{"pattern":"^x"}}})"),
            "properties.a.pattern: keyword not supported (see docs/agent.md for the subset)");
  EXPECT_EQ(msg(R"({"oneOf":[]})"), "oneOf: keyword not supported (see docs/agent.md for the subset)");
  EXPECT_EQ(msg(R"({"type":"date"})"), R"(type: unknown type "date")");
  EXPECT_EQ(msg(R"({"required":"a"})"), "required: must be an array of property names");
  EXPECT_EQ(msg(R"({"additionalProperties":{"type":"string"}})"), "additionalProperties: only true or false is supported");
  EXPECT_EQ(msg(R"({"enum":[]})"), "enum: must be a non-empty array");
  EXPECT_EQ(msg(R"({"maxLength":-1})"), "maxLength: must be a non-negative integer");
  EXPECT_EQ(msg(R"({"type":"object","properties":{"due":{"type":"string","format":"date","description":"d"}}})"), "ok");
}

TEST(ArgumentSchema, ChecksTypesRequiredEnumsAndBounds) {
  const ArgumentSchema s = compiled(R"({
    "type": "object",
    "properties": {
      "title": {"type": "string", "minLength": 1, "maxLength": 5},
      "priority": {"enum": ["low", "high"]},
      "count": {"type": "integer", "minimum": 1, "maximum": 3},
      "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
      "done": {"type": ["boolean", "null"]}
    },
    "required": ["title"],
    "additionalProperties": false
  })");
  EXPECT_EQ(problem(s, R"({"title":"milk"})"), "ok");
  EXPECT_EQ(problem(s, R"({})"), "title: required");
  EXPECT_EQ(problem(s, R"([])"), R"(arguments: must be of type "object")");
  EXPECT_EQ(problem(s, R"({"title":""})"), "title: must have at least 1 characters");
  EXPECT_EQ(problem(s, R"({"title":"ééééé"})"), "ok") << "length counts characters, not bytes";
  EXPECT_EQ(problem(s, R"({"title":"toolong"})"), "title: must have at most 5 characters");
  EXPECT_EQ(problem(s, R"({"title":"a","priority":"urgent"})"), R"(priority: must be one of ["low","high"])");
  EXPECT_EQ(problem(s, R"({"title":"a","count":2.0})"), "ok") << "2.0 is an integer";
  EXPECT_EQ(problem(s, R"({"title":"a","count":2.5})"), R"(count: must be of type "integer")");
  EXPECT_EQ(problem(s, R"({"title":"a","count":4})"), "count: must be at most 3");
  EXPECT_EQ(problem(s, R"({"title":"a","tags":["x",1]})"), R"(tags[1]: must be of type "string")");
  EXPECT_EQ(problem(s, R"({"title":"a","tags":["x","y","z"]})"), "tags: must have at most 2 items");
  EXPECT_EQ(problem(s, R"({"title":"a","done":null})"), "ok");
  EXPECT_EQ(problem(s, R"({"title":"a","owner":"bob"})"), "owner: not allowed (no such property)");
}

}  // namespace
}  // namespace aas::agent
