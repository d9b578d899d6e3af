#pragma once
// The API keys of one deployment, used in turn. A key the upstream refused (401) or rate limited
// (429) rests for a while and is skipped as long as another key is available, so one revoked or
// exhausted key does not fail every other call. Thread-safe.
#include "core/clock.hpp"
#include "core/error.hpp"

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace aas::llm {

class KeyPool {
 public:
  struct Policy {
    std::chrono::seconds rate_limited_rest{30};   // after a 429 that named no Retry-After
    std::chrono::seconds unauthorized_rest{600};  // after a 401: revoked keys rarely come back soon
    std::chrono::seconds max_rest{3600};          // caps what a Retry-After can ask for
  };

  struct Lease {
    std::size_t index = 0;  // what to report the outcome against
    std::string key;
  };

  KeyPool(std::vector<std::string> keys, const Clock& clock, Policy policy);
  KeyPool(std::vector<std::string> keys, const Clock& clock)
      : KeyPool(std::move(keys), clock, Policy{}) {}

  std::size_t size() const { return keys_.size(); }
  // The next key in turn that is not resting. When every key rests, the one whose rest ends
  // first: a call that may fail beats refusing locally on a guess. nullopt only without keys.
  std::optional<Lease> acquire();

  // How a call with the key went: a success ends any rest; an upstream 401 or 429 starts one
  // (429: the error's retry_after_seconds, else rate_limited_rest). Other errors are not the
  // key's fault and change nothing. Returns the rest started, if any (for the log).
  void report_success(std::size_t index);
  std::optional<std::chrono::seconds> report_failure(std::size_t index, const Error& e);
  void rest(std::size_t index, std::chrono::seconds duration);

  // Keys not resting now (for metrics and tests).
  std::size_t available() const;

 private:
  const std::vector<std::string> keys_;
  const Clock& clock_;
  const Policy policy_;
  mutable std::mutex mutex_;
  std::vector<TimePoint> rest_until_;  // per key; in the past when the key is usable
  std::size_t next_ = 0;
};

}  // namespace aas::llm
