#include "vmmd/vmm/event_stream.h"

#include <utility>

namespace vmmd::vmm {

EventStream::EventStream(std::unique_ptr<EventHub::Subscription> live,
                         const std::vector<VmInfo>& now)
    : live_(std::move(live)) {
  const absl::Time time = absl::Now();
  if (now.empty()) {
    WatchEvent e;
    e.time = time;
    e.kind = WatchEvent::Kind::kEmpty;
    e.snapshot = true;
    snapshot_.push_back(std::move(e));
  }
  for (const VmInfo& info : now) {
    WatchEvent e;
    e.time = time;
    e.vm = info.spec.name;
    e.kind = WatchEvent::Kind::kVmState;
    e.vm_state = info.state;
    e.detail = info.state_reason;
    e.snapshot = true;
    snapshot_.push_back(std::move(e));
  }
}

std::optional<WatchEvent> EventStream::Next(absl::Time deadline) {
  if (!snapshot_.empty()) {
    WatchEvent e = std::move(snapshot_.front());
    snapshot_.pop_front();
    return e;
  }
  std::optional<WatchEvent> e = live_->Next(deadline);
  if (e.has_value()) {
    const uint64_t lost = live_->dropped();
    e->dropped_before = lost - dropped_seen_;
    dropped_seen_ = lost;
  }
  return e;
}

bool EventStream::closed() const { return snapshot_.empty() && live_->closed(); }

}  // namespace vmmd::vmm
