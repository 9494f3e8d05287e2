// vmmd's seccomp filters (libseccomp), one per confinement:
//
//   process  every thread, installed by main before any thread exists (all inherit it): a deny
//            list of what vmmd never does and an attacker would want — running programs,
//            forking, ptrace and process_vm_*, mounts and namespaces, kernel modules, kexec,
//            bpf, perf, keyrings, userfaultfd, reboot, clock and swap changes, raw I/O ports.
//   vCPU     each vCPU thread (ThreadRole::kVcpu, core/common/thread_sandbox.h), on top: an
//            allow list of what running a guest takes — KVM_RUN and the other KVM ioctls a vCPU
//            thread makes (registers, MP state, vCPU init for CPU_ON, IRQ lines, the flash
//            memslot), futexes, time, memory for the allocator, thread creation for CPU_ON
//            (CLONE_THREAD only), the console log (write, and openat/renameat for rotation),
//            signals for the kick. Everything else: the violation action.
//
//   controller  each VM's controller thread (ThreadRole::kController), on top: no socket at
//            all (socket, connect, bind, listen, accept, send/recv, socket options). It builds
//            machines — files, KVM, guest RAM, threads — so it keeps the rest.
//
// API (gRPC) and HTTP threads run under the process filter only: they serve the network, open
// image files and build VMs — an allow list for them would be most of the system calls.
//
// The violation action (--seccomp): kEnforce kills the whole process with SIGSYS (the kernel
// logs the system call; a supervisor restarts vmmd and its VMs come back from their records,
// docs/security.md "Least privilege"); kLog lets the call through and the kernel logs it
// (audit type 1326, to find what a filter misses); kOff installs nothing.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/common/thread_sandbox.h"

namespace vmmd::sandbox {

enum class SeccompMode { kOff, kLog, kEnforce };

absl::StatusOr<SeccompMode> ParseSeccompMode(std::string_view text);  // "enforce", "log", "off"
std::string_view SeccompModeName(SeccompMode mode);

// Installs the process filter on every thread of the process (TSYNC) and registers the vCPU
// filter as the thread sandbox (SetThreadSandbox). Call once, early in main. kOff: nothing.
// FAILED_PRECONDITION when the kernel refuses (no seccomp filter support).
absl::Status ConfineProcess(SeccompMode mode);

// The filters alone, for the calling thread only (tests; ConfineProcess uses them).
absl::Status InstallProcessFilter(SeccompMode mode, bool all_threads);
absl::Status InstallThreadFilter(ThreadRole role, SeccompMode mode);

}  // namespace vmmd::sandbox
