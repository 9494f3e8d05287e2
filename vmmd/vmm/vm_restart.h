// What vmmd does when a guest resets (PSCI SYSTEM_RESET): the machine is rebuilt, at once for
// an occasional reboot, after an exponential back-off for a guest that resets again and again,
// and not at all past a cap — a crash-looping guest costs the host a bounded amount of work.
//
// With the defaults: the resets of the last 5 minutes are counted, this one included. The first
// restarts at once; the 2nd waits 0.5 s, the 3rd 1 s, then 2, 4, 8, 16 s, and 30 s from the
// 8th on. The 11th reset within 5 minutes stops the VM: FAILED with the reason "guest reset 11
// times within 5m; stopped". (Restarting immediately, a guest that resets at once reaches the
// 11th reset after about 2 minutes of back-off.) StopVm during a back-off cancels the restart;
// StartVm starts the VM at once.
#pragma once

#include <cstdint>
#include <deque>
#include <string>

#include "absl/time/time.h"

namespace vmmd::vmm {

struct RestartPolicy {
  absl::Duration window = absl::Minutes(5);                // resets counted over this long
  uint32_t max_resets = 10;                                // more than this within `window`: FAILED
  absl::Duration first_backoff = absl::Milliseconds(500);  // the 2nd reset; doubles after
  absl::Duration max_backoff = absl::Seconds(30);
};

struct RestartDecision {
  bool restart = true;   // false: the VM goes FAILED with `reason`
  absl::Duration delay;  // how long to wait before rebuilding
  uint32_t resets = 0;   // resets within the window, this one included
  std::string reason;    // the VM's state reason
};

// Records a reset at `now` in `resets` (times of earlier resets; those older than the window
// are dropped) and decides what follows it.
RestartDecision DecideRestart(const RestartPolicy& policy, absl::Time now,
                              std::deque<absl::Time>* resets);

}  // namespace vmmd::vmm
