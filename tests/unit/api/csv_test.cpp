#include "api/csv.hpp"

#include <gtest/gtest.h>

namespace aas::api::csv {
namespace {

std::string one(auto&& fill) {
  std::string out;
  Record r(out);
  fill(r);
  r.end();
  return out;
}

TEST(Csv, PlainFieldsAreWrittenAsTheyAreAndRecordsEndWithCrlf) {
  EXPECT_EQ(one([](Record& r) { r.text("alice").integer(42).usd(1'234'567); }), "alice,42,1.234567\r\n");
}

TEST(Csv, QuotesFieldsWithCommasQuotesAndLineBreaks) {
  EXPECT_EQ(one([](Record& r) { r.text("a,b").text("say \"hi\"").text("two\nlines").text("cr\r"); }),
            "\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\"cr\r\"\r\n");
}

TEST(Csv, EmptyFieldsKeepTheirPlace) {
  EXPECT_EQ(one([](Record& r) { r.text("").usd(std::nullopt).text(""); }), ",,\r\n");
}

TEST(Csv, DefusesWhatASpreadsheetWouldRunAsAFormula) {
  EXPECT_EQ(one([](Record& r) { r.text("=1+1").text("@SUM(A1)").text("-2").text("+x"); }), "'=1+1,'@SUM(A1),'-2,'+x\r\n");
  EXPECT_EQ(one([](Record& r) { r.text("=HYPERLINK(\"x\",\"y\")"); }), "\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\"\r\n");
}

TEST(Csv, UsdIsExactToTheMicroDollar) {
  EXPECT_EQ(one([](Record& r) { r.usd(0).usd(1).usd(1'000'000).usd(-1'500'000); }), "0.000000,0.000001,1.000000,-1.500000\r\n");
}

}  // namespace
}  // namespace aas::api::csv
