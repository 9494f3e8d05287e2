// Per-thread confinement, as a seam: the daemon decides how a thread of a given role is confined
// (vmmd/sandbox: a seccomp filter) and registers that once; the code that runs such a thread
// calls EnterThreadSandbox at the point where it has done everything the confinement would
// forbid (opened what it needs) and before it runs anything a guest drives. Without a
// registered sandbox (tests, tools) entering is a no-op.
//
// A confinement is inherited by every thread the confined thread creates (seccomp filters are),
// so a thread created by a thread already in the role does not enter it again (StartThread
// carries the role over).
#pragma once

#include "absl/status/status.h"

namespace vmmd {

enum class ThreadRole {
  kNone,        // not confined beyond what the whole process is
  kVcpu,        // runs a vCPU: KVM_RUN and the device models the guest drives
  kController,  // a VM's controller: guest power events, rebuilding the machine after a reset
  kIo,          // a VM's I/O thread: virtqueues, the disk and network files behind them
};

// The confinement of `role` for the calling thread; an error leaves the thread unconfined and
// it must not go on to do that role's work.
using ThreadSandbox = absl::Status (*)(ThreadRole role);

// Registers the sandbox (once, before any thread of a confined role starts); nullptr removes it.
void SetThreadSandbox(ThreadSandbox sandbox);

// Confines the calling thread to `role`, unless it already is (see above) or no sandbox is
// registered. Not reversible.
absl::Status EnterThreadSandbox(ThreadRole role);

// The role the calling thread is confined to (kNone if none).
ThreadRole CurrentThreadRole();

namespace internal {
// For StartThread: the new thread starts in its creator's role.
void AdoptThreadRole(ThreadRole role);
}  // namespace internal

}  // namespace vmmd
