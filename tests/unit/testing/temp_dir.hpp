#pragma once
// A directory of its own under /tmp for one test, removed with everything in it when the test's
// TempDir goes out of scope (also when an assertion ends the test early).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

namespace aas::testing {

class TempDir {
 public:
  // `prefix` names the test in /tmp (e.g. "aas-checkpoint"), for whoever finds one left by a crash.
  explicit TempDir(const std::string& prefix) {
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp " << tmpl;
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace aas::testing
