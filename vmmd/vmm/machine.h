// Everything that exists only while a VM runs: guest RAM, the KVM VM and its vCPUs, the vGIC,
// the device table (board.h, device_table.h) and the vCPU manager. Built by Machine::Build — the
// composition root, the only place that knows the concrete device set — and torn down by
// destruction (vCPU threads first, guest RAM last).
//
// Three boot paths share everything up to the devices:
//   device tree (machine_direct_boot.cc): Image + initrd + FDT, vCPU 0 enters the kernel;
//   firmware (machine_firmware_boot.cc): stock edk2 in flash0, the kernel, initrd, command line
//     and vmmd's ACPI tables through fw_cfg; vCPU 0 starts at the reset vector;
//   ACPI direct (machine_acpi_boot.cc): Image + initrd and vmmd's ACPI tables handed over as an
//     EFI stub would, vCPU 0 enters the kernel.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/arch/aarch64/kernel_loader.h"
#include "core/bus/bus.h"
#include "core/common/event_loop.h"
#include "core/hypervisor/hypervisor.h"
#include "core/memory/guest_memory.h"
#include "core/vcpu/vcpu_manager.h"
#include "vmmd/vmm/device_table.h"
#include "vmmd/vmm/platform.h"
#include "vmmd/vmm/vm_spec_validation.h"
#include "vmmd/vmm/vm_types.h"

namespace vmmd::hw {
class CfiFlash;
class FlashImageCache;
class ConsoleLog;
class Ged;
class Pl011;
namespace virtio {
class VirtioBlock;
class VirtioDevice;
class VirtioMmio;
class VirtioNet;
}  // namespace virtio
}  // namespace vmmd::hw

namespace vmmd::vmm {

struct MachineOptions {
  // The UEFI variable store of a firmware-booted VM (created on first use). Empty: a volatile
  // store, formatted by the firmware on every boot.
  std::string vars_path;
  // The directory of the guest's console log (hw::ConsoleLog::Open: console.log, rotated to
  // console.log.1). Empty: the console output is dropped.
  std::string console_dir;
  // vCPUs available to the guest from the start: the boot vCPUs and, above them, those the VM
  // was scaled to before (core::VcpuSetup::plugged). At most max_vcpus; below boot_vcpus (0)
  // means boot_vcpus. Only a firmware-booted VM can have more than its boot vCPUs.
  uint32_t plugged_vcpus = 0;
  // Where a firmware-booted VM gets its flash0 image, shared with the other VMs that boot the
  // same file (not owned; outlives the machine). Null: a private copy.
  hw::FlashImageCache* firmware_images = nullptr;
};

class Machine {
 public:
  // Creates the KVM VM with all max_vcpus vCPUs, the vGIC, the SMCCC filter and the devices,
  // and loads the guest from `files` (the spec's files, already open: nothing is opened by
  // name). Nothing runs yet. `sink` receives guest events (the machine keeps it alive).
  static absl::StatusOr<std::unique_ptr<Machine>> Build(const VmSpec& spec, VmSpecFiles files,
                                                        core::Hypervisor* hypervisor,
                                                        std::shared_ptr<core::VcpuEventSink> sink,
                                                        const MachineOptions& options = {});
  ~Machine();
  Machine(const Machine&) = delete;
  Machine& operator=(const Machine&) = delete;

  // Powers on the boot vCPU.
  absl::Status Start();
  // Stops every vCPU thread and flushes persistent device state (idempotent).
  void Stop();

  // Declarative vCPU resize (see VcpuManager::Scale); raises the GED so the guest rescans.
  // FAILED_PRECONDITION for a device-tree VM (a device tree cannot describe CPUs that come
  // later) unless the target is the current count.
  absl::StatusOr<core::ScalePlan> Scale(uint32_t target);
  absl::Status AwaitScale(uint64_t generation, core::ScaleWait wait, absl::Time deadline,
                          core::ScaleOutcome* outcome = nullptr) {
    return vcpus_->AwaitScale(generation, wait, deadline, outcome);
  }
  uint32_t PluggedCount() const { return vcpus_->PluggedCount(); }
  // Whether the guest has an ACPI power button (UEFI or ACPI direct; a device tree has none).
  bool HasPowerButton() const { return ged_ != nullptr; }
  // Presses the ACPI power button: raises the GED's power-button event, which the guest's _EVT
  // turns into Notify (\_SB.PWRB, 0x80). FAILED_PRECONDITION without one (HasPowerButton).
  absl::Status PressPowerButton();

