// Everything that exists only while a VM runs: guest RAM, the KVM VM and its vCPUs, the vGIC,
// the devices on the bus and the vCPU manager. Built by Machine::Build — the composition root,
// the only place that knows the concrete device set and the memory map — and torn down by
// destruction (vCPU threads first, guest RAM last).
#pragma once

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "core/bus/bus.h"
#include "core/hypervisor/hypervisor.h"
#include "core/memory/guest_memory.h"
#include "core/vcpu/vcpu_manager.h"
#include "core/vm/vm_types.h"

namespace vmmd::core {

class Machine {
 public:
  // Creates the KVM VM with all max_vcpus vCPUs, the vGIC, the SMCCC filter and the devices,
  // and loads the guest. Nothing runs yet. `sink` receives guest events; it outlives the machine.
  static absl::StatusOr<std::unique_ptr<Machine>> Build(const VmSpec& spec, Hypervisor* hypervisor,
                                                        VcpuEventSink* sink);
  ~Machine();
  Machine(const Machine&) = delete;
  Machine& operator=(const Machine&) = delete;

  // Powers on the boot vCPU.
  absl::Status Start();
  // Stops every vCPU thread (idempotent).
  void Stop();

  std::vector<VcpuInfo> Snapshot() const { return vcpus_->Snapshot(); }
  uint32_t OnlineCount() const { return vcpus_->OnlineCount(); }
  uint64_t UnmappedMmio() const { return bus_.unmapped_accesses(); }

 private:
  struct Devices;
  Machine();

  // Declaration order is teardown order reversed: the vCPUs go first, guest RAM last.
  std::unique_ptr<GuestMemory> memory_;
  std::unique_ptr<VmHandle> vm_;
  std::unique_ptr<VgicHandle> vgic_;
  std::unique_ptr<Devices> devices_;
  Bus bus_;
  std::unique_ptr<VcpuManager> vcpus_;
  uint64_t entry_ = 0;
  uint64_t entry_x0_ = 0;
};

}  // namespace vmmd::core
