// The KVM ioctls a thread that runs a vCPU makes, for its seccomp filter (vmmd/sandbox): its own
// run loop (KVM_RUN, the signal mask), registers and MP state (PSCI results, CPU_ON of another
// vCPU: init, entry point, runnable), and what device models do from an MMIO exit on the VM fd
// (IRQ lines, the flash memslot). KvmVcpu and KvmVm make no other ioctl from a vCPU thread; a
// new one there must be added here, or the filter kills vmmd (e2e runs with it on).
// Header-only: it compiles on any architecture (the native build's tests use it too).
#pragma once

#include <linux/kvm.h>

#include <vector>

namespace vmmd::core {

inline std::vector<unsigned long> VcpuThreadIoctls() {
  std::vector<unsigned long> out = {KVM_RUN,         KVM_SET_SIGNAL_MASK,       KVM_GET_ONE_REG,
                                    KVM_SET_ONE_REG, KVM_GET_MP_STATE,          KVM_SET_MP_STATE,
                                    KVM_IRQ_LINE,    KVM_SET_USER_MEMORY_REGION};
#if defined(__aarch64__)
  out.push_back(KVM_ARM_VCPU_INIT);
#endif
  return out;
}

}  // namespace vmmd::core