  std::vector<core::VcpuInfo> Snapshot() const { return vcpus_->Snapshot(); }
  uint32_t OnlineCount() const { return vcpus_->OnlineCount(); }
  uint64_t UnmappedMmio() const { return bus_.unmapped_accesses(); }
  core::VcpuStats VcpuStats() const { return vcpus_->Stats(); }
  // The I/O counters of each spec disk, in spec order.
  std::vector<DiskStats> DiskCounters() const;
  // The traffic counters of each spec NIC, in spec order.
  std::vector<NicStats> NicCounters() const;

 private:
  Machine();

  // The devices every VM has (PL011, PL031); then the boot path's own.
  absl::Status AddCommonDevices(const MachineOptions& options);
  // The spec's disks on the first virtio rows, then its NICs, then the entropy device; all
  // served by the VM's I/O thread (machine_virtio.cc).
  absl::Status AddVirtioDevices(const VmSpec& spec, VmSpecFiles& files);
  // `device` behind the transport on virtio row `slot`, its notifications and backend
  // descriptors on the I/O thread; returns the transport.
  absl::StatusOr<const hw::virtio::VirtioMmio*> AddVirtio(
      size_t slot, std::unique_ptr<hw::virtio::VirtioDevice> device);
  // Both boots without firmware: the Image and initrd into RAM (INVALID_ARGUMENT without a
  // kernel); the layout says where the boot block for the DTB (and tables) is.
  absl::StatusOr<core::aarch64::DirectBootLayout> LoadKernel(const VmSpec& spec,
                                                             VmSpecFiles& files);
  absl::Status LoadDirectBoot(const VmSpec& spec, VmSpecFiles& files);
  absl::Status LoadAcpiDirectBoot(const VmSpec& spec, VmSpecFiles& files);
  absl::Status LoadFirmwareBoot(const VmSpec& spec, VmSpecFiles& files,
                                const MachineOptions& options);
  core::aarch64::BoardFdtConfig FdtConfig() const;

  // Declaration order is teardown order reversed: the vCPUs go first, guest RAM last.
  std::unique_ptr<core::GuestMemory> memory_;
  std::unique_ptr<core::VmHandle> vm_;
  std::unique_ptr<core::VgicHandle> vgic_;
  MachineShape shape_;
  std::unique_ptr<hw::ConsoleLog> console_;  // outlives the PL011 that writes to it
  std::unique_ptr<DeviceTable> devices_;
  std::shared_ptr<hw::Pl011> uart_;
  std::shared_ptr<hw::Ged> ged_;  // ACPI boots: raises the CPU-hotplug and power-button events
  std::shared_ptr<hw::CfiFlash> flash1_;  // firmware boot: the variable store, flushed at stop
  std::shared_ptr<core::VcpuEventSink> sink_;
  // Each spec disk and NIC with its transport (both owned by devices_), in spec order.
  template <typename Device>
  struct VirtioSite {
    Device* device;
    const hw::virtio::VirtioMmio* transport;
  };
  std::vector<VirtioSite<hw::virtio::VirtioBlock>> disks_;
  std::vector<VirtioSite<hw::virtio::VirtioNet>> nics_;
  // The I/O thread, when the VM has virtio devices: its handlers use the transports, so it is
  // declared after (and stopped and destroyed before) them.
  std::unique_ptr<EventLoop> io_;
  std::string name_;
  core::Bus bus_;
  std::unique_ptr<core::VcpuManager> vcpus_;
  uint64_t entry_ = 0;
  uint64_t entry_x0_ = 0;
};

}  // namespace vmmd::vmm
