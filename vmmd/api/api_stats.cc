#include "vmmd/api/api_stats.h"

#include "absl/strings/ascii.h"

namespace vmmd::api {

std::string CodeLabel(absl::StatusCode code) {
  return absl::AsciiStrToLower(absl::StatusCodeToString(code));
}

void ApiStats::Declare(absl::string_view method, bool unary) {
  absl::MutexLock lock(&mu_);
  s_.calls.try_emplace({std::string(method), CodeLabel(absl::StatusCode::kOk)}, 0);
  if (unary) {
    s_.latency.try_emplace(std::string(method), DurationHistogram(LatencyBoundsSeconds()));
  }
}

void ApiStats::Record(absl::string_view method, const absl::Status& status,
                      absl::Duration latency) {
  absl::MutexLock lock(&mu_);
  ++s_.calls[{std::string(method), CodeLabel(status.code())}];
  if (latency == absl::InfiniteDuration()) return;
  auto it = s_.latency.find(std::string(method));
  if (it == s_.latency.end()) {
    it = s_.latency.emplace(std::string(method), DurationHistogram(LatencyBoundsSeconds())).first;
  }
  it->second.Observe(latency);
}

void ApiStats::StreamOpened() {
  absl::MutexLock lock(&mu_);
  ++s_.open_streams;
}

void ApiStats::StreamClosed() {
  absl::MutexLock lock(&mu_);
  --s_.open_streams;
}

void ApiStats::EventsDropped(uint64_t n) {
  absl::MutexLock lock(&mu_);
  s_.dropped_events += n;
}

ApiStats::Snapshot ApiStats::Get() const {
  absl::MutexLock lock(&mu_);
  return s_;
}

}  // namespace vmmd::api
