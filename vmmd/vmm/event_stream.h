// One WatchEvents stream (VmManager::Watch): first a snapshot — the state of every watched VM,
// or a single empty snapshot event when there is none — then every change from the moment the
// stream began, each carrying how many events this reader lost before it for reading too slowly.
// The subscription is taken before the snapshot is read, so no change falls between the two
// (one may show in both).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "absl/time/time.h"
#include "vmmd/vmm/event_hub.h"
#include "vmmd/vmm/vm_types.h"

namespace vmmd::vmm {

class EventStream {
 public:
  // `now`: the watched VMs as read after `live` was subscribed.
  EventStream(std::unique_ptr<EventHub::Subscription> live, const std::vector<VmInfo>& now);
  EventStream(const EventStream&) = delete;
  EventStream& operator=(const EventStream&) = delete;

  // The next event: the snapshot's first, then live ones. nullopt at `deadline`, or at once when
  // the hub has shut down and nothing is left (closed()).
  std::optional<WatchEvent> Next(absl::Time deadline);
  bool closed() const;

 private:
  std::deque<WatchEvent> snapshot_;
  const std::unique_ptr<EventHub::Subscription> live_;
  uint64_t dropped_seen_ = 0;
};

}  // namespace vmmd::vmm
