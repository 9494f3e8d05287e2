// A histogram of durations with fixed upper bounds, in the shape Prometheus exposes: a count per
// bucket (non-cumulative here; the exporter accumulates), a sum and a count. A plain value: its
// owner locks it.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/time/time.h"

namespace vmmd {

class DurationHistogram {
 public:
  // `bounds_seconds`: increasing upper bounds; one more bucket catches everything above.
  explicit DurationHistogram(std::vector<double> bounds_seconds)
      : bounds_(std::move(bounds_seconds)), counts_(bounds_.size() + 1, 0) {}

  void Observe(absl::Duration d) {
    const double s = absl::ToDoubleSeconds(d);
    size_t i = 0;
    while (i < bounds_.size() && s > bounds_[i]) ++i;
    ++counts_[i];
    sum_seconds_ += s;
    ++count_;
  }
  // Adds `other`'s observations (same bounds).
  void Merge(const DurationHistogram& other) {
    for (size_t i = 0; i < counts_.size() && i < other.counts_.size(); ++i) {
      counts_[i] += other.counts_[i];
    }
    sum_seconds_ += other.sum_seconds_;
    count_ += other.count_;
  }

  const std::vector<double>& bounds() const { return bounds_; }
  // counts()[i]: observations in (bounds[i-1], bounds[i]]; the last one: above every bound.
  const std::vector<uint64_t>& counts() const { return counts_; }
  double sum_seconds() const { return sum_seconds_; }
  uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;
  double sum_seconds_ = 0;
  uint64_t count_ = 0;
};

// 1 ms to 30 s: vCPU hotplug phases and API calls.
inline std::vector<double> LatencyBoundsSeconds() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}

}  // namespace vmmd
