// TextEventTemplate writes an event's JSON by hand from a template: its bytes must be exactly
// what serializing the whole value gives, whatever the text holds.
#include "api/turn_events.hpp"

#include <gtest/gtest.h>
#include <boost/json/serialize.hpp>

namespace aas::api {
namespace {

std::string whole(std::string_view text) {
  return json::serialize(json::object{{"conversationId", "c-1"}, {"messageId", "m-\"2\""}, {"text", text}});
}

TEST(TextEventTemplate, FillsTheSlotWithTheTextEscapedExactlyAsSerializingTheValueWould) {
  TextEventTemplate t(json::object{{"conversationId", "c-1"}, {"messageId", "m-\"2\""}, {"text", ""}}, "text");
  for (std::string_view text : {std::string_view(""), std::string_view("plain"), std::string_view("quote \" and \\ backslash"),
                                std::string_view("new\nline\ttab\r"), std::string_view("ctrl \x01\x1f"),
                                std::string_view("unicode é 漢字 😀"), std::string_view("\"text\":\"\"")}) {
    EXPECT_EQ(t.fill(text), whole(text)) << text;
  }
  const std::string long_text(5000, 'x');  // longer than the serializer's chunk
  EXPECT_EQ(t.fill(long_text), whole(long_text));
}

TEST(TextEventTemplate, WrapsTheJsonInWhatGoesBeforeAndAfter) {
  TextEventTemplate t(json::object{{"text", ""}}, "text", "event: delta\ndata: ", "\n\n");
  EXPECT_EQ(t.fill("hi \"you\""), "event: delta\ndata: {\"text\":\"hi \\\"you\\\"\"}\n\n");
}

TEST(TextEventTemplate, TheSlotIsTheFieldsLastOccurrence) {
  // An OpenAI chunk: "content" of the delta comes after everything else that could hold it.
  json::object chunk{{"id", "x"},
                     {"model", "\"content\":\"\""},
                     {"choices", json::array{json::object{{"index", 0},
                                                          {"delta", json::object{{"content", ""}}},
                                                          {"finish_reason", nullptr}}}}};
  TextEventTemplate t(chunk, "content");
  chunk["choices"].as_array()[0].as_object()["delta"].as_object()["content"] = "word";
  EXPECT_EQ(t.fill("word"), json::serialize(chunk));
}

TEST(TextEventTemplate, AValueWithoutTheEmptyFieldIsABug) {
  EXPECT_THROW(TextEventTemplate(json::object{{"text", "not empty"}}, "text"), std::logic_error);
}

}  // namespace
}  // namespace aas::api
