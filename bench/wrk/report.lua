-- Shared by the scenario scripts (loaded with dofile): when the run ends, print one line
--   BENCH_JSON {...}
-- with throughput, exact latency percentiles (wrk keeps them in microseconds) and error counts,
-- which bench/run.sh picks out of wrk's output. non2xx counts answers outside 200..399.
function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"durationS":%.3f,"rps":%.1f,' ..
    '"p50Ms":%.3f,"p90Ms":%.3f,"p99Ms":%.3f,"p999Ms":%.3f,"maxMs":%.3f,"meanMs":%.3f,' ..
    '"errConnect":%d,"errRead":%d,"errWrite":%d,"errTimeout":%d,"non2xx":%d}\n',
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
    latency.max / 1000, latency.mean / 1000,
    e.connect, e.read, e.write, e.timeout, e.status))
end
