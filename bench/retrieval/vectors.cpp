// The vector index on synthetic embeddings: build time, search latency at k=10, recall@10 against
// exact search, and memory. Single-threaded, through the same VectorIndex the service uses.
//
//   bench_vectors [--n 100000] [--dim 1536] [--queries 200] [--rounds 5] [--m 16] [--ef-construction 200]
//                 [--ef 100,200] [--data clustered|gaussian] [--exact-sizes 1000,5000,20000] [--seed 1]
//
// --data clustered (default): vectors scattered around 1,000 random centres (embeddings of real text
// cluster by topic; their intrinsic dimension is far below 1,536), queries drawn the same way.
// gaussian: i.i.d. normal coordinates, the worst case for any graph index (no structure to exploit).
// --exact-sizes: also times the exact scan at those sizes (where it stops being the faster choice).
// Nothing here asserts a timing: bench/retrieval/run.sh prints the figures for docs/benchmarks.md.
#include "knowledge/vector_index.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cmath>
#include <cstring>
#include <ctime>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

using aas::knowledge::VectorIndex;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::size_t n = 100'000;
  int dim = 1536;
  std::size_t queries = 200;
  int rounds = 5;
  std::size_t m = 16;
  std::size_t ef_construction = 200;
  std::vector<std::size_t> ef{100, 200};
  std::string data = "clustered";
  std::vector<std::size_t> exact_sizes;
  unsigned seed = 1;
};

std::vector<std::size_t> list(const char* s) {
  std::vector<std::size_t> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) out.push_back(std::stoull(item));
  return out;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--n") o.n = std::stoull(v);
    else if (k == "--dim") o.dim = std::stoi(v);
    else if (k == "--queries") o.queries = std::stoull(v);
    else if (k == "--rounds") o.rounds = std::stoi(v);
    else if (k == "--m") o.m = std::stoull(v);
    else if (k == "--ef-construction") o.ef_construction = std::stoull(v);
    else if (k == "--ef") o.ef = list(v);
    else if (k == "--data") o.data = v;
    else if (k == "--exact-sizes") o.exact_sizes = list(v);
    else if (k == "--seed") o.seed = static_cast<unsigned>(std::stoul(v));
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      std::exit(2);
    }
  }
  return o;
}

// Synthetic embeddings, generated on demand (a million 1,536-dim vectors are 6 GB: never all kept).
class Generator {
 public:
  Generator(const Options& o, unsigned seed) : dim_(o.dim), clustered_(o.data == "clustered"), rng_(seed) {
    if (clustered_) {
      std::mt19937 centres_rng(o.seed);  // the same centres for the data and the queries
      std::normal_distribution<float> d;
      centres_.resize(1000 * static_cast<std::size_t>(dim_));
      for (auto& x : centres_) x = d(centres_rng);
    }
  }
  void next(std::vector<float>& v) {
    v.resize(dim_);
    std::normal_distribution<float> d;
    if (!clustered_) {
      for (auto& x : v) x = d(rng_);
      return;
    }
    const float* c = centres_.data() + (rng_() % 1000) * static_cast<std::size_t>(dim_);
    for (int i = 0; i < dim_; ++i) v[i] = c[i] + 0.5f * d(rng_);  // noise at half the centres' spread
  }

 private:
  int dim_;
  bool clustered_;
  std::mt19937 rng_;
  std::vector<float> centres_;
};

