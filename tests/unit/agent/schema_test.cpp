#include "agent/schema.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

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

namespace aas::agent {
namespace {

// Every keyword of the subset refuses each malformed value at compile time, naming where it is.
TEST(ArgumentSchema, EachMalformedKeywordIsRefusedWhereItIs) {
  const auto msg = [](std::string_view s) {
    auto r = ArgumentSchema::compile(s);
    if (r) return std::string("ok");
    EXPECT_EQ(r.error().code, errc::invalid_request);
    return r.error().message;
  };
  const std::vector<std::pair<std::string_view, std::string>> cases{
      {R"({"type":[]})", "type: must name JSON Schema types"},
      {R"({"type":["string","date"]})", "type: must name JSON Schema types"},
      {R"({"type":["string",1]})", "type: must name JSON Schema types"},
      {R"({"type":5})", "type: unknown type 5"},
      {R"({"properties":[]})", "properties: must be an object"},
      {R"({"properties":{"a":"string"}})", "properties.a: must be an object"},
      {R"({"required":["a",1]})", "required: must be an array of property names"},
      {R"({"enum":"a"})", "enum: must be a non-empty array"},
      {R"({"items":{"type":"str"}})", R"(items.type: unknown type "str")"},
      {R"({"items":{"properties":{"b":{"minItems":1.5}}}})", "items.properties.b.minItems: must be a non-negative integer"},
      {R"({"maxItems":"2"})", "maxItems: must be a non-negative integer"},
      {R"({"minLength":-2})", "minLength: must be a non-negative integer"},
      {R"({"minimum":"0"})", "minimum: must be a number"},
      {R"({"maximum":null})", "maximum: must be a number"},
      {R"({"exclusiveMinimum":true})", "exclusiveMinimum: must be a number"},
      {R"({"exclusiveMaximum":[]})", "exclusiveMaximum: must be a number"},
  };
  for (const auto& [schema, expected] : cases) EXPECT_EQ(msg(schema), expected) << schema;
  // The accepted forms of the same keywords; annotations take any value.
  EXPECT_EQ(msg(R"({"type":["integer","null"],"minItems":18446744073709551615,"maxLength":0,"minimum":-1.5,
                   "maximum":18446744073709551615,"exclusiveMinimum":0,"exclusiveMaximum":1e3,"enum":[1],"const":{},
                   "required":[],"title":1,"default":null,"examples":[],"format":"date"})"),
            "ok");

  // Nesting is bounded by the parser (32 levels), before the checks recurse.
  std::string deep;
  for (int i = 0; i < 40; ++i) deep += R"({"items":)";
  deep += "{}" + std::string(40, '}');
  EXPECT_EQ(msg(deep), "schema: not valid JSON");
}

// Each validation keyword, on both sides of its bound.
TEST(ArgumentSchema, EachKeywordChecksItsBoundOnBothSides) {
  const ArgumentSchema s = compiled(R"({
    "type": "object",
    "properties": {
      "n": {"type": "number", "minimum": 1, "exclusiveMaximum": 10},
      "m": {"type": "number", "exclusiveMinimum": 0, "maximum": 5},
      "k": {"const": "fixed"},
      "list": {"type": "array", "minItems": 2},
      "obj": {"type": "object"},
      "b": {"type": "boolean"},
      "i": {"type": "integer"},
      "z": {"type": "null"}
    }
  })");
  const std::vector<std::pair<std::string_view, std::string>> cases{
      {R"({"n":1})", "ok"},
      {R"({"n":0.5})", "n: must be at least 1"},
      {R"({"n":9.99})", "ok"},
      {R"({"n":10})", "n: must be less than 10"},
      {R"({"m":0})", "m: must be more than 0"},
      {R"({"m":0.1})", "ok"},
      {R"({"m":5})", "ok"},
      {R"({"m":6})", "m: must be at most 5"},
      {R"({"m":"5"})", R"(m: must be of type "number")"},
      {R"({"k":"fixed"})", "ok"},
      {R"({"k":"other"})", R"(k: must be "fixed")"},
      {R"({"list":[1]})", "list: must have at least 2 items"},
      {R"({"list":[1,2]})", "ok"},
      {R"({"obj":{}})", "ok"},
      {R"({"obj":[]})", R"(obj: must be of type "object")"},
      {R"({"b":false})", "ok"},
      {R"({"b":0})", R"(b: must be of type "boolean")"},
      {R"({"i":18446744073709551615})", "ok"},
      {R"({"i":-3})", "ok"},
      {R"({"i":"1"})", R"(i: must be of type "integer")"},
      {R"({"z":null})", "ok"},
      {R"({"z":0})", R"(z: must be of type "null")"},
      {R"({"other":[1,{}]})", "ok"},  // additionalProperties not false: anything goes
  };
  for (const auto& [value, expected] : cases) EXPECT_EQ(problem(s, value), expected) << value;
  // A value no parse produces, but a caller could: an infinite double is no integer.
  EXPECT_EQ(s.problem(json::object{{"i", INFINITY}}).value_or("ok"), R"(i: must be of type "integer")");
}

TEST(ArgumentSchema, ATopLevelSchemaNamesTheArgumentsAndNestedItemsTheirPath) {
  const ArgumentSchema list = compiled(R"({"type":"array","items":{"type":"object","required":["id"],
      "properties":{"id":{"type":"integer"}}}})");
  EXPECT_EQ(problem(list, R"([{"id":1},{"id":"x"}])"), R"(arguments[1].id: must be of type "integer")");
  EXPECT_EQ(problem(list, R"([{}])"), "arguments[0].id: required");
  EXPECT_EQ(problem(list, R"({})"), R"(arguments: must be of type "array")");
  const ArgumentSchema any = compiled("{}");
  EXPECT_EQ(problem(any, R"("anything")"), "ok");
  EXPECT_EQ(problem(any, "3"), "ok");
}

}  // namespace
}  // namespace aas::agent
