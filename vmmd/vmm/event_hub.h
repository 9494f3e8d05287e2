// Fan-out of VM and vCPU lifecycle events to WatchEvents subscribers. Publish never blocks
// (it is called with the vCPU manager's lock held): each subscriber has a bounded queue, and a
// subscriber that falls behind loses its oldest events (counted, reported to it).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/vcpu/vcpu_state.h"
#include "vmmd/vmm/vm_types.h"

namespace vmmd::vmm {

struct WatchEvent {
  // kEmpty: a snapshot of nothing (no VM exists); only `time` and `snapshot` are set.
  enum class Kind { kVmState, kVcpuState, kAutoscalePolicy, kEmpty };
  uint64_t sequence = 0;  // increasing across all events of the hub; 0 in a snapshot
  absl::Time time;
  std::string vm;
  Kind kind = Kind::kVmState;
  VmState vm_state = VmState::kCreated;  // kVmState
  uint32_t vcpu = 0;                     // kVcpuState
  core::VcpuState from = core::VcpuState::kParked;  // kVcpuState
  core::VcpuState to = core::VcpuState::kParked;    // kVcpuState
  AutoscalePolicy autoscale;                        // kAutoscalePolicy: the new policy (effective)
  std::string detail;                    // reason / cause
  bool snapshot = false;                 // part of a stream's opening snapshot (EventStream)
  uint64_t dropped_before = 0;           // events the reader lost just before this one
};

class EventHub {
 public:
  class Subscription {
   public:
    ~Subscription();
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;
    // The next event, or nullopt at `deadline` (or when the hub shuts down).
    std::optional<WatchEvent> Next(absl::Time deadline);
    // Events lost because this subscriber fell behind.
    uint64_t dropped() const;
    // True once the hub shut down (no more events will come).
    bool closed() const;

   private:
    friend class EventHub;
    Subscription(EventHub* hub, std::string vm, size_t capacity)
        : hub_(hub), vm_(std::move(vm)), capacity_(capacity) {}
    EventHub* const hub_;
    const std::string vm_;  // "" = every VM
    const size_t capacity_;
    mutable absl::Mutex mu_;
    std::deque<WatchEvent> queue_ ABSL_GUARDED_BY(mu_);
    uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
    bool closed_ ABSL_GUARDED_BY(mu_) = false;
  };

  EventHub() = default;
  ~EventHub();
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  // Events of VM `vm` ("" for all) from now on. The hub must outlive the subscription.
  std::unique_ptr<Subscription> Subscribe(std::string vm, size_t capacity = 4096);
  void Publish(WatchEvent event);
  // Wakes every subscriber; later Next() calls return nullopt at once.
  void Shutdown();

 private:
  void Unsubscribe(Subscription* s);
  absl::Mutex mu_ ABSL_ACQUIRED_BEFORE(Subscription::mu_);
  std::vector<Subscription*> subscribers_ ABSL_GUARDED_BY(mu_);
  uint64_t sequence_ ABSL_GUARDED_BY(mu_) = 0;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace vmmd::vmm