double rss_mib() {
  std::ifstream statm("/proc/self/statm");
  long pages_total = 0, resident = 0;
  statm >> pages_total >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// This thread's CPU time: on a shared, oversubscribed machine the wall clock measures the queue for
// a core as much as the work, so both are reported.
double cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double load_average() {
  std::ifstream in("/proc/loadavg");
  double l = 0;
  in >> l;
  return l;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  std::printf("vector index benchmark: n=%zu dim=%d data=%s queries=%zu x %d rounds, M=%zu ef_construction=%zu\n",
              o.n, o.dim, o.data.c_str(), o.queries, o.rounds, o.m, o.ef_construction);

  std::vector<std::vector<float>> queries(o.queries);
  Generator query_gen(o, o.seed + 1000);
  for (auto& q : queries) query_gen.next(q);

  for (const std::size_t size : o.exact_sizes) {
    auto exact = aas::knowledge::make_exact_index(o.dim);
    Generator gen(o, o.seed);
    std::vector<float> v;
    for (std::size_t i = 0; i < size; ++i) gen.next(v), exact->upsert(i, v);
    std::vector<double> lat, cpu;
    for (int r = 0; r < o.rounds; ++r) {
      for (const auto& q : queries) {
        const auto t = Clock::now();
        const double c = cpu_ms();
        (void)exact->search(q, 10);
        cpu.push_back(cpu_ms() - c);
        lat.push_back(ms_since(t));
      }
    }
    std::printf("exact  n=%-8zu search wall p50 %.3f ms p99 %.3f ms | cpu p50 %.3f ms p99 %.3f ms | memory %.1f MiB\n", size,
                percentile(lat, 0.5), percentile(lat, 0.99), percentile(cpu, 0.5), percentile(cpu, 0.99),
                static_cast<double>(exact->memory_bytes()) / (1 << 20));
    std::fflush(stdout);
  }

  // Ground truth: the exact top 10 of each query, computed in one pass over the generated vectors
  // (streaming, so the exact index never needs its own copy of all of them).
  std::vector<std::vector<std::pair<float, std::uint64_t>>> truth(o.queries);
  auto index = aas::knowledge::make_hnsw_index(o.dim, o.n, {.m = o.m, .ef_construction = o.ef_construction, .ef_search = o.ef.front(), .seed = 100});
  const double rss_before = rss_mib();
  Generator gen(o, o.seed);
  std::vector<float> v;
  std::vector<float> unit;
  std::vector<std::vector<float>> qn(o.queries);
  auto normalise = [](const std::vector<float>& x, std::vector<float>& out) {
    double s = 0;
    for (float f : x) s += static_cast<double>(f) * f;
    out.resize(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) out[i] = static_cast<float>(x[i] / std::sqrt(s));
  };
  for (std::size_t i = 0; i < o.queries; ++i) normalise(queries[i], qn[i]);
  double build_ms = 0;
  double build_cpu_ms = 0;
  const auto progress_every = std::max<std::size_t>(o.n / 10, 1);
  for (std::size_t i = 0; i < o.n; ++i) {
    gen.next(v);
    const auto t = Clock::now();
    const double c = cpu_ms();
    index->upsert(i, v);
    build_cpu_ms += cpu_ms() - c;
    build_ms += ms_since(t);
    normalise(v, unit);
    for (std::size_t q = 0; q < o.queries; ++q) {
      float s = 0;
      for (int d = 0; d < o.dim; ++d) s += qn[q][d] * unit[d];
      auto& top = truth[q];
      if (top.size() < 10 || s > top.front().first) {
        top.emplace_back(s, i);
        std::push_heap(top.begin(), top.end(), std::greater<>());
        if (top.size() > 10) std::pop_heap(top.begin(), top.end(), std::greater<>()), top.pop_back();
      }
    }
    if ((i + 1) % progress_every == 0) {
      std::fprintf(stderr, "  built %zu/%zu (%.0f s in upserts)\n", i + 1, o.n, build_ms / 1000);
    }
  }
  const double rss_after = rss_mib();
  std::printf("hnsw   n=%zu build wall %.1f s, cpu %.1f s (%.0f vectors per cpu-s)  memory_bytes %.1f MiB (%.0f B/vector)  RSS delta %.1f MiB\n", o.n,
              build_ms / 1000, build_cpu_ms / 1000, static_cast<double>(o.n) / (build_cpu_ms / 1000),
              static_cast<double>(index->memory_bytes()) / (1 << 20),
              static_cast<double>(index->memory_bytes()) / static_cast<double>(o.n), rss_after - rss_before);

  for (const std::size_t ef : o.ef) {
    // ef is fixed at construction through the public API; a new index per ef would rebuild, so the
    // searches ask for k = ef and keep the first 10 (hnswlib searches with max(ef, k): the same work).
    std::vector<double> lat, cpu;
    double recall = 0;
    for (int r = 0; r < o.rounds; ++r) {
      for (std::size_t q = 0; q < o.queries; ++q) {
        const auto t = Clock::now();
        const double c = cpu_ms();
        auto hits = index->search(queries[q], std::max<std::size_t>(ef, 10));
        hits.resize(std::min<std::size_t>(hits.size(), 10));
        cpu.push_back(cpu_ms() - c);
        lat.push_back(ms_since(t));
        if (r == 0) {
          std::set<std::uint64_t> expected;
          for (const auto& [s, key] : truth[q]) expected.insert(key);
          int found = 0;
          for (const auto& [key, s] : hits) found += expected.contains(key);
          recall += found / 10.0;
        }
      }
    }
    std::printf("hnsw   n=%zu ef=%-4zu search k=10 wall p50 %.3f ms p99 %.3f ms | cpu p50 %.3f ms p99 %.3f ms | recall@10 %.4f\n", o.n, ef,
                percentile(lat, 0.5), percentile(lat, 0.99), percentile(cpu, 0.5), percentile(cpu, 0.99),
                recall / static_cast<double>(o.queries));
    std::fflush(stdout);
  }
  std::printf("load average at the end: %.1f (cores: %ld)\n", load_average(), sysconf(_SC_NPROCESSORS_ONLN));
  return 0;
}
