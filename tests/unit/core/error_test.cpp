#include "core/error.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace aas {

// The names are the `error.code` of every error body (docs/openapi.yaml lists them) and the statuses
// what clients branch on: the whole table is pinned, so a renamed or remapped code fails here.
TEST(Error, EveryCodeHasAStatusAndAStableName) {
  struct Row {
    errc code;
    std::string_view name;
    int status;
  };
  const Row table[] = {
      {errc::invalid_request, "invalid_request", 400},
      {errc::unauthorized, "unauthorized", 401},
      {errc::forbidden, "forbidden", 403},
      {errc::not_found, "not_found", 404},
      {errc::method_not_allowed, "method_not_allowed", 405},
      {errc::conflict, "conflict", 409},
      {errc::payload_too_large, "payload_too_large", 413},
      {errc::unsupported_media_type, "unsupported_media_type", 415},
      {errc::rate_limited, "rate_limited", 429},
      {errc::budget_exceeded, "budget_exceeded", 429},
      {errc::internal, "internal", 500},
      {errc::upstream_error, "upstream_error", 502},
      {errc::unavailable, "unavailable", 503},
      {errc::upstream_timeout, "upstream_timeout", 504},
  };
  for (const Row& row : table) {
    EXPECT_EQ(code_name(row.code), row.name);
    EXPECT_EQ(http_status(row.code), row.status) << row.name;
  }
}

// A value that is no enumerator (a cast from a corrupted integer) is answered as an internal
// error, never as a success status or an empty name. 14 is one past the last code and still inside
// the enumeration's range of values (0-15), so the cast is defined (UBSan would report 9999).
TEST(Error, AnUnknownCodeIsInternal) {
  const auto bogus = static_cast<errc>(14);
  EXPECT_EQ(code_name(bogus), "internal");
  EXPECT_EQ(http_status(bogus), 500);
}

TEST(Error, ResultValueThrowsOnError) {
  Result<int> r = make_error(errc::conflict, "taken");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::conflict);
  EXPECT_THROW((void)r.value(), std::runtime_error);
}

TEST(Error, TheThrownMessageNamesTheCodeTheMessageAndTheDetail) {
  auto what = [](Result<int> r) -> std::string {
    try {
      (void)r.value();
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    return "no exception";
  };
  EXPECT_EQ(what(make_error(errc::conflict, "taken")), "conflict: taken");
  EXPECT_EQ(what(make_error(errc::upstream_error, "bad gateway", "status 502")),
            "upstream_error: bad gateway (status 502)");
}

}  // namespace aas
