// What the API served, for the metrics: calls by method and result code, how long each unary
// call took, the WatchEvents streams open now and the events their slow readers lost.
// Thread-safe; a call records itself once, when it ends.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/common/duration_histogram.h"

namespace vmmd::api {

class ApiStats {
 public:
  struct Snapshot {
    // (method, code) -> calls; code as lower-case gRPC name ("ok", "not_found", ...).
    std::map<std::pair<std::string, std::string>, uint64_t> calls;
    std::map<std::string, DurationHistogram> latency;  // unary methods
    int64_t open_streams = 0;
    uint64_t dropped_events = 0;
  };

  // Makes `method`'s series exist before its first call (0 calls with code "ok", and an empty
  // latency histogram when `unary`): a rate() over them works from the first scrape.
  void Declare(absl::string_view method, bool unary);
  // A finished call of `method` with `status`; `latency` is how long a unary call took
  // (absl::InfiniteDuration() for a stream: counted, not timed).
  void Record(absl::string_view method, const absl::Status& status, absl::Duration latency);
  void StreamOpened();
  void StreamClosed();
  void EventsDropped(uint64_t n);

  Snapshot Get() const;

 private:
  mutable absl::Mutex mu_;
  Snapshot s_ ABSL_GUARDED_BY(mu_);
};

// "ok", "invalid_argument", ... (the canonical code's name, lower case).
std::string CodeLabel(absl::StatusCode code);

}  // namespace vmmd::api
