#include "core/log.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace aas {
namespace {

// setup_logging replaces the process's default logger: each test puts the previous one back, so
// the other suites in this binary log as before whatever order they run in.
class Logging : public ::testing::Test {
 protected:
  void TearDown() override {
    spdlog::set_default_logger(previous_);
    access_log().set_level(previous_access_);
  }

 private:
  std::shared_ptr<spdlog::logger> previous_ = spdlog::default_logger();
  spdlog::level::level_enum previous_access_ = access_log().level();
};

}  // namespace

TEST_F(Logging, TheLevelNamedIsTheEventLogsAndTheAccessLogStaysAtInfo) {
  setup_logging("debug");
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::debug);
  EXPECT_EQ(access_log().level(), spdlog::level::info);
  setup_logging("error");
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::err);
  EXPECT_EQ(access_log().level(), spdlog::level::info) << "an error-only log still logs requests";
}

// LOG_LEVEL=verbose (a typo) must not silence the service: spdlog reads an unknown name as off.
TEST_F(Logging, AnUnknownLevelNameFallsBackToInfo) {
  setup_logging("verbose");
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::info);
  EXPECT_EQ(access_log().level(), spdlog::level::info);
}

TEST_F(Logging, OffSilencesTheAccessLogToo) {
  setup_logging("off");
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::off);
  EXPECT_EQ(access_log().level(), spdlog::level::off);
}

// The access log is buffered (no write per request); flush_logs writes out what it holds, each
// line as given (the JSON line is the whole record: no timestamp or level prefix).
TEST_F(Logging, FlushWritesTheBufferedAccessLinesAsGiven) {
  setup_logging("info");
  ::testing::internal::CaptureStdout();
  access_log().info(R"({"status":200})");
  flush_logs();
  EXPECT_EQ(::testing::internal::GetCapturedStdout(), "{\"status\":200}\n");
}

}  // namespace aas
