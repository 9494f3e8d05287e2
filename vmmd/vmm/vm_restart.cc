#include "vmmd/vmm/vm_restart.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace vmmd::vmm {

RestartDecision DecideRestart(const RestartPolicy& policy, absl::Time now,
                              std::deque<absl::Time>* resets) {
  while (!resets->empty() && now - resets->front() >= policy.window) resets->pop_front();
  resets->push_back(now);
  RestartDecision d;
  d.resets = static_cast<uint32_t>(resets->size());
  if (d.resets > policy.max_resets) {
    d.restart = false;
    d.reason = absl::StrFormat("guest reset %u times within %s; stopped", d.resets,
                               absl::FormatDuration(policy.window));
    return d;
  }
  if (d.resets >= 2) {
    d.delay = policy.first_backoff;
    for (uint32_t i = 2; i < d.resets && d.delay < policy.max_backoff; ++i) d.delay *= 2;
    d.delay = std::min(d.delay, policy.max_backoff);
  }
  d.reason =
      d.delay == absl::ZeroDuration()
          ? "guest reset"
          : absl::StrFormat("guest reset %u times within %s; restarting in %s", d.resets,
                            absl::FormatDuration(policy.window), absl::FormatDuration(d.delay));
  return d;
}

}  // namespace vmmd::vmm
