// An eventfd (a 64-bit counter the kernel can signal and wait on), owned. vmmd uses them where
// the kernel and a thread hand each other work without a call: KVM signals one when a guest
// notifies a virtqueue (KVM_IOEVENTFD) and raises an interrupt when one is signalled
// (KVM_IRQFD); an event loop wakes on them.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "core/common/scoped_fd.h"

namespace vmmd {

class EventFd {
 public:
  // Non-blocking, close-on-exec.
  static absl::StatusOr<EventFd> Create();

  int fd() const { return fd_.get(); }
  // Adds 1 (wakes a waiter). Never blocks: a counter already at its maximum stays signalled.
  void Signal() const;
  // Takes the count (0 when none was pending); never blocks.
  uint64_t Drain() const;

 private:
  explicit EventFd(ScopedFd fd) : fd_(std::move(fd)) {}
  ScopedFd fd_;
};

}  // namespace vmmd
