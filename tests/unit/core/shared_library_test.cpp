#include "core/shared_library.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace aas::core {
namespace {

std::string refusal(auto&& f) {
  try {
    f();
  } catch (const LibraryUnavailable& e) {
    return e.what();
  }
  return "no exception";
}

}  // namespace

TEST(SharedLibrary, ResolvesAFunctionThatThenWorks) {
  const SharedLibrary libc("libc.so.6", "libc6");
  const auto length = libc.symbol<decltype(&std::strlen)>("strlen");
  ASSERT_NE(length, nullptr);
  EXPECT_EQ(length("four"), 4u);
}

// The operator's fix is in the message: which library, which Debian package provides it.
TEST(SharedLibrary, AMissingLibraryNamesItAndItsPackage) {
  const std::string what =
      refusal([] { SharedLibrary("libaas-no-such-library.so.7", "libaas-nothing7"); });
  EXPECT_NE(what.find("cannot load libaas-no-such-library.so.7"), std::string::npos) << what;
  EXPECT_NE(what.find("(Debian package libaas-nothing7)"), std::string::npos) << what;
}

// An older library without a function we call fails at resolution, naming the symbol, not later
// with a null call.
TEST(SharedLibrary, AMissingSymbolNamesItAndAsksForANewerVersion) {
  const SharedLibrary libc("libc.so.6", "libc6");
  const std::string what = refusal([&] { (void)libc.address("aas_no_such_function"); });
  EXPECT_EQ(what, "libc.so.6 has no symbol aas_no_such_function (a newer version is needed)");
}

}  // namespace aas::core
