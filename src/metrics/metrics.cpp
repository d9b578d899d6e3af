#include "metrics/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <type_traits>
#include <unordered_map>
#include <vector>

namespace aas::metrics {

namespace {

namespace prom = prometheus;

using Buckets = prom::Histogram::BucketBoundaries;

// Whole turns: from a fast cached answer to a long reasoning model.
const Buckets kTurnBuckets{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120};
const Buckets kFirstTokenBuckets{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30};
// The gateway's own share of a turn should stay well under a millisecond.
const Buckets kOverheadBuckets{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05};
const Buckets kHttpBuckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                           0.1,    0.25,  0.5,    1,     2.5,  5,     10};

std::string_view method_label(std::string_view method) {
  static constexpr std::array<std::string_view, 7> known{"GET",    "HEAD",  "POST",   "PUT",
                                                         "PATCH",  "DELETE", "OPTIONS"};
  for (std::string_view m : known)
    if (m == method) return m;
  return "other";
}

// --- process metrics ---
// prometheus-cpp has no process collector (unlike the Go and Python clients), so the standard
// process_* metrics are read from /proc/self here, at scrape time.

struct ProcessStats {
  double cpu_seconds = 0;
  double resident_bytes = 0;
  double virtual_bytes = 0;
  double start_ticks = 0;  // since boot
};

std::optional<ProcessStats> read_proc_self_stat() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  // The command name (field 2) is in parentheses and may hold spaces: fields restart after ')'.
  const std::size_t close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(line.substr(close + 1));
  const std::vector<std::string> f{std::istream_iterator<std::string>(fields),
                                   std::istream_iterator<std::string>()};
  // f[0] is field 3 (state): utime 14, stime 15, starttime 22, vsize 23, rss 24.
  if (f.size() < 22) return std::nullopt;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  ProcessStats s;
  s.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / ticks;
  s.start_ticks = std::stod(f[19]);
  s.virtual_bytes = std::stod(f[20]);
  s.resident_bytes = std::stod(f[21]) * page;
  return s;
}

// The boot time, from /proc/stat's btime line (seconds since the epoch).
std::optional<double> boot_time_seconds() {
  std::ifstream in("/proc/stat");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("btime ", 0) == 0) return std::stod(line.substr(6));
  }
  return std::nullopt;
}

std::optional<double> process_start_time_seconds() {
  const auto stat = read_proc_self_stat();
  const auto boot = boot_time_seconds();
  if (!stat || !boot) return std::nullopt;
  return *boot + stat->start_ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double open_fds() {
  std::error_code ec;
  double n = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec))
    ++n;
  return n;
}

double max_fds() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 0;
  return static_cast<double>(limit.rlim_cur);
}

prom::MetricFamily process_family(std::string name, std::string help, prom::MetricType type,
                                  double value) {
  prom::ClientMetric m;
  if (type == prom::MetricType::Counter)
    m.counter.value = value;
  else
    m.gauge.value = value;
  return {std::move(name), std::move(help), type, {m}};
}

