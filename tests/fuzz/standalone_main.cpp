// The driver of the fuzz targets in ordinary (g++) test builds: runs LLVMFuzzerTestOneInput once
// on every file of the directories (or files) given, so `make test` replays the committed seed
// corpus and every crash reproducer kept there without clang. libFuzzer's own main replaces this
// in `make fuzz` builds.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

void run_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t runs = 0;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path arg(argv[i]);
    if (std::filesystem::is_directory(arg)) {
      for (const auto& entry : std::filesystem::recursive_directory_iterator(arg)) {
        if (!entry.is_regular_file()) continue;
        run_file(entry.path());
        ++runs;
      }
    } else {
      run_file(arg);
      ++runs;
    }
  }
  std::printf("%zu inputs ran\n", runs);
  // A corpus that ran nothing would make this test pass without testing anything.
  return runs > 0 ? 0 : 1;
}
