// The lexical index on a generated base, in process (no HTTP, no other load's queue in the way of
// a single measurement): the build from the database, its memory, and each search's time, with the
// slowest queries named. Queries as run.mjs draws them (2–6 words, Zipf-like ranks), seeded.
//
//   bench_lexical DB_FILE [QUERIES] [VOCAB]   (DB_FILE from generate.sh, e.g. run.mjs --db FILE)
#include "core/clock.hpp"
#include "knowledge/lexical_index.hpp"
#include "knowledge/store.hpp"
#include "store/sqlite/knowledge_store.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <random>
#include <string>

namespace {
double cpu_ms() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_lexical DB_FILE [QUERIES] [VOCAB]\n");
    return 2;
  }
  const int queries = argc > 2 ? std::stoi(argv[2]) : 1000;
  const int vocab = argc > 3 ? std::stoi(argv[3]) : 50000;
  aas::SystemClock clock;
  auto store = aas::store::sqlite::open_sqlite_knowledge_store(argv[1], clock);
  const std::string kb = "01900000-0000-7000-8000-00000000b001";
  const double load0 = cpu_ms();
  auto rows = store->load_lexical(kb);
  if (!rows) {
    std::fprintf(stderr, "load: %s\n", rows.error().detail.c_str());
    return 1;
  }
  const double load_ms = cpu_ms() - load0;
  const double build0 = cpu_ms();
  const aas::knowledge::LexicalIndex index(rows->chunks);
  const double build_ms = cpu_ms() - build0;
  rows->chunks.clear();
  rows->chunks.shrink_to_fit();
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<std::pair<double, std::string>> times;
  for (int q = 0; q < queries; ++q) {
    std::vector<std::string> terms;
    const int words = 2 + static_cast<int>(u(rng) * 5);
    std::string text;
    for (int w = 0; w < words; ++w) {
      const std::string t = "w" + std::to_string(static_cast<int>(std::exp(u(rng) * std::log(static_cast<double>(vocab)))));
      text += t + " ";
      if (std::find(terms.begin(), terms.end(), t) == terms.end()) terms.push_back(t);
    }
    const double t0 = cpu_ms();
    const auto top = aas::knowledge::bm25_top_k({&index}, terms, 10);
    times.emplace_back(cpu_ms() - t0, text);
    if (top.empty()) std::fprintf(stderr, "no result: %s\n", text.c_str());
  }
  std::vector<double> sorted;
  for (const auto& [t, _] : times) sorted.push_back(t);
  std::sort(sorted.begin(), sorted.end());
  const auto pct = [&](double p) { return sorted[std::min(sorted.size() - 1, static_cast<std::size_t>(p / 100 * static_cast<double>(sorted.size())))]; };
  double sum = 0;
  for (double t : sorted) sum += t;
  std::sort(times.begin(), times.end(), std::greater<>());
  std::printf("{\"chunks\":%zu,\"load_cpu_ms\":%.0f,\"build_cpu_ms\":%.0f,\"index_mib\":%.1f,\"queries\":%d,"
              "\"search_cpu_ms\":{\"mean\":%.2f,\"p50\":%.2f,\"p99\":%.2f,\"max\":%.2f},\"slowest\":[",
              index.size(), load_ms, build_ms, static_cast<double>(index.memory_bytes()) / (1 << 20), queries,
              sum / static_cast<double>(sorted.size()), pct(50), pct(99), sorted.back());
  for (std::size_t i = 0; i < 5 && i < times.size(); ++i)
    std::printf("%s[%.1f,\"%s\"]", i ? "," : "", times[i].first, times[i].second.c_str());
  std::printf("]}\n");
}