void append_process_metrics(std::vector<prom::MetricFamily>& out, std::optional<double> start_time) {
  using prom::MetricType;
  if (const auto s = read_proc_self_stat()) {
    out.push_back(process_family("process_cpu_seconds_total",
                                 "Total user and system CPU time spent in seconds.",
                                 MetricType::Counter, s->cpu_seconds));
    out.push_back(process_family("process_resident_memory_bytes", "Resident memory size in bytes.",
                                 MetricType::Gauge, s->resident_bytes));
    out.push_back(process_family("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                                 MetricType::Gauge, s->virtual_bytes));
  }
  out.push_back(process_family("process_open_fds", "Number of open file descriptors.",
                               MetricType::Gauge, open_fds()));
  if (const double max = max_fds(); max > 0)
    out.push_back(process_family("process_max_fds", "Maximum number of open file descriptors.",
                                 MetricType::Gauge, max));
  if (start_time)
    out.push_back(process_family("process_start_time_seconds",
                                 "Start time of the process since unix epoch in seconds.",
                                 MetricType::Gauge, *start_time));
}

// The labelled series of one family, each found by its label values. prometheus-cpp's Family::Add
// builds a std::map of the labels, checks and hashes them on every call (~4,000 instructions, a
// few allocations); a request reports several series over a small, stable set of values (routes,
// models, statuses), so each series is created once and then looked up by a flat key.
template <class M>
class Series {
 public:
  Series(prom::Family<M>& family, std::vector<std::string> names, std::optional<Buckets> buckets = std::nullopt)
      : family_(family), names_(std::move(names)), buckets_(std::move(buckets)) {}

  template <class... V>
  M& at(const V&... values) {
    static_assert(sizeof...(V) > 0);
    std::string key;
    ((key.append(std::string_view(values)).push_back('\x1f')), ...);
    const std::lock_guard lock(mutex_);
    auto it = by_values_.find(key);
    if (it != by_values_.end()) return *it->second;
    std::map<std::string, std::string> labels;
    std::size_t i = 0;
    ((labels.emplace(names_.at(i++), std::string(std::string_view(values)))), ...);
    M& series = [&]() -> M& {
      if constexpr (std::is_same_v<M, prom::Histogram>) return family_.Add(labels, *buckets_);
      else return family_.Add(labels);
    }();
    by_values_.emplace(std::move(key), &series);
    return series;
  }

 private:
  prom::Family<M>& family_;
  const std::vector<std::string> names_;
  const std::optional<Buckets> buckets_;  // histograms only
  std::mutex mutex_;  // reported from every thread
  std::unordered_map<std::string, M*> by_values_;  // the family owns the series
};

}  // namespace

struct Metrics::Impl {
  // Families are registered once here; Family::Add finds or creates a labelled child under the
  // family's own mutex, and the children themselves are atomic.
  std::shared_ptr<prom::Registry> registry = std::make_shared<prom::Registry>();

  prom::Family<prom::Counter>& http_requests =
      prom::BuildCounter()
          .Name("http_requests_total")
          .Help("HTTP requests answered, by method, route pattern and status.")
          .Register(*registry);
  prom::Family<prom::Histogram>& http_duration =
      prom::BuildHistogram()
          .Name("http_request_duration_seconds")
          .Help("Time from a request read to its response ready (streams: to their headers).")
          .Register(*registry);

  prom::Family<prom::Counter>& chat_requests =
      prom::BuildCounter()
          .Name("ai_chat_requests_total")
          .Help("Chat and gateway turns, by model and outcome.")
          .Register(*registry);
  prom::Family<prom::Histogram>& chat_duration =
      prom::BuildHistogram()
          .Name("ai_chat_duration_seconds")
          .Help("Duration of a whole chat or gateway turn.")
          .Register(*registry);
  prom::Family<prom::Counter>& tokens =
      prom::BuildCounter()
          .Name("ai_tokens_used_total")
          .Help("Tokens used, by model and type (input, output, cached_input, cache_write, reasoning).")
          .Register(*registry);
  prom::Family<prom::Counter>& cost =
      prom::BuildCounter()
          .Name("ai_cost_usd_total")
          .Help("Cost of the tokens used, in US dollars.")
          .Register(*registry);
  prom::Family<prom::Histogram>& first_token =
      prom::BuildHistogram()
          .Name("ai_time_to_first_token_seconds")
          .Help("Time from the request to the first token of the answer.")
          .Register(*registry);
  prom::Family<prom::Histogram>& overhead =
      prom::BuildHistogram()
          .Name("ai_gateway_overhead_seconds")
          .Help("Time a turn spent in the gateway itself (total minus upstream time).")
          .Register(*registry);

  prom::Family<prom::Counter>& upstream_errors =
      prom::BuildCounter()
          .Name("ai_upstream_errors_total")
          .Help("Failed upstream calls, by deployment and error class.")
          .Register(*registry);
  prom::Family<prom::Counter>& retries =
      prom::BuildCounter()
          .Name("ai_upstream_retries_total")
          .Help("Upstream calls retried, by deployment.")
          .Register(*registry);
  prom::Family<prom::Counter>& fallbacks =
      prom::BuildCounter()
          .Name("ai_fallbacks_total")
          .Help("Turns handed to a fallback model, by the model given up and the one tried next.")
          .Register(*registry);
  prom::Family<prom::Gauge>& circuit =
      prom::BuildGauge()
          .Name("ai_circuit_state")
          .Help("Circuit breaker of a deployment: 0 closed, 1 open, 2 half-open.")
          .Register(*registry);
  prom::Family<prom::Gauge>& deployment_in_flight =
      prom::BuildGauge()
          .Name("ai_deployment_in_flight")
          .Help("Calls holding one of a deployment's max_concurrency slots.")
          .Register(*registry);
  prom::Family<prom::Gauge>& deployment_queued =
      prom::BuildGauge()
          .Name("ai_deployment_queued")
          .Help("Calls waiting for a slot of a deployment (served round-robin across users).")
          .Register(*registry);
  prom::Family<prom::Counter>& limit_rejections =
      prom::BuildCounter()
          .Name("ai_limit_rejections_total")
          .Help("Requests refused by a rate limit or budget, by limit.")
          .Register(*registry);
  prom::Family<prom::Counter>& cache_hits =
      prom::BuildCounter()
          .Name("ai_cache_hits_total")
          .Help("Gateway requests answered from the response cache (no upstream call, no cost), by model.")
          .Register(*registry);
  // Registered without a series: one appears when Redis is configured (the first report).
  prom::Family<prom::Gauge>& redis_up =
      prom::BuildGauge()
          .Name("ai_redis_up")
          .Help("1 while Redis (REDIS_URL) answers, 0 while it does not.")
          .Register(*registry);
  prom::Gauge& active_streams = prom::BuildGauge()
                                    .Name("ai_active_streams")
                                    .Help("Answers being streamed right now.")
                                    .Register(*registry)
                                    .Add({});

  // The start time never changes: read once.
  const std::optional<double> start_time = process_start_time_seconds();

  // The series reported on every request, found without prometheus-cpp's per-call label work.
  Series<prom::Counter> http_requests_by{http_requests, {"method", "route", "status"}};
  Series<prom::Histogram> http_duration_by{http_duration, {"route"}, kHttpBuckets};
  Series<prom::Counter> chat_requests_by{chat_requests, {"model", "status"}};
  Series<prom::Histogram> chat_duration_by{chat_duration, {"model"}, kTurnBuckets};
  Series<prom::Counter> tokens_by{tokens, {"model", "type"}};
  Series<prom::Counter> cost_by{cost, {"model"}};
  Series<prom::Histogram> first_token_by{first_token, {"model"}, kFirstTokenBuckets};
  Series<prom::Histogram> overhead_by{overhead, {"model"}, kOverheadBuckets};
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {}
Metrics::~Metrics() = default;

void Metrics::http_request(std::string_view method, std::string_view route, int status,
                           double seconds) {
  char code[8];
  const int n = std::snprintf(code, sizeof code, "%d", status);
  impl_->http_requests_by.at(method_label(method), route, std::string_view(code, n > 0 ? n : 0)).Increment();
  impl_->http_duration_by.at(route).Observe(seconds);
}

void Metrics::chat_request(std::string_view model, std::string_view status, double seconds) {
  impl_->chat_requests_by.at(model, status).Increment();
  impl_->chat_duration_by.at(model).Observe(seconds);
}

void Metrics::tokens(std::string_view model, std::string_view type, std::int64_t n) {
  if (n <= 0) return;
  impl_->tokens_by.at(model, type).Increment(static_cast<double>(n));
}

void Metrics::cost_micros(std::string_view model, std::int64_t micros) {
  if (micros < 0) return;
  impl_->cost_by.at(model).Increment(static_cast<double>(micros) / 1e6);
}

void Metrics::time_to_first_token(std::string_view model, double seconds) {
  impl_->first_token_by.at(model).Observe(seconds);
}

void Metrics::gateway_overhead(std::string_view model, double seconds) {
  impl_->overhead_by.at(model).Observe(seconds);
}

void Metrics::upstream_error(std::string_view deployment, std::string_view error_class) {
  impl_->upstream_errors
      .Add({{"deployment", std::string(deployment)}, {"class", std::string(error_class)}})
      .Increment();
}

void Metrics::retry(std::string_view deployment) {
  impl_->retries.Add({{"deployment", std::string(deployment)}}).Increment();
}

void Metrics::fallback(std::string_view from_model, std::string_view to_model) {
  impl_->fallbacks.Add({{"from", std::string(from_model)}, {"to", std::string(to_model)}})
      .Increment();
}

void Metrics::breaker_state(std::string_view deployment, int state) {
  impl_->circuit.Add({{"deployment", std::string(deployment)}}).Set(state);
}

void Metrics::deployment_load(std::string_view deployment, int in_flight, int queued) {
  const std::string name(deployment);
  impl_->deployment_in_flight.Add({{"deployment", name}}).Set(in_flight);
  impl_->deployment_queued.Add({{"deployment", name}}).Set(queued);
}

void Metrics::limit_rejection(std::string_view limit) {
  impl_->limit_rejections.Add({{"limit", std::string(limit)}}).Increment();
}

void Metrics::cache_hit(std::string_view model) {
  impl_->cache_hits.Add({{"model", std::string(model)}}).Increment();
}

void Metrics::redis_up(bool up) { impl_->redis_up.Add({}).Set(up ? 1 : 0); }

void Metrics::stream_started() { impl_->active_streams.Increment(); }
void Metrics::stream_ended() { impl_->active_streams.Decrement(); }

std::string Metrics::expose() const {
  std::vector<prom::MetricFamily> families = impl_->registry->Collect();
  append_process_metrics(families, impl_->start_time);
  return prom::TextSerializer().Serialize(families);
}

}  // namespace aas::metrics
