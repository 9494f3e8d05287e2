// What a VM's owner can see of one vCPU: a snapshot taken by VcpuManager::Snapshot.
#pragma once

#include <cstdint>

#include "absl/time/time.h"
#include "core/vcpu/vcpu_state.h"

namespace vmmd::core {

enum class PsciPower { kOff, kOn };

struct VcpuInfo {
  uint32_t id = 0;
  uint64_t mpidr = 0;  // as KVM reports it (MPIDR_EL1)
  VcpuState state = VcpuState::kParked;
  bool boot = false;
  bool acpi_enabled = false;  // _STA Enabled
  PsciPower power = PsciPower::kOff;
  int64_t thread_id = 0;  // Linux TID of the vCPU thread, 0 if none (parked/off)
  uint64_t exits = 0;
  uint64_t mmio_exits = 0;
  uint64_t hypercall_exits = 0;
  // CPU time of the vCPU's threads (see VcpuManager::Snapshot): on a host CPU (guest code and
  // vmmd's handling of its exits), and runnable but waiting for a host CPU (the guest's steal).
  uint64_t busy_ns = 0;
  uint64_t delay_ns = 0;
  absl::Time last_transition = absl::InfinitePast();
};

}  // namespace vmmd::core
