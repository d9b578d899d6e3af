// Throughput of src/tokens on the benchmark texts, single-threaded; bench_tiktoken.mjs measures npm
// tiktoken the same way (run.sh runs both). Prints MB/s of input for encode() and count().
// Usage: bench_tokenizer FILE...   (BENCH_SECONDS: minimum time per measurement, default 2)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "tokens/tokenizer.hpp"

namespace {

using aas::tokens::Encoding;

template <class F>
double megabytes_per_second(std::size_t bytes, double min_seconds, F&& run) {
  run();  // warm-up, and builds the tables outside the measurement
  const auto start = std::chrono::steady_clock::now();
  std::size_t runs = 0;
  double elapsed = 0;
  while (elapsed < min_seconds || runs < 3) {
    run();
    ++runs;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  return static_cast<double>(bytes * runs) / elapsed / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  const char* seconds_env = std::getenv("BENCH_SECONDS");
  const double min_seconds = seconds_env ? std::atof(seconds_env) : 2.0;
  for (int i = 1; i < argc; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "bench_tokenizer: cannot read %s\n", argv[i]);
      return 2;
    }
    std::ostringstream buffer;
    buffer << in.rdbuf();
    const std::string text = buffer.str();
    const std::string file = std::filesystem::path(argv[i]).filename().string();
    for (const Encoding e : {Encoding::cl100k_base, Encoding::o200k_base}) {
      const auto& t = aas::tokens::tokenizer(e);
      std::size_t tokens = 0;
      const double encode = megabytes_per_second(text.size(), min_seconds, [&] { tokens = t.encode(text).size(); });
      const double count = megabytes_per_second(text.size(), min_seconds, [&] { tokens = t.count(text); });
      std::printf("aas-tokens   %-11s %-18s %9zu B %8zu tokens  %7.2f MB/s encode  %7.2f MB/s count\n",
                  std::string(aas::tokens::name(e)).c_str(), file.c_str(), text.size(), tokens, encode, count);
    }
  }
  return 0;
}
