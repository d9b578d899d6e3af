#pragma once
// Counts a streamed response in ai_active_streams for as long as it runs.
#include "metrics/metrics.hpp"

namespace aas::api {

class StreamGauge {
 public:
  explicit StreamGauge(metrics::Metrics& m) : m_(m) { m_.stream_started(); }
  ~StreamGauge() { m_.stream_ended(); }
  StreamGauge(const StreamGauge&) = delete;
  StreamGauge& operator=(const StreamGauge&) = delete;

 private:
  metrics::Metrics& m_;
};

}  // namespace aas::api
