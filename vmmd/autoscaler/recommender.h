// The decision logic of vmm-autoscaler, pure (no I/O, time passed in) so it is unit-tested with
// synthetic load and a fake clock. One Recommender per VM.
//
// From two samples of a VM's vCPU counters, Measure gives the load of the interval: busy vCPUs
// (busy seconds per second), utilisation (busy / online) and steal (delay / online). Decide turns
// the load into a vCPU count the way the Kubernetes HorizontalPodAutoscaler turns CPU into
// replicas:
//   raw      = ceil(busy / target_utilization), or the current count when utilisation / target
//              is within 1 +- tolerance; clamped to [min_vcpus, max_vcpus];
//              held at the current count when it asks for more while steal > max_steal (the
//              host has no CPU to give: more vCPUs would only wait longer);
//   up       = the lowest raw of the scale-up window, down = the highest raw of the scale-down
//              window; scale up to `up` if it exceeds the current count, else down to `down`
//              if it is below;
//   step     = at most scale_up_max_step vCPUs added (scale_down_max_step removed) within any
//              step_period, counting the scales already made.
#pragma once

#include <cstdint>
#include <deque>
#include <string>

#include "absl/time/time.h"

namespace vmmd::autoscaler {

// A VM's policy as vmmd reports it (Vm.autoscale: every value filled in).
struct Policy {
  uint32_t min_vcpus = 1;
  uint32_t max_vcpus = 1;
  double target_utilization = 0.7;
  double tolerance = 0.1;
  absl::Duration scale_up_stabilization = absl::ZeroDuration();
  absl::Duration scale_down_stabilization = absl::Seconds(300);
  uint32_t scale_up_max_step = 4;
  uint32_t scale_down_max_step = 1;
  absl::Duration step_period = absl::Seconds(15);
};

// One VM's vCPU counters at one moment (summed over every vCPU: counters of vCPUs that went
// offline keep their value).
struct Sample {
  absl::Time time;
  uint32_t online = 0;  // vCPUs ONLINE
  uint64_t busy_ns = 0;
  uint64_t delay_ns = 0;
  // The latest vCPU state change of the VM (InfinitePast: none since it started).
  absl::Time last_transition = absl::InfinitePast();
};

struct Load {
  bool valid = false;
  std::string skip_reason;  // when not valid: why the interval cannot be used
  double busy = 0;          // busy vCPUs: busy seconds per second
  double utilization = 0;   // busy / online, 0..1
  double steal = 0;         // delay seconds per second per online vCPU, 0..1
};

// The load between two samples of the same VM; not valid when the interval straddles a resize
// (the online count or any vCPU state changed), the counters went backwards (the VM restarted
// or was recreated) or no time passed.
Load Measure(const Sample& previous, const Sample& current);

enum class Direction { kNone, kUp, kDown };
const char* DirectionName(Direction d);  // "none", "up", "down"

struct Decision {
  uint32_t raw = 0;          // this sample's recommendation before windows and steps
  uint32_t recommended = 0;  // what the VM should have now
  Direction direction = Direction::kNone;
  std::string reason;  // one line for people: why `recommended` is what it is
};

class Recommender {
 public:
  // `max_steal`: above this steal fraction no scale-up is recommended.
  explicit Recommender(double max_steal) : max_steal_(max_steal) {}

  // The recommendation for a VM with `current` vCPUs online under `policy`, given the load of
  // the interval that ended at `now`. Remembers the raw value for the windows.
  Decision Decide(const Policy& policy, uint32_t current, const Load& load, absl::Time now);
  // A scale from `from` to `to` vCPUs was made (requested) at `now`: counts for the step limits.
  void RecordScale(absl::Time now, uint32_t from, uint32_t to);
  // Forgets the windows and steps (the policy changed or the VM restarted).
  void Reset();

 private:
  struct Raw {
    absl::Time time;
    uint32_t vcpus;
  };
  struct Scale {
    absl::Time time;
    int32_t delta;
  };
  const double max_steal_;
  std::deque<Raw> raws_;
  std::deque<Scale> scales_;
};

}  // namespace vmmd::autoscaler
